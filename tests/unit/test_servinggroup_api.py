"""The ServingGroup API: models, generated CRD (scale subresource, printer columns, CEL) and
``ccc validate`` on the ServingGroup manifests under tests/manifests/servinggroups/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ccc.api.crd import serving_group_crd, serving_group_schema
from ccc.api.manifest import Problem, load_file
from ccc.api.reference import SERVING_GROUP, render, rules_under, update
from ccc.api.servinggroup import ServingGroup, pod_selector
from ccc.api.servinggroup.manifest import InvalidServingGroup, parse_serving_group
from ccc.cli.main import app

REPO = Path(__file__).parents[2]
MANIFESTS = REPO / "tests" / "manifests" / "servinggroups"
VALID = sorted((MANIFESTS / "valid").glob("*.yaml"))
INVALID = sorted((MANIFESTS / "invalid").glob("*.yaml"))


def _header(path: Path, key: str) -> str | None:
    for line in path.read_text().splitlines():
        if line.startswith(f"# {key}:"):
            return line.split(":", 1)[1].strip()
    return None


def _problems(path: Path) -> list[Problem]:
    problems: list[Problem] = []
    for doc in load_file(path):
        try:
            parse_serving_group(doc.body)
        except InvalidServingGroup as exc:
            problems += exc.problems
    return problems


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_serving_group_manifest_has_no_problems(path: Path) -> None:
    assert _problems(path) == []


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_serving_group_manifest_is_reported_at_the_promised_field(path: Path) -> None:
    expected = _header(path, "expect-error")
    assert expected, f"{path.name} lacks an '# expect-error: <field.path>' header"
    problems = _problems(path)
    assert expected in [p.path for p in problems], problems
    for problem in problems:
        assert not problem.message[0].isupper(), problem


def test_every_serving_group_rule_is_exercised_by_an_invalid_manifest() -> None:
    exercised = {_header(path, "rule") for path in INVALID}
    declared = {rule.id for rules in rules_under(ServingGroup).values() for rule in rules}
    assert len(declared) >= 4
    assert declared - exercised == set()


def test_a_wrong_api_version_and_kind_are_reported_with_the_fix() -> None:
    body = yaml.safe_load((MANIFESTS / "valid" / "minimal.yaml").read_text())
    body["apiVersion"] = "ccc.dev/v1"
    body["kind"] = "Servinggroup"
    with pytest.raises(InvalidServingGroup) as caught:
        parse_serving_group(body)
    assert [p.path for p in caught.value.problems] == ["apiVersion", "kind"]
    assert "set apiVersion: ccc.dev/v1alpha1" in caught.value.problems[0].message


def test_defaults_of_rebalance_and_spare_capacity() -> None:
    [doc] = load_file(MANIFESTS / "valid" / "minimal.yaml")
    group = parse_serving_group(doc.body)
    assert (group.spec.obtain_timeout_s, group.spec.stabilization_s, group.spec.spare) == (
        600,
        300,
        0,
    )
    assert group.spec.preference == "Order"
    assert group.namespace == "default"
    assert group.spec.variants[0].min_replicas == 0
    assert group.spec.variants[0].max_replicas is None


def test_crd_is_namespaced_with_short_names_and_the_scale_subresource_hpa_needs() -> None:
    crd = serving_group_crd()
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "servinggroups.ccc.dev"
    assert (spec["group"], spec["scope"]) == ("ccc.dev", "Namespaced")
    assert spec["names"]["shortNames"] == ["sg", "sgs"]
    assert spec["names"]["categories"] == ["ccc"]
    [version] = spec["versions"]
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.capacity",
            "statusReplicasPath": ".status.capacity",
            "labelSelectorPath": ".status.selector",
        },
    }
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Capacity"] == ".spec.capacity"
    assert columns["Ready"] == ".status.readyCapacity"
    assert "CapacityMet" in columns


def test_scale_paths_point_at_an_integer_and_a_string() -> None:
    schema = serving_group_schema()["properties"]
    assert schema["spec"]["properties"]["capacity"]["type"] == "integer"
    assert schema["status"]["properties"]["capacity"]["type"] == "integer"
    assert schema["status"]["properties"]["selector"]["type"] == "string"


def test_serving_group_schema_is_structural_and_described() -> None:
    schema = serving_group_schema()
    text = json.dumps(schema)
    for forbidden in ('"$ref"', '"anyOf"', '"title"', '"const"'):
        assert forbidden not in text, forbidden
    for path, node in _nodes(schema):
        assert "type" in node, f"{path or '<root>'} has no type"
        if node.get("type") == "array":
            assert "maxItems" in node, path
        if path and path != ".metadata" and not path.endswith("[]"):
            assert node.get("description"), f"{path} has no description"


def test_capacity_per_replica_must_be_positive_in_openapi_v3_form() -> None:
    variant = serving_group_schema()["properties"]["spec"]["properties"]["variants"]["items"]
    per_replica = variant["properties"]["capacityPerReplica"]
    assert (per_replica["minimum"], per_replica["exclusiveMinimum"]) == (0, True)


def test_variants_are_a_list_map_keyed_by_name() -> None:
    spec = serving_group_schema()["properties"]["spec"]["properties"]
    assert spec["variants"]["x-kubernetes-list-type"] == "map"
    assert spec["variants"]["x-kubernetes-list-map-keys"] == ["name"]


def test_cel_rules_in_the_crd_are_exactly_the_declared_serving_group_rules() -> None:
    in_crd = [
        v
        for _, node in _nodes(serving_group_schema())
        for v in node.get("x-kubernetes-validations", [])
    ]
    declared = {r.message: r.cel for rules in rules_under(ServingGroup).values() for r in rules}
    assert {v["message"]: v["rule"] for v in in_crd} == declared


def test_the_serving_group_reference_is_generated_and_up_to_date() -> None:
    doc = REPO / SERVING_GROUP.doc
    text = doc.read_text()
    assert update(text, SERVING_GROUP) == text, (
        f"{SERVING_GROUP.doc} is stale; run: .venv/bin/python -m ccc.api.reference "
        f"{SERVING_GROUP.command}"
    )
    block = render(SERVING_GROUP)
    assert "### `spec.variants[]`" in block
    assert "| `capacityPerReplica` | number |  | **required**; > 0 |" in block
    assert "`variant-targets-unique`" in block


def test_pod_selector_keeps_deployment_pods_and_lws_leaders_only() -> None:
    assert pod_selector("llama") == "ccc.dev/serving-group=llama"
    assert pod_selector("llama", max_lws_size=4) == (
        "ccc.dev/serving-group=llama,leaderworkerset.sigs.k8s.io/worker-index notin (1,2,3)"
    )


def test_ccc_validate_reports_serving_group_problems_with_file_kind_name_and_path() -> None:
    result = CliRunner().invoke(
        app, ["validate", str(MANIFESTS / "invalid" / "min-above-max.yaml")]
    )
    assert result.exit_code == 1
    assert (
        f"{MANIFESTS / 'invalid' / 'min-above-max.yaml'}: ServingGroup/bad:"
        " spec.variants[0].minReplicas: minReplicas is above maxReplicas" in result.output
    )
    assert "1 of 1 ServingGroup(s) invalid" in result.output


def test_ccc_validate_accepts_a_directory_of_serving_groups() -> None:
    result = CliRunner().invoke(app, ["validate", str(MANIFESTS / "valid")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"OK: {len(VALID)} ServingGroups valid in {len(VALID)} files")
