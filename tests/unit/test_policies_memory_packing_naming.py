"""Obtainability memory backoff, packing arithmetic and deterministic pool names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccc.api.values import CapacityType, OfferingKey
from policies.naming import MAX_NAME_LEN, node_pool_name
from policies.obtainability import BackoffPolicy, ObtainabilityMemory
from policies.packing import nodes_needed
from tests.builders import NOW, catalog, make_pods

KEY = OfferingKey(
    machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
)


def test_backoff_doubles_on_each_repeat_up_to_the_cap() -> None:
    mem = ObtainabilityMemory(policy=BackoffPolicy(base_s=60, max_s=300))
    durations = []
    for _ in range(5):
        mem = mem.record_failure(KEY, reason="STOCKOUT", message="", now=NOW)
        e = mem.lookup("a3-highgpu-8g", "us-central1-a", CapacityType.SPOT, NOW)
        assert e is not None
        durations.append((e.until - NOW).total_seconds())
    assert durations == [60, 120, 240, 300, 300]


def test_success_resets_the_backoff() -> None:
    mem = ObtainabilityMemory().record_failure(KEY, reason="STOCKOUT", message="", now=NOW)
    mem = mem.record_success(KEY)
    assert mem.lookup("a3-highgpu-8g", "us-central1-a", CapacityType.SPOT, NOW) is None
    again = mem.record_failure(KEY, reason="STOCKOUT", message="", now=NOW)
    assert next(iter(again)).failures == 1


def test_prune_forgets_long_expired_entries() -> None:
    mem = ObtainabilityMemory(policy=BackoffPolicy(base_s=60, max_s=120))
    mem = mem.record_failure(KEY, reason="STOCKOUT", message="", now=NOW)
    assert len(mem.prune(NOW + timedelta(seconds=100))) == 1
    assert len(mem.prune(NOW + timedelta(seconds=200))) == 0


@pytest.mark.parametrize(
    ("pods", "gpus", "expected"),
    [(1, 8, 1), (3, 8, 3), (8, 1, 1), (9, 1, 2), (5, 2, 2), (0 + 1, 4, 1)],
)
def test_nodes_needed_for_gpu_pods(pods: int, gpus: int, expected: int) -> None:
    machine = catalog().machine_type("a3-highgpu-8g")
    assert machine is not None
    p = make_pods(pods, gpus=gpus, cpu_m=1000, memory_gib=8)
    per_node = 8 // gpus
    assert nodes_needed([(p, per_node)], machine) == expected


def test_multi_host_slices_are_whole_units() -> None:
    machine = catalog().machine_type("ct5lp-hightpu-4t")
    assert machine is not None
    p = make_pods(5, gpus=0, tpus=4, cpu_m=1000, memory_gib=8)
    assert nodes_needed([(p, 1)], machine, hosts_per_slice=4) == 8


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=253),
    st.integers(min_value=0, max_value=999),
    st.sampled_from(list(CapacityType)),
)
def test_pool_names_are_valid_gke_names_and_deterministic(
    cls: str, rule: int, ct: CapacityType
) -> None:
    name = node_pool_name(cls, rule, "a3-highgpu-8g", "us-central1-a", ct)
    assert len(name) <= MAX_NAME_LEN
    assert name[0].isalpha() and name[-1].isalnum()
    assert all(c.isalnum() or c == "-" for c in name)
    assert name == node_pool_name(cls, rule, "a3-highgpu-8g", "us-central1-a", ct)


def test_pool_names_differ_by_zone() -> None:
    a = node_pool_name("c", 0, "a3-highgpu-8g", "us-central1-a", CapacityType.SPOT)
    b = node_pool_name("c", 0, "a3-highgpu-8g", "us-central1-b", CapacityType.SPOT)
    assert a != b
