"""``ccc plan`` plans inside one region and says which (reference gke-computeclass.md §3.2),
warns about what GKE would do differently, and keeps its JSON interface backward compatible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ccc.api.values import region_of
from ccc.cli.main import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SHARED = REPO.parent / "shared" / "examples" / "computeclasses"
LADDER = EXAMPLES / "computeclasses" / "llm-inference-ladder.yaml"
runner = CliRunner()


def _plan(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["plan", *args])
    return result.exit_code, result.stdout, result.stderr


def _json(*args: str) -> dict[str, Any]:
    code, out, err = _plan(*args, "-o", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def _zones(doc: dict[str, Any]) -> set[str]:
    zones = {a["zone"] for a in doc["attempts"] if a["zone"]}
    zones |= {p["zone"] for a in doc["attempts"] for p in a["placements"]}
    return zones


def test_without_flags_the_plan_uses_the_region_of_the_zones_the_class_names() -> None:
    doc = _json(str(LADDER), "-w", str(EXAMPLES / "workloads/llm-inference.yaml"))
    assert doc["region"] == "us-central1"
    assert "first zone the class names" in doc["locationSource"]
    assert _zones(doc) and all(region_of(z) == "us-central1" for z in _zones(doc))
    capacity = {a["capacityType"] for a in doc["attempts"] if a["decision"] != "skip"}
    assert capacity == {"reservation", "flex-start", "spot", "on-demand"}
    assert doc["warnings"] == []


def test_region_flag_moves_the_plan_and_skips_rules_named_elsewhere() -> None:
    doc = _json(str(LADDER), "-n", "1", "--region", "us-east4")
    assert doc["region"] == "us-east4"
    assert all(region_of(z) == "us-east4" for z in _zones(doc))
    assert any("outside the cluster's region us-east4" in w for w in doc["warnings"])
    viable = [a for a in doc["attempts"] if a["decision"] != "skip"]
    assert viable == []  # every rule names us-central1 zones only


def test_zones_flag_sets_the_cluster_zones_for_rules_that_name_none(tmp_path: Path) -> None:
    cls = tmp_path / "c.yaml"
    cls.write_text(
        "apiVersion: cloud.google.com/v1\nkind: ComputeClass\nmetadata: {name: c}\n"
        "spec:\n  nodePoolAutoCreation: {enabled: true}\n"
        "  priorities:\n  - machineType: a3-highgpu-8g\n    spot: true\n"
    )
    doc = _json(str(cls), "--zones", "us-east4-b,us-east4-a")
    assert doc["region"] == "us-east4" and doc["zones"] == ["us-east4-b", "us-east4-a"]
    assert [a["zone"] for a in doc["attempts"]] == ["us-east4-b", "us-east4-a"]


def test_a_class_that_names_no_zone_is_planned_in_the_documented_default_region(
    tmp_path: Path,
) -> None:
    cls = tmp_path / "c.yaml"
    cls.write_text(
        "apiVersion: cloud.google.com/v1\nkind: ComputeClass\nmetadata: {name: c}\n"
        "spec:\n  nodePoolAutoCreation: {enabled: true}\n"
        "  priorities:\n  - gpu: {type: nvidia-l4, count: 1}\n"
    )
    doc = _json(str(cls))
    assert doc["region"] == "us-central1" and "default region" in doc["locationSource"]
    assert all(region_of(z) == "us-central1" for z in _zones(doc))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--zones", "us-central1-a,us-east4-a"], "span regions"),
        (["--zones", "us-central1-a", "--region", "us-east4"], "not in region us-east4"),
    ],
)
def test_zones_of_several_regions_are_refused_with_the_reason(
    flags: list[str], message: str
) -> None:
    code, _, err = _plan(str(LADDER), *flags)
    assert code == 1 and message in err and "Traceback" not in err


def test_the_table_header_names_the_region_and_warnings_precede_the_outcome(
    tmp_path: Path,
) -> None:
    body = yaml.safe_load((EXAMPLES / "computeclasses/h100-obtainability.yaml").read_text())
    body["spec"]["priorities"][1]["location"] = {"zoneTypes": ["AI"]}  # accepted, not acted on
    path = tmp_path / "class.yaml"
    path.write_text(yaml.safe_dump(body))
    code, out, _ = _plan(str(path), "-n", "1", "--region", "us-central1")
    assert code == 0
    assert "cluster: region us-central1 (zones" in out
    # The plan table ends with its outcome, after the warnings about the class.
    assert out.index("warning: spec.priorities[1].location.zoneTypes") < out.index("outcome:")


def test_a_published_class_without_auto_creation_plans_no_creation() -> None:
    # Google's 2024 CRD reference snippet sets nodePoolAutoCreation.enabled: false.
    doc = _json(str(SHARED / "39-docs-crd-reference-snippet-2024.yaml"), "-n", "1")
    assert all(a["decision"] != "create" for a in doc["attempts"])
    assert any(w.startswith("spec.nodePoolAutoCreation: disabled") for w in doc["warnings"])


def test_a_published_specific_reservation_without_zones_is_planned_where_its_machine_is() -> None:
    doc = _json(str(SHARED / "01-ap-gpu-h200-obtainability.yaml"), "-n", "1")
    first = doc["attempts"][0]
    assert (first["rule"], first["capacityType"], first["decision"]) == (0, "reservation", "create")
    assert first["reservationAffinity"] == "specific"
    assert region_of(first["zone"]) == doc["region"]


def test_published_multi_host_and_flex_start_tpu_rules_follow_gke() -> None:
    # 2x4 v5e with count 8 is one host: flex-start is offered only in us-west4-a (§4). The
    # catalog has ct5lp-hightpu-8t in us-west4-a alone of us-west4 (zones per machine type),
    # so the refusal shows in another region where the machine type exists.
    doc = _json(str(SHARED / "08-ap-tpu-v5e-2x4.yaml"), "-n", "1", "--region", "us-west4")
    flex = [a for a in doc["attempts"] if a["capacityType"] == "flex-start"]
    assert flex and {a["zone"] for a in flex if a["decision"] != "skip"} == {"us-west4-a"}
    doc = _json(str(SHARED / "08-ap-tpu-v5e-2x4.yaml"), "-n", "1", "--region", "us-east1")
    flex = [a for a in doc["attempts"] if a["capacityType"] == "flex-start"]
    assert flex and all(a["decision"] == "skip" for a in flex)
    assert all("GKE offers flex-start" in a["reason"] for a in flex)
    assert any(a["decision"] == "create" for a in doc["attempts"])


def test_the_json_attempts_keep_every_documented_v1alpha1_key_and_type() -> None:
    doc = _json(str(LADDER), "-n", "2")
    for a in doc["attempts"]:
        assert isinstance(a["rule"], int) and isinstance(a["zone"], str)
        assert a["capacityType"] in ("reservation", "flex-start", "spot", "on-demand", None)
        assert isinstance(a["nodes"], int) and isinstance(a["reason"], str)
        assert a["decision"] in ("create", "scale", "skip")
        assert a["pricePerHour"] is None or isinstance(a["pricePerHour"], float)
        assert isinstance(a["placements"], list)
    assert isinstance(doc["outcome"], str) and isinstance(doc["class"], str)


def test_a_tpu_multi_host_rule_lists_one_placement_per_slice(tmp_path: Path) -> None:
    cls = tmp_path / "c.yaml"
    cls.write_text(
        "apiVersion: cloud.google.com/v1\nkind: ComputeClass\nmetadata: {name: c}\n"
        "spec:\n  nodePoolAutoCreation: {enabled: true}\n"
        "  priorities:\n  - tpu: {type: tpu-v6e-slice, count: 4, topology: 4x4}\n"
        "    location: {zones: [us-east5-a]}\n"
    )
    doc = _json(str(cls), "-n", "2")
    chosen = doc["attempts"][0]
    assert chosen["nodes"] == 8
    assert [p["nodes"] for p in chosen["placements"]] == [4, 4]
    assert len({p["nodePool"] for p in chosen["placements"]}) == 2
