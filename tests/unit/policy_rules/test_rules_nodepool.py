"""Rules of policies/nodepool.py: what the pools ccc creates carry (reference/gke-computeclass.md
§2.2 ``gpu.gpuSharing``, ``taints[]``; §2.1 ``priorityDefaults``, ``nodePoolAutoCreation``;
§3.1 node labels pods select)."""

from __future__ import annotations

from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.computeclass import ComputeClass
from ccc.api.values import CapacityType, Taint
from policies.nodepool import build_node_pool_spec, node_settings, node_taints
from policies.tiers import Tier, compile_class
from tests.builders import US_CENTRAL1, catalog, make_class, make_rule

ZONE = "us-central1-a"


def _tier(cc: ComputeClass) -> Tier:
    return compile_class(cc, catalog(), cluster=US_CENTRAL1).tiers[0]


def test_a_mig_rules_pool_asks_for_the_partition_size_and_its_nodes_carry_gkes_label() -> None:
    """§2.2 ``gpuSharing.gpuPartitionSize``: the pool is created with that MIG partition size,
    and its nodes carry ``cloud.google.com/gke-gpu-partition-size`` (pods select it)."""
    gpu = {"type": "nvidia-h100-80gb", "count": 8, "gpuSharing": {"gpuPartitionSize": "1g.10gb"}}
    cc = make_class(make_rule("a3-highgpu-8g", gpu=gpu))
    tier = _tier(cc)
    spec = build_node_pool_spec(
        cc, tier, tier.machines[0], ZONE, CapacityType.ON_DEMAND, node_count=1
    )
    assert spec.gpu_partition_size == "1g.10gb"
    assert spec.labels[L.GKE_GPU_PARTITION_SIZE_LABEL] == "1g.10gb"


def test_nodes_of_a_tpu_machine_type_named_without_tpu_fields_carry_its_smallest_topology() -> None:
    """A rule naming ``ct5lp-hightpu-4t`` alone: its nodes are single hosts of the machine's
    first (smallest) slice shape, ``2x2``, and carry GKE's topology label pods select."""
    cc = make_class(make_rule("ct5lp-hightpu-4t"))
    tier = _tier(cc)
    spec = build_node_pool_spec(
        cc, tier, tier.machines[0], ZONE, CapacityType.ON_DEMAND, node_count=1
    )
    assert spec.labels[L.GKE_TPU_TOPOLOGY_LABEL] == "2x2"


@pytest.mark.parametrize(
    "taint",
    [
        {"key": "example.com/dedicated", "value": "ml-jobs", "effect": "NoExecute"},
        {"key": "example.com/dedicated", "effect": "PreferNoSchedule"},
    ],
)
def test_a_rules_taints_are_put_on_its_nodes_as_written(taint: dict[str, str]) -> None:
    """§2.2 ``taints[]``: key, value (empty when unset) and effect, as the rule gives them."""
    cc = make_class(make_rule("a3-highgpu-8g", taints=[taint]))
    tier = _tier(cc)
    expected = Taint(key=taint["key"], value=taint.get("value", ""), effect=taint["effect"])  # type: ignore[arg-type]
    assert expected in node_taints(cc, tier, tier.machines[0])


def test_nested_virtualization_of_priority_defaults_applies_to_rules_that_set_none() -> None:
    """§2.1 ``priorityDefaults``: copied into rules that lack the field."""
    cc = make_class(
        make_rule("n2-standard-8"),
        make_rule("n2-standard-16", enableNestedVirtualization=False),
        priorityDefaults={"enableNestedVirtualization": True},
    )
    inherited, own = (node_settings(cc, r) for r in cc.spec.priorities)
    assert inherited is not None and inherited.enable_nested_virtualization is True
    assert own is not None and own.enable_nested_virtualization is False


def test_a_class_without_node_pool_auto_creation_passes_no_node_settings() -> None:
    cc: Any = make_class(make_rule("n2-standard-8"), auto_create=None)
    assert node_settings(cc, cc.spec.priorities[0]) is None
