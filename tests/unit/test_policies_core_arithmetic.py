"""Exact arithmetic of the decision core, table-driven so that a one-line change to any of it
fails a test: obtainability backoff and scope, packing and first-fit remainders, TPU slice
rounding, in-flight absorption, deterministic names, and scale-down (reference
gke-computeclass.md §3.2: a stockout backs off the offering; §5: slices are atomic;
§2.5 consolidation delay)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.allocatable import Allocatable, allocatable, reserved_cpu_m, reserved_memory_bytes
from ccc.api.values import CapacityType, NodePool, NodePoolName, OfferingKey, Taint
from ccc.api.workload import PodRequest
from policies.consolidation import DEFAULT_CONSOLIDATION_DELAY, NodeUsage, plan_scale_down
from policies.inflight import NodeSlot, absorb
from policies.naming import MAX_NAME_LEN, node_pool_name
from policies.obtainability import BackoffPolicy, ObtainabilityMemory, Unavailability
from policies.packing import fits, nodes_needed
from tests.builders import NOW, catalog, make_pods

KEY = OfferingKey(machine_type="m", zone="us-central1-a", capacity_type=CapacityType.SPOT)


# -- obtainability memory --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "seconds"), [(0, 100), (1, 100), (2, 200), (3, 400), (4, 800), (5, 1000)]
)
def test_backoff_is_base_times_two_to_the_repeats_capped(failures: int, seconds: float) -> None:
    assert BackoffPolicy(base_s=100, max_s=1000).backoff_s(failures) == seconds


def test_a_failure_is_active_until_its_backoff_ends_and_not_after() -> None:
    mem = ObtainabilityMemory(policy=BackoffPolicy(base_s=60, max_s=600)).record_failure(
        KEY, reason="R", message="msg", now=NOW
    )
    entry = mem.lookup("m", "us-central1-a", CapacityType.SPOT, NOW + timedelta(seconds=59))
    assert entry is not None
    assert (entry.reason, entry.message, entry.failures, entry.since) == ("R", "msg", 1, NOW)
    assert entry.until == NOW + timedelta(seconds=60)
    assert mem.lookup("m", "us-central1-a", CapacityType.SPOT, NOW + timedelta(seconds=60)) is None
    assert mem.active(NOW) == [entry] and mem.active(entry.until) == []


def test_a_repeat_keeps_the_first_failure_time_and_counts_up() -> None:
    mem = ObtainabilityMemory().record_failure(KEY, reason="A", message="", now=NOW)
    later = NOW + timedelta(minutes=5)
    mem = mem.record_failure(KEY, reason="B", message="", now=later)
    (entry,) = list(mem)
    assert (entry.failures, entry.since, entry.reason) == (2, NOW, "B")
    assert entry.until == later + timedelta(seconds=360)


@pytest.mark.parametrize(
    ("marked", "zone", "ct", "machine", "blocked"),
    [
        ("us-central1-a", "us-central1-a", CapacityType.SPOT, "m", True),
        ("us-central1-a", "us-central1-b", CapacityType.SPOT, "m", False),
        ("us-central1-a", "us-central1-a", CapacityType.ON_DEMAND, "m", False),
        ("us-central1-a", "us-central1-a", CapacityType.SPOT, "other", False),
        ("us-central1", "us-central1-b", CapacityType.SPOT, "m", True),  # regional quota
        ("us-central1", "us-east4-a", CapacityType.SPOT, "m", False),
    ],
)
def test_an_entry_blocks_only_its_offering_or_its_whole_region(
    marked: str, zone: str, ct: CapacityType, machine: str, blocked: bool
) -> None:
    key = OfferingKey(machine_type="m", zone=marked, capacity_type=CapacityType.SPOT)
    mem = ObtainabilityMemory().record_failure(key, reason="R", message="", now=NOW)
    assert (mem.lookup(machine, zone, ct, NOW) is not None) is blocked


def test_success_forgets_the_zone_and_its_region_but_not_other_offerings() -> None:
    region_key = KEY.model_copy(update={"zone": "us-central1"})
    other = KEY.model_copy(update={"zone": "us-central1-b"})
    mem = ObtainabilityMemory()
    for k in (KEY, region_key, other):
        mem = mem.record_failure(k, reason="R", message="", now=NOW)
    after = mem.record_success(KEY)
    assert {e.key for e in after} == {other}
    untouched = ObtainabilityMemory().record_success(KEY)
    assert len(untouched) == 0


def test_prune_keeps_entries_until_max_backoff_after_they_end() -> None:
    mem = ObtainabilityMemory(policy=BackoffPolicy(base_s=60, max_s=120)).record_failure(
        KEY, reason="R", message="", now=NOW
    )
    assert mem.prune(NOW + timedelta(seconds=179)) is mem
    assert len(mem.prune(NOW + timedelta(seconds=180))) == 0


def test_of_builds_a_memory_from_entries() -> None:
    e = Unavailability(KEY, "R", "", 2, NOW, NOW + timedelta(minutes=1))
    mem = ObtainabilityMemory.of([e], BackoffPolicy(base_s=1, max_s=2))
    assert mem.entries == {KEY: e} and mem.policy.base_s == 1
    assert e.active(NOW) and not e.active(e.until)


# -- packing ---------------------------------------------------------------------------------


def test_allocatable_follows_gke_reservations() -> None:
    assert reserved_cpu_m(1) == 60
    assert reserved_cpu_m(2) == 70
    assert reserved_cpu_m(4) == 80
    assert reserved_cpu_m(8) == 90
    assert reserved_memory_bytes(4) == int(4 * 2**30 * 0.25) + 100 * 2**20
    m = catalog().machine_type("g2-standard-8")
    assert m is not None
    a = allocatable(m)
    assert (a.cpu_m, a.gpus, a.tpus, a.pods) == (8000 - 90, 1, 0, 110)
    assert allocatable(m, max_pods=16).pods == 16


@pytest.mark.parametrize(
    ("cpu_m", "mem_gib", "gpus", "per_node", "why"),
    [
        (1000, 1, 1, 1, ""),  # one GPU per node
        (1000, 1, 0, 7, ""),  # 7910m of CPU / 1000m
        (7910, 1, 0, 1, ""),  # exactly the allocatable CPU fits
        (7911, 1, 0, 0, "pod requests 7911m cpu; g2-standard-8 offers 7910m allocatable"),
        (100, 64, 0, 0, "memory"),
        (100, 1, 2, 0, "pod requests 2 nvidia.com/gpu; g2-standard-8 offers 1 allocatable"),
    ],
)
def test_fits_counts_pods_per_node_from_the_tightest_resource(
    cpu_m: int, mem_gib: int, gpus: int, per_node: int, why: str
) -> None:
    m = catalog().machine_type("g2-standard-8")
    assert m is not None
    f = fits(
        make_pods(1, gpus=gpus, cpu_m=cpu_m, memory_gib=mem_gib), m, {L.CLASS_LABEL: "gpu"}, ()
    )
    assert f.ok is (per_node > 0)
    assert f.per_node == per_node
    assert why in f.reason


def test_remainders_of_two_templates_share_open_nodes_first_fit() -> None:
    m = catalog().machine_type("a3-highgpu-8g")
    assert m is not None
    big = make_pods(3, gpus=6, cpu_m=1000, memory_gib=8, name="big")
    small = make_pods(3, gpus=2, cpu_m=1000, memory_gib=8, name="small")
    # 3 nodes for the 6-GPU pods, each with 2 GPUs left: the 2-GPU pods fill those.
    assert nodes_needed([(big, 1), (small, 4)], m) == 3
    assert nodes_needed([(small, 4), (big, 1)], m) == 3  # order of input does not matter
    assert nodes_needed([(small, 4)], m) == 1
    assert nodes_needed([(make_pods(9, gpus=2, cpu_m=1000, memory_gib=8), 4)], m) == 3


@pytest.mark.parametrize(
    ("pods", "hosts", "nodes"), [(1, 4, 4), (4, 4, 4), (5, 4, 8), (8, 4, 8), (3, 2, 4), (3, 1, 3)]
)
def test_multi_host_demand_rounds_up_to_whole_slices(pods: int, hosts: int, nodes: int) -> None:
    m = catalog().machine_type("ct5lp-hightpu-4t")
    assert m is not None
    p = make_pods(pods, gpus=0, tpus=4, cpu_m=1000, memory_gib=8)
    assert nodes_needed([(p, 1)], m, hosts_per_slice=hosts) == nodes


def test_max_pods_caps_the_nodes_a_template_needs() -> None:
    m = catalog().machine_type("a3-highgpu-8g")
    assert m is not None
    tiny = make_pods(20, gpus=0, cpu_m=10, memory_gib=1)
    assert nodes_needed([(tiny, 10)], m, max_pods=10) == 2
    assert nodes_needed([(tiny, 20)], m) == 1


# -- in-flight absorption --------------------------------------------------------------------


def _slot(
    name: str = "n", *, gpus: int = 8, pods: int = 110, expected: bool = False, cls: str = "gpu"
) -> NodeSlot:
    return NodeSlot(
        name=name,
        labels={L.CLASS_LABEL: cls},
        taints=(Taint(key=L.CLASS_LABEL, value=cls, effect="NoSchedule"),),
        cpu_m=200_000,
        memory_bytes=2**40,
        gpus=gpus,
        tpus=0,
        pods=pods,
        expected=expected,
    )


@pytest.mark.parametrize(
    ("slots", "pods", "gpus", "remaining", "existing", "expected"),
    [
        ([{"gpus": 8}], 3, 2, 0, 3, 0),
        ([{"gpus": 8}], 5, 2, 1, 4, 0),
        ([{"gpus": 4}, {"name": "e", "gpus": 8, "expected": True}], 5, 2, 0, 2, 3),
        ([{"gpus": 8, "pods": 2}], 5, 1, 3, 2, 0),
        ([{"gpus": 8, "cls": "other"}], 2, 1, 2, 0, 0),
        ([], 2, 1, 2, 0, 0),
    ],
)
def test_pending_pods_are_absorbed_by_free_and_expected_room_first_fit(
    slots: list[dict[str, Any]], pods: int, gpus: int, remaining: int, existing: int, expected: int
) -> None:
    fresh = [_slot(**s) for s in slots]  # slots are consumed: build them per test
    result = absorb([make_pods(pods, gpus=gpus, cpu_m=1000, memory_gib=1)], fresh)
    assert sum(p.count for p in result.remaining) == remaining
    assert (result.on_existing, result.on_expected) == (existing, expected)


def test_absorption_serves_the_largest_pods_first() -> None:
    small = make_pods(4, gpus=2, cpu_m=1000, memory_gib=1, name="small")
    large = make_pods(1, gpus=8, cpu_m=1000, memory_gib=1, name="large")
    result = absorb([small, large], [_slot(gpus=8)])
    assert [(p.name, p.count) for p in result.remaining] == [("small", 4)]


def test_a_slot_takes_no_more_pods_than_any_resource_allows() -> None:
    slot = NodeSlot("n", {}, (), cpu_m=3000, memory_bytes=2**40, gpus=0, tpus=0, pods=110)
    pod = PodRequest(name="p", cpu_m=1000)
    assert slot.take(pod, 5) == 3
    assert (slot.cpu_m, slot.pods) == (0, 107)
    assert slot.take(pod, 5) == 0


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"class_name": "d"}, "class"),
        ({"rule_index": 1}, "rule"),
        ({"machine_type": "a3-highgpu-4g"}, "machine"),
        ({"zone": "us-central1-b"}, "zone"),
        ({"capacity_type": CapacityType.ON_DEMAND}, "capacity type"),
        ({"slice_index": 0}, "slice"),
    ],
)
def test_every_input_of_a_pool_name_changes_it(change: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "class_name": "c",
        "rule_index": 0,
        "machine_type": "a3-highgpu-8g",
        "zone": "us-central1-a",
        "capacity_type": CapacityType.SPOT,
    }
    a = node_pool_name(**base)  # type: ignore[arg-type]
    b = node_pool_name(**{**base, **change})  # type: ignore[arg-type]
    assert a != b, field


def test_pool_names_have_the_documented_shape() -> None:
    assert node_pool_name("My.Class", 3, "m", "z", CapacityType.FLEX_START).startswith(
        "ccc-my-class-3-fs-"
    )
    sliced = node_pool_name("c", 2, "m", "z", CapacityType.RESERVATION, slice_index=4)
    assert sliced.startswith("ccc-c-2-rs-s4-") and len(sliced.split("-")[-1]) == 8
    long = node_pool_name("x" * 100, 999, "m", "z", CapacityType.ON_DEMAND, slice_index=99)
    assert len(long) == MAX_NAME_LEN and long.startswith("ccc-xxx")
    assert node_pool_name("---", 0, "m", "z", CapacityType.SPOT).startswith("ccc-x-0-sp-")


# -- scale-down ------------------------------------------------------------------------------


def _pool(name: str, *, managed: bool = True, nodes: int = 2, cls: str = "c") -> NodePool:
    return NodePool(
        name=NodePoolName(name),
        machine_type="a3-highgpu-8g",
        zones=("us-central1-a",),
        node_count=nodes,
        capacity_type=CapacityType.SPOT,
        managed=managed,
        class_name=cls,
    )


def _usage(name: str, pool: str, pods: int, empty_for: timedelta | None) -> NodeUsage:
    return NodeUsage(name, pool, pods, None if empty_for is None else NOW - empty_for)


DELAY = timedelta(minutes=5)


@pytest.mark.parametrize(
    ("usages", "expected"),
    [
        # every node empty long enough: delete the pool
        ([("n1", 0, DELAY), ("n2", 0, DELAY * 2)], [(True, ("n1", "n2"))]),
        # one busy node: remove only the idle one
        ([("n1", 0, DELAY), ("n2", 1, None)], [(False, ("n1",))]),
        # empty, but not for long enough
        ([("n1", 0, DELAY - timedelta(seconds=1))], []),
        # never seen empty
        ([("n1", 0, None)], []),
    ],
)
def test_scale_down_removes_nodes_empty_for_the_class_delay(
    usages: list[tuple[str, int, timedelta | None]], expected: list[tuple[bool, tuple[str, ...]]]
) -> None:
    nodes = [_usage(n, "p", pods, empty) for n, pods, empty in usages]
    got = plan_scale_down([_pool("p")], nodes, now=NOW, delays={"c": DELAY})
    assert [(d.delete_pool, d.nodes) for d in got] == expected
    for d in got:
        assert (d.pool, d.class_name) == ("p", "c")
        assert "5m" in d.reason


def test_scale_down_never_touches_unmanaged_pools_or_classes_with_pending_pods() -> None:
    nodes = [_usage("n1", "p", 0, DELAY * 3)]
    assert plan_scale_down([_pool("p", managed=False)], nodes, now=NOW, delays={}) == []
    assert (
        plan_scale_down(
            [_pool("p")], nodes, now=NOW, delays={"c": DELAY}, pending_classes=frozenset({"c"})
        )
        == []
    )


def test_a_pool_without_nodes_is_deleted_and_the_default_delay_applies() -> None:
    (gone,) = plan_scale_down([_pool("p", nodes=0)], [], now=NOW, delays={})
    assert (gone.delete_pool, gone.nodes, gone.reason) == (True, (), "pool has no nodes")
    assert plan_scale_down([_pool("q", nodes=1)], [], now=NOW, delays={}) == []
    just_under = [_usage("n", "p", 0, DEFAULT_CONSOLIDATION_DELAY - timedelta(seconds=1))]
    assert plan_scale_down([_pool("p")], just_under, now=NOW, delays={}) == []
    at = [_usage("n", "p", 0, DEFAULT_CONSOLIDATION_DELAY)]
    (d,) = plan_scale_down([_pool("p")], at, now=NOW, delays={})
    assert d.delete_pool and "10m" in d.reason


# -- more exact cases ------------------------------------------------------------------------


def test_success_on_a_zone_clears_a_regional_entry_alone() -> None:
    region_key = KEY.model_copy(update={"zone": "us-central1"})
    mem = ObtainabilityMemory().record_failure(region_key, reason="Q", message="", now=NOW)
    assert len(mem.record_success(KEY)) == 0


def test_active_entries_are_sorted_by_when_they_end() -> None:
    late = KEY.model_copy(update={"zone": "us-central1-b"})
    mem = ObtainabilityMemory(policy=BackoffPolicy(base_s=60, max_s=600))
    mem = mem.record_failure(late, reason="R", message="", now=NOW)
    mem = mem.record_failure(late, reason="R", message="", now=NOW)  # 120 s
    mem = mem.record_failure(KEY, reason="R", message="", now=NOW)  # 60 s
    assert [e.key for e in mem.active(NOW)] == [KEY, late]


def test_take_consumes_exactly_what_the_pods_request() -> None:
    slot = NodeSlot("n", {}, (), cpu_m=10_000, memory_bytes=10 * 2**30, gpus=2, tpus=8, pods=10)
    pod = PodRequest(name="p", cpu_m=1000, memory_bytes=2**30, gpus=1, tpus=4)
    placed = slot.take(pod, 5)
    assert placed == 2 and isinstance(placed, int)
    assert (slot.cpu_m, slot.memory_bytes, slot.gpus, slot.tpus, slot.pods) == (
        8000,
        8 * 2**30,
        0,
        0,
        8,
    )


def _cpu_slot(cpu_m: int, memory_gib: int = 1000, tpus: int = 0, gpus: int = 0) -> NodeSlot:
    return NodeSlot(
        "n", {}, (), cpu_m=cpu_m, memory_bytes=memory_gib * 2**30, gpus=gpus, tpus=tpus, pods=110
    )


def test_absorption_orders_by_gpus_then_tpus_then_cpu_then_memory() -> None:
    def left(pods: list[PodRequest], slot: NodeSlot) -> list[str]:
        return [p.name for p in absorb(pods, [slot]).remaining]

    g2 = PodRequest(name="g2", gpus=2, cpu_m=1)
    g1 = PodRequest(name="g1", gpus=1, cpu_m=1, count=2)
    assert left([g1, g2], _cpu_slot(10, gpus=2)) == ["g1"]
    t8 = PodRequest(name="t8", tpus=8, cpu_m=1)
    t4 = PodRequest(name="t4", tpus=4, cpu_m=1, count=2)
    assert left([t4, t8], _cpu_slot(10, tpus=8)) == ["t4"]
    c2 = PodRequest(name="c2", cpu_m=2000)
    c1 = PodRequest(name="c1", cpu_m=1000, count=2)
    assert left([c1, c2], _cpu_slot(2000)) == ["c1"]
    m2 = PodRequest(name="m2", cpu_m=1, memory_bytes=2 * 2**30)
    m1 = PodRequest(name="m1", cpu_m=1, memory_bytes=2**30, count=2)
    assert left([m1, m2], _cpu_slot(100, memory_gib=2)) == ["m1"]


def test_a_slot_that_does_not_admit_the_pod_is_passed_over_for_the_next() -> None:
    pod = make_pods(2, gpus=1, cpu_m=100, memory_gib=1)
    slots = [_slot("x", cls="other"), _slot("a", expected=True), _slot("b", expected=True)]
    slots[1].gpus = 1
    result = absorb([pod], slots)
    assert result.remaining == ()
    assert (result.on_existing, result.on_expected) == (0, 2)


def test_a_slot_caches_its_verdict_per_pod_template() -> None:
    slot = _slot()
    pod = make_pods(1, gpus=1)
    assert slot.admits(pod) is True
    assert slot.selector_cache == {pod.template_key(): True}
    slot.labels = {}
    assert slot.admits(pod) is True  # cached
    assert _slot(cls="other").admits(pod) is False


# -- first-fit over what full nodes leave, per resource ---------------------------------------

_BIG = Allocatable(cpu_m=10, memory_bytes=10, gpus=10, tpus=10, pods=10)


def _tpl(name: str, count: int, **need: int) -> PodRequest:
    return PodRequest(name=name, count=count, **need)


@pytest.mark.parametrize("resource", ["cpu_m", "memory_bytes", "gpus", "tpus"])
def test_what_full_nodes_leave_takes_smaller_pods_down_to_the_last_unit(resource: str) -> None:
    m = catalog().machine_type("a3-highgpu-8g")
    assert m is not None
    big = _tpl("big", 2, **{resource: 6})
    small = _tpl("small", 3, **{resource: 4})
    # 2 full nodes with 4 left each take one small pod each; the third needs a node.
    assert nodes_needed([(small, 2), (big, 1)], m, alloc=_BIG) == 3


@pytest.mark.parametrize("resource", ["cpu_m", "memory_bytes", "tpus"])
def test_larger_pods_are_packed_first(resource: str) -> None:
    m = catalog().machine_type("a3-highgpu-8g")
    assert m is not None
    large = _tpl("large", 2, **{resource: 7})
    small = _tpl("small", 2, **{resource: 3})
    assert nodes_needed([(small, 3), (large, 1)], m, alloc=_BIG) == 2


def test_pod_slots_left_on_full_nodes_count_down_to_the_last_one() -> None:
    m = catalog().machine_type("a3-highgpu-8g")
    assert m is not None
    alloc = Allocatable(cpu_m=10, memory_bytes=10, gpus=0, tpus=0, pods=3)
    big = _tpl("big", 4, cpu_m=5)  # 2 per node (CPU), 1 pod slot left per node
    small = _tpl("small", 2, cpu_m=0, memory_bytes=1)
    assert nodes_needed([(big, 2), (small, 3)], m, alloc=alloc) == 2
    small3 = _tpl("small", 3, memory_bytes=1)
    assert nodes_needed([(big, 2), (small3, 3)], m, alloc=alloc) == 3


def test_a_remainder_node_is_shared_by_later_templates_one_pod_at_a_time() -> None:
    m = catalog().machine_type("a3-highgpu-8g")
    assert m is not None
    a = _tpl("a", 1, gpus=5)
    b = _tpl("b", 3, gpus=2)  # one fits next to a; two more share a second node
    assert nodes_needed([(a, 2), (b, 5)], m, alloc=_BIG) == 2
    c = _tpl("c", 5, gpus=2)
    assert nodes_needed([(a, 2), (c, 5)], m, alloc=_BIG) == 2
    d = _tpl("d", 9, gpus=1)  # 5 next to a, 4 on a new node
    assert nodes_needed([(a, 2), (d, 10)], m, alloc=_BIG) == 2


def test_every_template_is_packed_even_after_one_fits_into_open_room() -> None:
    m = catalog().machine_type("a3-highgpu-8g")
    assert m is not None
    two_slots = Allocatable(cpu_m=10, memory_bytes=10, gpus=10, tpus=10, pods=2)
    big = _tpl("big", 2, gpus=6)  # 2 nodes, 4 GPUs and 1 pod slot left on each
    fits_left = _tpl("fits", 2, gpus=4)  # fills what is left
    tiny = _tpl("tiny", 11, tpus=1)  # needs nodes of its own: 2 per node, 6 nodes
    assert nodes_needed([(big, 1), (fits_left, 1), (tiny, 2)], m, alloc=two_slots) == 8
    assert nodes_needed([(big, 1), (_tpl("big2", 3, gpus=6), 1)], m, alloc=_BIG) == 5
