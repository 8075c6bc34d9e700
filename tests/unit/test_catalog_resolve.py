"""Resolving ComputeClass accelerator rules (``gpu``/``tpu``/``machineType``) against the catalog.

Includes every accelerator rule of the shared example manifests
(``../shared/examples/computeclasses``; ``CCC_SHARED_DIR`` overrides the location), read in place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog

SHARED = Path(os.environ.get("CCC_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
EXAMPLES = SHARED / "examples" / "computeclasses"


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_builtin_catalog()


@pytest.mark.parametrize(
    ("tpu_type", "count", "topology", "machine_type", "hosts"),
    [
        ("tpu-v5-lite-podslice", 8, "2x4", "ct5lp-hightpu-8t", 1),
        ("tpu-v5-lite-podslice", 4, "2x4", "ct5lp-hightpu-4t", 2),
        ("tpu-v5-lite-podslice", None, "2x4", "ct5lp-hightpu-8t", 1),
        ("tpu-v5-lite-podslice", 1, "1x1", "ct5lp-hightpu-1t", 1),
        ("tpu-v5-lite-podslice", 4, "2x2", "ct5lp-hightpu-4t", 1),
        ("tpu-v5-lite-podslice", 4, "4x4", "ct5lp-hightpu-4t", 4),
        ("tpu-v5-lite-podslice", None, "16x16", "ct5lp-hightpu-4t", 64),
        ("tpu-v5-lite-podslice", 8, None, "ct5lp-hightpu-8t", 1),
        ("tpu-v5-lite-device", 8, "2x4", "ct5l-hightpu-8t", 1),
        ("tpu-v5-lite-device", 1, "1x1", "ct5l-hightpu-1t", 1),
        ("tpu-v5p-slice", 4, "2x2x1", "ct5p-hightpu-4t", 1),
        ("tpu-v5p-slice", 4, "2x2x4", "ct5p-hightpu-4t", 4),
        ("tpu-v5p-slice", 4, "4x4x4", "ct5p-hightpu-4t", 16),
        ("tpu-v5p-slice", None, "4x4x12", "ct5p-hightpu-4t", 48),
        ("tpu-v6e-slice", 1, "1x1", "ct6e-standard-1t", 1),
        ("tpu-v6e-slice", 8, "2x4", "ct6e-standard-8t", 1),
        ("tpu-v6e-slice", 4, "8x8", "ct6e-standard-4t", 16),
        ("tpu-v6e-slice", 4, " 4X8 ", "ct6e-standard-4t", 8),
    ],
)
def test_tpu_rule_resolves_to_machine_type_and_hosts_per_slice(
    cat: Catalog,
    tpu_type: str,
    count: int | None,
    topology: str | None,
    machine_type: str,
    hosts: int,
) -> None:
    resolved = cat.resolve_tpu(tpu_type, count, topology)
    assert resolved is not None
    m, t = resolved
    assert (m.name, t.hosts) == (machine_type, hosts)
    assert t.chips == hosts * m.chips_per_host


@pytest.mark.parametrize(
    ("tpu_type", "count", "topology"),
    [
        ("tpu-v4-podslice", 4, "2x2x1"),  # not in the catalog
        ("tpu-v5-lite-podslice", 8, "4x4"),  # 4x4 only on 4-chip hosts
        ("tpu-v5-lite-podslice", 3, "2x2"),  # no 3-chip host
        ("tpu-v5-lite-device", 4, "4x4"),  # devices are single-host only
        ("tpu-v5p-slice", 4, "2x4"),  # v5p topologies are 3D
        ("tpu-v6e-slice", None, None),  # nothing to resolve
    ],
)
def test_tpu_rule_that_no_machine_type_offers_resolves_to_none(
    cat: Catalog, tpu_type: str, count: int | None, topology: str | None
) -> None:
    assert cat.resolve_tpu(tpu_type, count, topology) is None


@pytest.mark.parametrize(
    ("machine_type", "expected_hosts"),
    [("ct5lp-hightpu-4t", 2), ("ct5lp-hightpu-8t", 1), ("ct6e-standard-4t", None)],
)
def test_tpu_rule_with_a_machine_type_resolves_only_to_that_machine_type(
    cat: Catalog, machine_type: str, expected_hosts: int | None
) -> None:
    resolved = cat.resolve_tpu("tpu-v5-lite-podslice", None, "2x4", machine_type=machine_type)
    if expected_hosts is None:
        assert resolved is None
    else:
        assert resolved is not None
        assert (resolved[0].name, resolved[1].hosts) == (machine_type, expected_hosts)


@pytest.mark.parametrize(
    ("gpu_type", "count", "expected"),
    [
        (
            "nvidia-l4",
            1,
            [
                "g2-standard-4",
                "g2-standard-8",
                "g2-standard-12",
                "g2-standard-16",
                "g2-standard-32",
            ],
        ),
        ("nvidia-l4", 8, ["g2-standard-96"]),
        ("nvidia-tesla-a100", 16, ["a2-megagpu-16g"]),
        ("nvidia-h200-141gb", 8, ["a3-ultragpu-8g", "a3-ultragpu-8g-nolssd"]),
        ("nvidia-b200", None, ["a4-highgpu-8g"]),
        ("nvidia-h100-80gb", 3, []),
        ("nvidia-h100", 1, []),
        ("tpu-v6e-slice", 4, []),
    ],
)
def test_gpu_rule_lists_machine_types_with_exactly_that_many_gpus_smallest_first(
    cat: Catalog, gpu_type: str, count: int | None, expected: list[str]
) -> None:
    assert [m.name for m in cat.machine_types_for_gpu(gpu_type, count)] == expected


def test_machine_types_filter_by_family_zone_and_accelerator_together(cat: Catalog) -> None:
    found = cat.machine_types_for(
        accelerator_type="tpu-v6e-slice", zone="us-east5-a", family="ct6e"
    )
    assert [m.name for m in found] == ["ct6e-standard-1t", "ct6e-standard-4t", "ct6e-standard-8t"]
    assert cat.machine_types_for(family="a4", zone="southamerica-east1-a") == []


def test_a_gpu_that_attaches_to_n1_lists_n1_types_with_the_gpus_attached(cat: Catalog) -> None:
    found = cat.machine_types_for_gpu("nvidia-tesla-t4", 2)
    assert found and all(m.family == "n1" for m in found)
    assert [m.name for m in found][:3] == ["n1-standard-1", "n1-highcpu-2", "n1-standard-2"]
    for m in found:
        assert m.accelerator is not None
        assert (m.accelerator.type, m.accelerator.count) == ("nvidia-tesla-t4", 2)
        assert m.attached_gpu is not None and m.zones == m.attached_gpu.zones
        assert m.vcpus <= 48
    # Four V100s allow up to 48 vCPUs; n1-standard-64 cannot carry them.
    assert "n1-standard-64" not in {
        m.name for m in cat.machine_types_for_gpu("nvidia-tesla-v100", 4)
    }
    p100 = cat.machine_types_for(accelerator_type="nvidia-tesla-p100")
    assert p100[0].name == "n1-highcpu-16"


def _example_rules() -> list[tuple[str, int, dict[str, Any]]]:
    rules: list[tuple[str, int, dict[str, Any]]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "ComputeClass":
                continue
            for i, rule in enumerate(doc.get("spec", {}).get("priorities") or []):
                if "gpu" in rule or "tpu" in rule or _is_accelerator_family(rule):
                    rules.append((path.name, i, rule))
    return rules


def _is_accelerator_family(rule: dict[str, Any]) -> bool:
    machine_type = str(rule.get("machineType", ""))
    return machine_type.split("-", 1)[0] in {
        "g2",
        "a2",
        "a3",
        "a4",
        "ct5lp",
        "ct5l",
        "ct5p",
        "ct6e",
    }


def test_shared_examples_hold_accelerator_rules_to_check() -> None:
    names = {name for name, _, _ in _example_rules()}
    assert {"01-ap-gpu-h200-obtainability.yaml", "08-ap-tpu-v5e-2x4.yaml"} <= names


@pytest.mark.parametrize(
    ("example", "index", "rule"),
    _example_rules(),
    ids=[f"{name}#{i}" for name, i, _ in _example_rules()],
)
def test_every_accelerator_rule_of_the_shared_examples_resolves(
    cat: Catalog, example: str, index: int, rule: dict[str, Any]
) -> None:
    machine_type = rule.get("machineType")
    if machine_type is not None:
        m = cat.machine_type(machine_type)
        assert m is not None, f"{example} rule {index}: {machine_type} not in the catalog"
        if "gpu" in rule:
            assert m.accelerator is not None
            assert m.accelerator.type == rule["gpu"]["type"]
            assert m.accelerator.count == rule["gpu"].get("count", m.accelerator.count)
    elif "gpu" in rule:
        assert cat.machine_types_for_gpu(rule["gpu"]["type"], rule["gpu"].get("count"))
    if "tpu" in rule:
        tpu = rule["tpu"]
        resolved = cat.resolve_tpu(tpu["type"], tpu.get("count"), tpu.get("topology"))
        assert resolved is not None, f"{example} rule {index}: {tpu} does not resolve"


@pytest.mark.parametrize(
    ("tpu_type", "machine_type"),
    [("tpu-v5-lite-podslice", "ct5lp-hightpu-8t"), ("tpu-v5-lite-device", "ct5l-hightpu-8t")],
)
def test_example_tpu_2x4_count_8_is_one_eight_chip_host(
    cat: Catalog, tpu_type: str, machine_type: str
) -> None:
    resolved = cat.resolve_tpu(tpu_type, 8, "2x4")
    assert resolved is not None
    assert (resolved[0].name, resolved[1].hosts) == (machine_type, 1)


def test_example_gpu_machine_types_are_in_the_catalog(cat: Catalog) -> None:
    h200 = cat.machine_type("a3-ultragpu-8g")
    l4 = cat.machine_type("g2-standard-8")
    assert h200 is not None and h200.accelerator is not None
    assert (h200.accelerator.type, h200.accelerator.count) == ("nvidia-h200-141gb", 8)
    assert l4 is not None and l4.accelerator is not None
    assert (l4.accelerator.type, l4.accelerator.count) == ("nvidia-l4", 1)
