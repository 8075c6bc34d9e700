"""Classes that use the catalog's new breadth plan like any other: CPU families, GPUs attached
to N1, G4 (RTX PRO 6000), A4X and TPU7x, through ``ccc plan -o json`` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ccc.cli.main import app

ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


def _plan(tmp_path: Path, *rules: dict[str, Any], **spec: Any) -> list[dict[str, Any]]:
    body = {
        "apiVersion": "cloud.google.com/v1",
        "kind": "ComputeClass",
        "metadata": {"name": "test-class"},
        # Pool creation on: GKE's default (unset) only scales existing pools (spec §2.1).
        "spec": {"nodePoolAutoCreation": {"enabled": True}, "priorities": list(rules), **spec},
    }
    path = tmp_path / "class.yaml"
    path.write_text(yaml.safe_dump(body))
    result = CliRunner().invoke(app, ["plan", str(path), "-o", "json"])
    assert result.exit_code == 0, result.output
    attempts: list[dict[str, Any]] = json.loads(result.stdout)["attempts"]
    return attempts


def _tried(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in attempts if a["decision"] != "skip"]


def test_a_cpu_class_plans_with_prices_in_every_zone(tmp_path: Path) -> None:
    attempts = _plan(
        tmp_path,
        {"machineFamily": "n4", "spot": True},
        {"machineFamily": "n4", "spot": False},
        priorityDefaults={"location": {"zones": ZONES}},
    )
    tried = _tried(attempts)
    assert [(a["zone"], a["capacityType"]) for a in tried] == [
        *((z, "spot") for z in ZONES),
        *((z, "on-demand") for z in ZONES),
    ]
    assert {a["machineType"] for a in tried} == {"n4-highcpu-2"}
    assert all(a["accelerator"] is None and a["pricePerHour"] for a in tried)
    spot, on_demand = tried[0]["pricePerHour"], tried[3]["pricePerHour"]
    assert 0 < spot < on_demand


def test_min_cores_picks_the_smallest_machine_of_the_family_that_has_them(
    tmp_path: Path,
) -> None:
    tried = _tried(
        _plan(
            tmp_path,
            {"machineFamily": "c4d", "minCores": 8},
            {"machineFamily": "e2", "minCores": 8},
            priorityDefaults={"location": {"zones": ZONES}},
        )
    )
    assert tried[0]["machineType"] == "c4d-highcpu-8"
    assert any(a["machineType"].startswith("e2-") for a in tried)
    assert all(a["pricePerHour"] is not None for a in tried)


def test_a_t4_on_n1_rule_creates_an_n1_pool_with_the_gpu_attached(tmp_path: Path) -> None:
    tried = _tried(
        _plan(
            tmp_path,
            {
                "machineType": "n1-standard-8",
                "gpu": {"type": "nvidia-tesla-t4", "count": 2},
                "location": {"zones": ["us-central1-a", "us-central1-b"]},
            },
        )
    )
    assert [a["zone"] for a in tried] == ["us-central1-a", "us-central1-b"]
    for a in tried:
        assert a["machineType"] == "n1-standard-8"
        assert a["accelerator"] == {"type": "nvidia-tesla-t4", "count": 2}
        # The VM has a price, the T4 has none in the snapshot: the node is not priced.
        assert a["pricePerHour"] is None


@pytest.mark.parametrize(
    ("gpu", "family", "expected"),
    [
        ({"type": "nvidia-tesla-v100", "count": 8}, "n1", "n1-standard-1"),
        ({"type": "nvidia-rtx-pro-6000", "count": 1}, None, "g4-standard-48"),
        ({"type": "nvidia-gb200", "count": 4}, None, "a4x-highgpu-4g"),
    ],
)
def test_gpu_rules_without_a_machine_type_find_the_smallest_shape(
    tmp_path: Path, gpu: dict[str, Any], family: str | None, expected: str
) -> None:
    rule: dict[str, Any] = {"gpu": gpu}
    if family:
        rule["machineFamily"] = family
    tried = _tried(_plan(tmp_path, rule))
    assert tried and tried[0]["machineType"] == expected
    assert tried[0]["accelerator"] == {"type": gpu["type"], "count": gpu["count"]}


def test_g4_prices_come_from_the_source(tmp_path: Path) -> None:
    tried = _tried(
        _plan(
            tmp_path,
            {"gpu": {"type": "nvidia-rtx-pro-6000", "count": 1}, "spot": True},
            priorityDefaults={"location": {"zones": ["us-central1-a"]}},
        )
    )
    assert [(a["machineType"], a["pricePerHour"]) for a in tried] == [("g4-standard-48", 1.7998)]


def test_a_multi_host_tpu7x_slice_plans_its_hosts(tmp_path: Path) -> None:
    tried = _tried(
        _plan(
            tmp_path,
            {
                "tpu": {"type": "tpu7x", "count": 4, "topology": "2x2x2"},
                "location": {"zones": ["us-central1-c"]},
            },
        )
    )
    assert [(a["machineType"], a["zone"], a["nodes"]) for a in tried] == [
        ("tpu7x-standard-4t", "us-central1-c", 2)
    ]
