"""`ccc plan` on a ServingGroup, end to end through the CLI (no cluster, built-in catalog), on
the shipped Llama-3.1-8B example and variations of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ccc.cli.main import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "serving" / "llama-3.1-8b"
V6E_OFFERINGS = [
    f"ct6e-standard-1t:{zone}:{pricing}"
    for zone in ("us-central1-b", "us-east5-b")
    for pricing in ("spot", "on-demand")
]
runner = CliRunner()


def _plan(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["plan", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def _json(*args: str) -> dict[str, Any]:
    code, out, err = _plan(*args, "-o", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def _variants(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in doc["variants"]}


def _copy_example(tmp_path: Path, **spec_changes: Any) -> Path:
    for file in EXAMPLE.glob("*.yaml"):
        docs = list(yaml.safe_load_all(file.read_text()))
        for doc in docs:
            if doc.get("kind") == "ServingGroup":
                doc["spec"].update(spec_changes)
        (tmp_path / file.name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return tmp_path


def test_the_example_fills_the_preferred_tpu_variant_with_its_nodes_and_price() -> None:
    doc = _json(str(EXAMPLE))
    assert doc["servingGroup"] == {"name": "llama-3-1-8b", "namespace": "serving"}
    assert (doc["capacity"], doc["capacityUnit"], doc["targetCapacity"]) == (40, "requests/s", 48)
    v6e, h100 = _variants(doc)["v6e"], _variants(doc)["h100"]
    assert (v6e["state"], v6e["replicas"], v6e["capacity"]) == ("Preferred", 6, 48)
    assert v6e["nodes"] == 6
    assert v6e["attempts"][0]["machineType"] == "ct6e-standard-1t"
    assert v6e["pricePerHour"] > 0
    assert (h100["state"], h100["replicas"], h100["nodes"], h100["attempts"]) == ("Idle", 0, 0, [])
    assert doc["pricePerHour"] == v6e["pricePerHour"]
    assert doc["order"] == ["v6e", "h100"]
    assert not doc["degraded"]


def test_an_unobtainable_variant_shifts_its_share_to_the_gpu_variant() -> None:
    doc = _json(str(EXAMPLE), "--unobtainable", "v6e")
    v6e, h100 = _variants(doc)["v6e"], _variants(doc)["h100"]
    assert (v6e["state"], v6e["cause"], v6e["replicas"]) == ("Unobtainable", "stockout", 0)
    assert (h100["state"], h100["replicas"], h100["capacity"]) == ("Substituting", 4, 52)
    assert h100["attempts"][0]["machineType"] == "a3-highgpu-1g"
    assert h100["nodes"] == 4


def test_offerings_marked_unavailable_make_a_variant_unobtainable_through_the_walk() -> None:
    flags = [arg for offering in V6E_OFFERINGS for arg in ("--unavailable", offering)]
    doc = _json(str(EXAMPLE), *flags)
    assert _variants(doc)["v6e"]["state"] == "Unobtainable"
    assert _variants(doc)["h100"]["replicas"] == 4


def test_a_partly_unavailable_variant_still_plans_on_the_offerings_left() -> None:
    doc = _json(str(EXAMPLE), "--unavailable", "ct6e-standard-1t:us-central1-b:spot")
    v6e = _variants(doc)["v6e"]
    assert v6e["state"] == "Preferred"
    # the cluster lives in one region (the classes' first zones'): us-east5-b is outside it
    assert (v6e["attempts"][0]["zone"], v6e["attempts"][0]["capacityType"]) == (
        "us-central1-b",
        "on-demand",
    )


def test_max_replicas_of_every_variant_below_the_capacity_is_degraded(tmp_path: Path) -> None:
    path = _copy_example(tmp_path, capacity=400)
    doc = _json(str(path))
    assert doc["degraded"]
    assert _variants(doc)["v6e"]["replicas"] == 12
    assert _variants(doc)["h100"]["replicas"] == 8
    code, out, _ = _plan(str(path))
    assert code == 0
    assert "degraded:" in out


def test_cost_preference_orders_variants_by_price_per_unit_of_capacity(tmp_path: Path) -> None:
    cheap = _json(str(_copy_example(tmp_path, preference="Cost")))
    v6e, h100 = _variants(cheap)["v6e"], _variants(cheap)["h100"]
    per_unit = {
        name: v["pricePerReplicaHour"] / v["capacityPerReplica"]
        for name, v in (("v6e", v6e), ("h100", h100))
    }
    assert cheap["order"] == sorted(per_unit, key=per_unit.__getitem__)
    assert _variants(cheap)[cheap["order"][0]]["replicas"] > 0


def test_the_table_names_each_variant_its_state_and_the_total_price() -> None:
    code, out, _ = _plan(str(EXAMPLE))
    assert code == 0
    assert "ServingGroup/llama-3-1-8b" in out
    assert "ct6e-standard-1t" in out
    assert "Preferred" in out and "Idle" in out
    assert "split: 48 of 48 requests/s desired, $" in out


def test_a_single_file_with_the_group_is_planned_with_its_workload_file(tmp_path: Path) -> None:
    group = tmp_path / "group.yaml"
    group.write_text(
        (EXAMPLE / "servinggroup.yaml").read_text()
        + "---\n"
        + (EXAMPLE / "computeclasses.yaml").read_text()
    )
    doc = _json(str(group), "--workload", str(EXAMPLE / "deployments.yaml"))
    assert _variants(doc)["v6e"]["replicas"] == 6


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        (
            "deployments.yaml",
            "spec.variants[0].targetRef: Deployment/vllm-llama-8b-v6e is not in the files;"
            " add its manifest",
        ),
        (
            "computeclasses.yaml",
            "selects ComputeClass tpu-v6e-1, which is not in the files; add it",
        ),
    ],
)
def test_a_missing_workload_or_class_is_named_with_the_fix(
    tmp_path: Path, remove: str, message: str
) -> None:
    path = _copy_example(tmp_path)
    (path / remove).unlink()
    code, _, err = _plan(str(path))
    assert code == 1
    assert message in err


def test_replicas_and_unknown_variants_are_usage_errors() -> None:
    code, _, err = _plan(str(EXAMPLE), "--replicas", "3")
    assert code == 1
    assert "--replicas does not apply to a ServingGroup" in err
    code, _, err = _plan(str(EXAMPLE), "--unobtainable", "a100")
    assert code == 1
    assert "--unobtainable a100: no such variant (v6e, h100)" in err


def test_an_invalid_group_is_reported_with_its_field_path(tmp_path: Path) -> None:
    path = _copy_example(tmp_path, capacity=-1)
    code, _, err = _plan(str(path))
    assert code == 1
    assert "ServingGroup/llama-3-1-8b: spec.capacity: must be greater than or equal to 0" in err


def test_every_variant_is_planned_in_one_region_the_first_named_zones_by_default() -> None:
    """A GKE cluster, and so every node pool of a group's variants, lives in one region
    (gke-computeclass.md, location: zones outside the cluster's region are not used)."""
    doc = _json(str(EXAMPLE), "--unobtainable", "v6e")
    assert doc["region"] == "us-central1"
    zones = {a["zone"] for v in doc["variants"] for a in v["attempts"]}
    assert zones and all(z.startswith("us-central1-") for z in zones)


def test_region_moves_the_whole_group_and_the_variants_outside_it_are_unobtainable() -> None:
    doc = _json(str(EXAMPLE), "--region", "us-east5")
    v6e, h100 = _variants(doc)["v6e"], _variants(doc)["h100"]
    assert doc["region"] == "us-east5"
    assert {a["zone"] for a in v6e["attempts"]} == {"us-east5-b"}
    # the H100 class names only us-central1 zones: none of its rules is inside the cluster
    code, out, _ = _plan(str(EXAMPLE), "--region", "us-east5", "--unobtainable", "v6e")
    assert code == 0 and "cluster: region us-east5" in out
    assert "h100" in out and "Unobtainable" in out
    assert h100["replicas"] == 0
