"""Rules of policies/existing_pools.py (reference/gke-computeclass.md §3.6, manual pools): a
``nodepools`` rule scales the pools it names by the nodes the pods need, at the pool's own
machine, price model and zone; a multi-host TPU slice is never scaled; manual pools labelled
for the class are each judged on their own."""

from __future__ import annotations

from ccc.api import labels as L
from ccc.api.values import CapacityType, NodePool
from tests.builders import catalog, make_class, make_pods, make_rule, viable, walk
from tests.builders import make_pool as _make_pool

ZONE = "us-central1-a"


def make_pool(*args: object, **kw: object) -> NodePool:
    """A manual pool carrying the class label and taint pods select (``ccc.dev/compute-class``)."""
    return _make_pool(*args, key=L.CLASS_LABEL, **kw)  # type: ignore[arg-type]


def test_a_nodepools_rule_scales_its_pool_by_the_nodes_the_pods_need_at_the_pools_offering() -> (
    None
):
    """Three 8-GPU pods on a one-node spot pool of ``a3-highgpu-8g``: the pool grows by 3
    nodes to 4, priced at 3 spot nodes of its machine type in its zone."""
    pool = make_pool("manual", nodes=1, capacity_type=CapacityType.SPOT)
    cc = make_class({"nodepools": ["manual"]})
    pods = make_pods(3)
    [scale] = viable(walk(cc, pods, node_pools=[pool]))
    machine = catalog().machine_type("a3-highgpu-8g")
    assert machine is not None
    price = catalog().price(machine, ZONE, CapacityType.SPOT)
    assert price is not None
    assert (scale.decision, scale.node_pool, scale.zone) == ("scale", "manual", ZONE)
    assert (scale.capacity_type, scale.machine_type) == (CapacityType.SPOT, "a3-highgpu-8g")
    assert scale.accelerator == machine.accelerator
    assert (scale.nodes, scale.target_nodes, scale.pods) == (3, 4, 3)
    assert scale.group == pods.group_id()
    assert scale.price_per_hour == round(price * 3, 4)


def test_a_nodepools_rule_never_scales_a_multi_host_tpu_slice() -> None:
    """A pool of two-host ``2x4`` slices of ``ct5lp-hightpu-4t``: GKE cannot add nodes to a
    slice, so the rule's attempt on it is a skip."""
    pool = make_pool(
        "slice",
        "ct5lp-hightpu-4t",
        nodes=2,
        labels={L.GKE_TPU_TOPOLOGY_LABEL: "2x4"},
    )
    cc = make_class({"nodepools": ["slice"]})
    plan = walk(cc, make_pods(2, gpus=0, tpus=4, cpu_m=1000, memory_gib=1), node_pools=[pool])
    assert viable(plan) == []
    assert [a.node_pool for a in plan.attempts] == ["slice"]


def test_pods_too_large_for_a_named_pools_machine_skip_it_with_a_reason() -> None:
    pool = make_pool("small", "g2-standard-4", nodes=1)
    cc = make_class({"nodepools": ["small"]})
    plan = walk(cc, make_pods(1), node_pools=[pool])
    [skip] = plan.attempts
    assert (skip.decision, skip.node_pool, bool(skip.reason)) == ("skip", "small", True)


def test_a_skipped_named_pool_is_reported_at_its_own_offering() -> None:
    """The plan's row for a pool it cannot use names the pool's zone, price model and machine
    type, as the row of a pool it scales does: a Spot pool is shown as Spot."""
    pool = make_pool("small-spot", "g2-standard-4", nodes=1, capacity_type=CapacityType.SPOT)
    cc = make_class({"nodepools": ["small-spot"]})
    [skip] = walk(cc, make_pods(1), node_pools=[pool]).attempts
    assert skip.decision == "skip"
    assert (skip.zone, skip.capacity_type, skip.machine_type) == (
        ZONE,
        CapacityType.SPOT,
        "g2-standard-4",
    )


def test_a_manual_pool_that_does_not_match_the_rule_hides_none_sorted_after_it() -> None:
    """Manual pools labelled for the class are scaled before pools are created (§3.6); one
    that does not match the rule (machine type, price model, zone, class label) is passed
    over, and the matching pool named after it is still used."""
    matching = make_pool("z-match", nodes=1)
    others = [
        make_pool("a-g2", "g2-standard-4", nodes=1),
        make_pool("a-spot", nodes=1, capacity_type=CapacityType.SPOT),
        make_pool("b-elsewhere", "a3-highgpu-8g", "us-central1-f", nodes=1),
        make_pool("c-other-class", nodes=1, class_name="other"),
    ]
    cc = make_class(make_rule("a3-highgpu-8g", zones=[ZONE]))
    for other in others:
        plan = walk(cc, make_pods(1), node_pools=[other, matching])
        assert viable(plan)[0].node_pool == "z-match", other.name
