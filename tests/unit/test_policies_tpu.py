"""TPU slices (reference gke-computeclass.md §5: a multi-host slice pool is atomic; §4: flex-start
for single-host TPU slices only, in the zones GKE lists per TPU type; §2.2 ``tpu``)."""

from __future__ import annotations

import pytest

from ccc.api.catalog import Catalog, TpuTopology
from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType
from policies.naming import node_pool_name
from policies.tiers import compile_class
from tests.builders import catalog, make_class, make_pods, make_pool, make_rule, viable, walk

EAST5 = ClusterLocation(region="us-east5", zones=("us-east5-a", "us-east5-b", "us-east5-c"))
WEST4 = ClusterLocation(region="us-west4", zones=("us-west4-a", "us-west4-b"))
V6E_4x4 = {"type": "tpu-v6e-slice", "count": 4, "topology": "4x4"}  # 4 hosts of 4 chips
V6E_2x2 = {"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"}  # 1 host


def _tpu_pods(hosts_worth: int) -> object:
    # One pod per host, each asking for the host's 4 chips (a LeaderWorkerSet worker).
    return make_pods(hosts_worth, gpus=0, tpus=4, cpu_m=1000, memory_gib=16)


@pytest.mark.parametrize(("pods", "slices"), [(4, 1), (8, 2), (9, 3), (12, 3)])
def test_n_multi_host_slices_are_n_pools_of_the_topology_host_count(pods: int, slices: int) -> None:
    cc = make_class(make_rule(None, zones=["us-east5-a"], tpu=V6E_4x4))
    chosen = walk(cc, _tpu_pods(pods), cluster=EAST5).chosen  # type: ignore[arg-type]
    assert chosen is not None
    parts = chosen.all_placements()
    assert len(parts) == slices
    assert all(p.nodes == 4 and p.target_nodes == 4 and p.decision == "create" for p in parts)
    assert chosen.nodes == 4 * slices
    assert len({p.node_pool for p in parts}) == slices
    assert sum(p.pods for p in parts) == pods
    first = parts[0].spec
    assert first is not None and first.node_count == 4 and first.hosts_per_slice == 4
    assert first.tpu_topology == "4x4"


def test_slice_pools_skip_names_that_already_exist_and_are_never_resized() -> None:
    cc = make_class(make_rule(None, zones=["us-east5-a"], tpu=V6E_4x4))
    taken = node_pool_name(
        "gpu", 0, "ct6e-standard-4t", "us-east5-a", CapacityType.ON_DEMAND, slice_index=0
    )
    pool = make_pool(
        taken, machine_type="ct6e-standard-4t", zone="us-east5-a", nodes=4, managed=True
    )
    chosen = walk(cc, _tpu_pods(4), cluster=EAST5, node_pools=[pool]).chosen  # type: ignore[arg-type]
    assert chosen is not None and chosen.decision == "create"
    (only,) = chosen.all_placements()
    assert only.node_pool == node_pool_name(
        "gpu", 0, "ct6e-standard-4t", "us-east5-a", CapacityType.ON_DEMAND, slice_index=1
    )


def test_a_single_host_tpu_pool_is_scaled_like_any_pool() -> None:
    cc = make_class(make_rule(None, zones=["us-east5-a"], tpu=V6E_2x2))
    plan = walk(cc, _tpu_pods(3), cluster=EAST5)  # type: ignore[arg-type]
    assert plan.chosen is not None and plan.chosen.nodes == 3
    assert plan.chosen.placements == ()


def test_flex_start_is_never_planned_for_multi_host_slices() -> None:
    cc = make_class(
        make_rule(None, zones=["us-east5-a"], tpu=V6E_4x4, flexStart={"enabled": True}),
        make_rule(None, zones=["us-east5-a"], tpu=V6E_4x4, spot=True),
    )
    plan = walk(cc, _tpu_pods(4), cluster=EAST5)  # type: ignore[arg-type]
    first = plan.attempts[0]
    assert (first.capacity_type, first.decision) == (CapacityType.FLEX_START, "skip")
    assert "single-host TPU slices" in first.reason and "4 hosts" in first.reason
    assert plan.chosen is not None and plan.chosen.capacity_type is CapacityType.SPOT


@pytest.mark.parametrize(
    ("tpu", "cluster", "zones", "allowed"),
    [
        (V6E_2x2, EAST5, ["us-east5-a", "us-east5-c"], ["us-east5-a"]),
        (
            {"type": "tpu-v5-lite-podslice", "count": 8, "topology": "2x4"},
            WEST4,
            ["us-west4-a", "us-west4-b"],
            ["us-west4-a"],
        ),
        (
            {"type": "tpu-v5p-slice", "count": 4, "topology": "2x2x1"},
            EAST5,
            ["us-east5-a"],
            ["us-east5-a"],
        ),
    ],
)
def test_tpu_flex_start_only_in_the_zones_gke_lists_for_that_tpu(
    tpu: dict[str, object], cluster: ClusterLocation, zones: list[str], allowed: list[str]
) -> None:
    cc = make_class(make_rule(None, zones=zones, tpu=tpu, flexStart={"enabled": True}))
    plan = walk(cc, _tpu_pods(1), cluster=cluster)  # type: ignore[arg-type]
    assert [a.zone for a in viable(plan)] == allowed
    for a in plan.attempts:
        if a.decision == "skip":
            assert "GKE offers flex-start for" in a.reason


def test_a_catalog_may_override_the_flex_start_zones() -> None:
    custom = catalog().model_copy(
        update={"tpu_flex_start_zones": {"tpu-v6e-slice": ("us-east5-b",)}}
    )
    cc = make_class(
        make_rule(
            None, zones=["us-east5-a", "us-east5-b"], tpu=V6E_2x2, flexStart={"enabled": True}
        )
    )
    plan = walk(cc, _tpu_pods(1), cluster=EAST5, cat=Catalog.model_validate(custom.model_dump()))  # type: ignore[arg-type]
    assert [a.zone for a in viable(plan)] == ["us-east5-b"]  # GKE's list has us-east5-a too


def test_a_tpu_rule_is_only_tried_in_zones_offering_its_topology() -> None:
    base = catalog()
    machines = []
    for m in base.machine_types:
        if m.name == "ct6e-standard-4t":
            topos = tuple(
                t.model_copy(update={"zones": ("us-east5-b",)}) if t.topology == "4x4" else t
                for t in m.tpu_topologies
            )
            m = m.model_copy(update={"tpu_topologies": topos})
        machines.append(m)
    cat = base.model_copy(update={"machine_types": tuple(machines)})
    cc = make_class(make_rule(None, zones=["us-east5-a", "us-east5-b"], tpu=V6E_4x4))
    plan = walk(cc, _tpu_pods(4), cluster=EAST5, cat=cat)  # type: ignore[arg-type]
    assert [a.zone for a in viable(plan)] == ["us-east5-b"]
    compiled = compile_class(cc, cat, cluster=EAST5)
    (problem,) = compiled.problems
    assert "not offered in us-east5-a" in problem.message
    # The 2x2 shape has no zone restriction.
    cc2 = make_class(make_rule(None, zones=["us-east5-a", "us-east5-b"], tpu=V6E_2x2))
    plan2 = walk(cc2, _tpu_pods(1), cluster=EAST5, cat=cat)  # type: ignore[arg-type]
    assert [a.zone for a in viable(plan2)] == ["us-east5-a", "us-east5-b"]


def test_topology_zones_narrow_the_machine_zones() -> None:
    t = TpuTopology(topology="2x2", chips=4, hosts=1, zones=("b", "z"))
    m = catalog().machine_type("ct6e-standard-4t")
    assert m is not None
    narrowed = m.model_copy(update={"zones": ("a", "b")})
    assert narrowed.zones_for(t) == ("b",)
    assert narrowed.zones_for(None) == ("a", "b")
    assert narrowed.zones_for(TpuTopology(topology="2x2", chips=4, hosts=1)) == ("a", "b")
