"""The generated ComputeClass CRD has the shape the API server requires and users rely on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from ccc.api.computeclass import ComputeClass
from ccc.api.crd import all_crds, compute_class_crd, compute_class_schema
from ccc.api.reference import rules_under
from ccc.cli.main import app


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")


def _property_names(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, str]]:
    """(path, property name) of every named field; names may hold dots (sysctls)."""
    for name, sub in node.get("properties", {}).items():
        yield f"{path}.{name}", name
        yield from _property_names(sub, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _property_names(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        yield from _property_names(node["items"], f"{path}[]")


def test_crd_identity_scope_names_and_version() -> None:
    crd = compute_class_crd()
    spec = crd["spec"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "computeclasses.ccc.dev"
    assert spec["group"] == "ccc.dev"
    assert spec["scope"] == "Cluster"
    assert spec["names"]["kind"] == "ComputeClass"
    assert spec["names"]["plural"] == "computeclasses"
    assert spec["names"]["shortNames"] == ["cccc", "ccclass"]
    assert "cc" not in spec["names"]["shortNames"]  # GKE's CRD owns cc/ccs
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["WhenUnsatisfiable"] == ".spec.whenUnsatisfiable"
    assert columns["Age"] == ".metadata.creationTimestamp"
    assert "Ready" in columns


def test_schema_is_structural() -> None:
    schema = compute_class_schema()
    text = json.dumps(schema)
    for forbidden in (
        '"$ref"',
        '"anyOf"',
        '"oneOf"',
        '"allOf"',
        '"title"',
        '"const"',
        "uniqueItems",
    ):
        assert forbidden not in text, forbidden
    for path, node in _nodes(schema):
        typed = "type" in node
        opaque = node.get("x-kubernetes-preserve-unknown-fields") or node.get(
            "x-kubernetes-int-or-string"
        )
        assert typed or opaque, f"{path or '<root>'} has no type"
        assert node.get("additionalProperties") is not False, path
        if "properties" in node:
            assert node["type"] == "object", path
        if node.get("type") == "array":
            assert "maxItems" in node, f"{path}: lists need maxItems for the CEL cost estimate"


def test_metadata_is_left_to_the_api_server() -> None:
    schema = compute_class_schema()
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["required"] == ["spec"]


def test_every_field_has_a_description_for_kubectl_explain() -> None:
    for path, node in _nodes(compute_class_schema()):
        if path and path != ".metadata" and not path.endswith("[]") and not path.endswith(".*"):
            assert node.get("description"), f"{path} has no description"


def test_defaults_and_enums_come_from_the_models() -> None:
    spec = compute_class_schema()["properties"]["spec"]
    assert spec["properties"]["whenUnsatisfiable"]["default"] == "DoNotScaleUp"
    assert spec["properties"]["whenUnsatisfiable"]["enum"] == ["ScaleUpAnyway", "DoNotScaleUp"]
    assert spec["properties"]["priorities"]["default"] == []
    assert spec["properties"]["priorities"]["x-kubernetes-list-type"] == "atomic"
    rule = spec["properties"]["priorities"]["items"]
    assert rule["properties"]["maxPodsPerNode"]["minimum"] == 8
    assert rule["properties"]["maxPodsPerNode"]["maximum"] == 256
    assert rule["properties"]["flexStart"]["properties"]["enabled"]["default"] is False
    assert "default" not in spec["properties"].get("nodePoolAutoCreation", {})
    storage = rule["properties"]["storage"]["properties"]
    assert {"bootDiskKMSKey", "localSSDCount", "bootDiskSize"} <= set(storage)


def test_cel_rules_are_the_declared_cross_field_rules() -> None:
    in_crd: list[dict[str, str]] = []
    for _, node in _nodes(compute_class_schema()):
        in_crd += node.get("x-kubernetes-validations", [])
    declared = {r.message: r.cel for rules in rules_under(ComputeClass).values() for r in rules}
    assert {v["message"]: v["rule"] for v in in_crd} == declared
    rule_level = compute_class_schema()["properties"]["spec"]["properties"]["priorities"]["items"]
    messages = [v["message"] for v in rule_level["x-kubernetes-validations"]]
    assert any("machineType or machineFamily, not both" in m for m in messages)
    paths = {v.get("fieldPath") for v in rule_level["x-kubernetes-validations"]}
    assert ".machineType" in paths


def test_status_has_the_obtainability_memory() -> None:
    status = compute_class_schema()["properties"]["status"]["properties"]
    offering = status["unavailableOfferings"]["items"]["properties"]
    assert offering["until"]["format"] == "date-time"
    assert offering["capacityType"]["enum"] == ["reservation", "flex-start", "spot", "on-demand"]
    assert status["conditions"]["x-kubernetes-list-type"] == "map"


def test_the_models_schema_is_not_modified_by_generation() -> None:
    before = json.dumps(ComputeClass.model_json_schema(by_alias=True), sort_keys=True)
    compute_class_crd()
    assert json.dumps(ComputeClass.model_json_schema(by_alias=True), sort_keys=True) == before


def test_the_api_reference_documents_every_field_and_rule() -> None:
    reference = (Path(__file__).parents[2] / "docs" / "api-reference.md").read_text()
    for path, name in _property_names(compute_class_schema()):
        assert f"`{name}`" in reference, f"{path} is missing from docs/api-reference.md"
    for rules in rules_under(ComputeClass).values():
        for rule in rules:
            assert f"`{rule.id}`" in reference, f"rule {rule.id} is missing from the reference"


def test_ccc_crd_prints_the_same_crd_as_yaml_and_json() -> None:
    runner = CliRunner()
    as_yaml = runner.invoke(app, ["crd"])
    as_json = runner.invoke(app, ["crd", "--output", "json"])
    one_yaml = runner.invoke(app, ["crd", "--kind", "ComputeClass"])
    one_json = runner.invoke(app, ["crd", "--kind", "computeclass", "-o", "json"])
    assert as_yaml.exit_code == as_json.exit_code == one_yaml.exit_code == one_json.exit_code == 0
    assert list(yaml.safe_load_all(as_yaml.stdout)) == all_crds()
    assert json.loads(as_json.stdout) == {"apiVersion": "v1", "kind": "List", "items": all_crds()}
    assert yaml.safe_load(one_yaml.stdout) == compute_class_crd()
    assert json.loads(one_json.stdout) == compute_class_crd()


def test_ccc_crd_rejects_an_unknown_output_format() -> None:
    result = CliRunner().invoke(app, ["crd", "-o", "toml"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
