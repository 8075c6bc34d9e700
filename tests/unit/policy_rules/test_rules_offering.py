"""Rules of ``policies/offering.py``: the attempts of one rule for one group of pending pods.

GKE rules encoded, by section of gke-computeclass.md: §2.2 ``location.locationPolicy``
(BALANCED spreads new nodes over the rule's zones), §2.3 and §6 reservations (a reservation's
room caps what is planned on it; ``AnyBestEffort`` uses a matching reservation if one has room,
else the rule's own capacity type), §5 (a multi-host TPU slice is a pool of its own, of the
topology's host count).
"""

from __future__ import annotations

from datetime import timedelta

from ccc.api.catalog import Catalog
from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, OfferingKey, ReservationCapacity
from policies.naming import node_pool_name
from policies.obtainability import ObtainabilityMemory
from policies.walk import _outcome
from tests.builders import NOW, catalog, make_class, make_pods, make_rule, walk

A, B, C = "us-central1-a", "us-central1-b", "us-central1-c"
MT = "a3-highgpu-8g"
SPOT = CapacityType.SPOT
EAST5 = ClusterLocation(region="us-east5", zones=("us-east5-a", "us-east5-b", "us-east5-c"))
V6E_4x4 = {"type": "tpu-v6e-slice", "count": 4, "topology": "4x4"}  # 4 hosts of 4 chips
TPU_MT = "ct6e-standard-4t"


def _tpu_pods(hosts_worth: int) -> object:
    """One pod per host, each asking for the host's 4 chips."""
    return make_pods(hosts_worth, gpus=0, tpus=4, cpu_m=1000, memory_gib=16)


def _stockout(zone: str, memory: ObtainabilityMemory) -> ObtainabilityMemory:
    return memory.record_failure(
        OfferingKey(machine_type=MT, zone=zone, capacity_type=SPOT),
        reason="GCE_STOCKOUT",
        message="",
        now=NOW - timedelta(seconds=1),
    )


# -- §2.2 BALANCED ---------------------------------------------------------------------------------


def test_a_balanced_rule_with_one_zone_left_places_every_node_there() -> None:
    """Zones b and c are backing off after stockouts: the whole batch goes to zone a."""
    rule = make_rule(
        MT, zones=None, spot=True, location={"zones": [A, B, C], "locationPolicy": "BALANCED"}
    )
    memory = _stockout(C, _stockout(B, ObtainabilityMemory()))
    plan = walk(make_class(rule), make_pods(3), memory=memory)
    chosen = plan.chosen
    assert chosen is not None
    assert [(p.zone, p.nodes) for p in chosen.all_placements()] == [(A, 3)]
    assert [(a.zone, a.decision) for a in plan.attempts if a.decision == "skip"] == [
        (B, "skip"),
        (C, "skip"),
    ]


def test_a_balanced_reservation_full_in_one_zone_is_a_skip_there_and_the_rest_goes_on() -> None:
    """§6: the reservation listed full in zone a gets a skip of the rule's reservation attempt
    in zone a; zone b, with room, still gets its share."""
    rule = make_rule(
        MT,
        zones=None,
        location={"zones": [A, B], "locationPolicy": "BALANCED"},
        reservations={"affinity": "AnyThenFail"},
    )
    listing = [
        ReservationCapacity(
            name="r", zone=A, machine_type=MT, count=2, in_use=2, specific_only=False
        ),
        ReservationCapacity(
            name="r", zone=B, machine_type=MT, count=5, in_use=0, specific_only=False
        ),
    ]
    plan = walk(make_class(rule), make_pods(4), reservations=listing)
    skips = [a for a in plan.attempts if a.decision == "skip"]
    assert [(a.rule, a.zone, a.capacity_type, a.nodes) for a in skips] == [
        (0, A, CapacityType.RESERVATION, 0)
    ]
    chosen = plan.chosen
    assert chosen is not None and chosen.capacity_type is CapacityType.RESERVATION
    assert [p.zone for p in chosen.all_placements()] == [B]


# -- §6 reservations -------------------------------------------------------------------------------


def test_any_best_effort_prices_the_nodes_no_reservation_covers_at_the_rules_own_type() -> None:
    """A spot rule with ``AnyBestEffort``: one of two nodes is prepaid by the listed reservation,
    the other is priced as spot."""
    rule = make_rule(MT, spot=True, zones=[A], reservations={"affinity": "AnyBestEffort"})
    listing = [
        ReservationCapacity(
            name="open", zone=A, machine_type=MT, count=1, in_use=0, specific_only=False
        )
    ]
    chosen = walk(make_class(rule), make_pods(2), reservations=listing).chosen
    spot = catalog().price(MT, A, SPOT)
    assert chosen is not None and spot is not None
    assert (chosen.nodes, chosen.price_per_hour) == (2, round(spot, 4))


def test_a_tpu_reservation_holds_only_whole_slices() -> None:
    """§5 and §6: six free hosts of a reservation hold one 4-host slice, not two; the walk plans
    the slice the reservation can take."""
    rule = make_rule(
        None,
        zones=None,
        tpu=V6E_4x4,
        reservations={
            "affinity": "Specific",
            "specific": [{"name": "tpu", "zones": ["us-east5-a"]}],
        },
    )
    listing = [
        ReservationCapacity(name="tpu", zone="us-east5-a", machine_type=TPU_MT, count=6, in_use=0)
    ]
    chosen = walk(make_class(rule), _tpu_pods(8), cluster=EAST5, reservations=listing).chosen  # type: ignore[arg-type]
    assert chosen is not None
    assert [p.nodes for p in chosen.all_placements()] == [4]


# -- §5 multi-host TPU slices ----------------------------------------------------------------------


def test_each_slice_pool_names_the_slices_machine_and_its_chips() -> None:
    """The provider call of each slice pool (one per slice) creates 4 ct6e-standard-4t hosts
    of 4 v6e chips each."""
    cc = make_class(make_rule(None, zones=["us-east5-a"], tpu=V6E_4x4))
    chosen = walk(cc, _tpu_pods(8), cluster=EAST5).chosen  # type: ignore[arg-type]
    assert chosen is not None and len(chosen.placements) == 2
    for part in chosen.parts():
        assert part.machine_type == TPU_MT and part.nodes == 4
        assert part.accelerator is not None
        assert (part.accelerator.type, part.accelerator.count) == ("tpu-v6e-slice", 4)


def test_the_slices_of_a_new_demand_take_the_first_free_slice_names() -> None:
    cc = make_class(make_rule(None, zones=["us-east5-a"], tpu=V6E_4x4))
    chosen = walk(cc, _tpu_pods(8), cluster=EAST5).chosen  # type: ignore[arg-type]
    assert chosen is not None
    assert [(p.node_pool, p.spec.name if p.spec else None) for p in chosen.all_placements()] == [
        (name, name)
        for i in (0, 1)
        if (
            name := node_pool_name(
                "gpu", 0, TPU_MT, "us-east5-a", CapacityType.ON_DEMAND, slice_index=i
            )
        )
    ]


def _n2_catalog(big_only: dict[str, int]) -> Catalog:
    """The built-in catalog where, in each zone of ``big_only``, no n2 machine type smaller than
    that many vCPUs is offered (so zones of one BALANCED rule get machine types of different
    sizes)."""
    cat = catalog()
    machines = tuple(
        m.model_copy(
            update={
                "zones": tuple(
                    z for z in m.zones if not (m.family == "n2" and m.vcpus < big_only.get(z, 0))
                )
            }
        )
        for m in cat.machine_types
    )
    return cat.model_copy(update={"machine_types": machines})


def _n2_balanced(*zones: str) -> dict[str, object]:
    return make_rule(
        None,
        zones=None,
        machineFamily="n2",
        location={"zones": list(zones), "locationPolicy": "BALANCED"},
    )


def _cpu_pods(count: int) -> object:
    """Pods of 3 vCPUs: one per 4-vCPU node, two per 8-vCPU node, five per 16-vCPU node."""
    return make_pods(count, gpus=0, cpu_m=3000, memory_gib=2)


def test_a_balanced_spread_places_every_pod_when_zones_get_smaller_machine_types() -> None:
    """Zone a offers n2 from 8 vCPUs (two pods a node), zone b from 4 (one pod a node): of four
    pods, zone a takes two on one node, and zone b the other two, on two nodes."""
    cat = _n2_catalog({A: 8})
    plan = walk(make_class(_n2_balanced(A, B)), _cpu_pods(4), cat=cat)  # type: ignore[arg-type]
    chosen = plan.chosen
    assert chosen is not None
    assert [(p.zone, p.nodes, p.pods) for p in chosen.all_placements()] == [(A, 1, 2), (B, 2, 2)]


def test_each_zone_of_a_balanced_spread_is_provisioned_with_its_own_machine_type() -> None:
    """Zone a offers n2 from 8 vCPUs, zone b from 4: the pools, the provider calls (one part
    per pool), the reason and the outcome name n2-standard-8 in a and n2-standard-4 in b, never
    zone a's machine in zone b (a machine the zone may not even offer)."""
    cat = _n2_catalog({A: 8})
    plan = walk(make_class(_n2_balanced(A, B)), _cpu_pods(4), cat=cat)  # type: ignore[arg-type]
    chosen = plan.chosen
    assert chosen is not None
    shapes = [(p.zone, p.machine_type) for p in chosen.all_placements()]
    assert shapes == [(A, "n2-highcpu-8"), (B, "n2-highcpu-4")]
    parts = [(x.zone, x.machine_type, x.nodes) for x in chosen.parts()]
    assert parts == [(A, "n2-highcpu-8", 1), (B, "n2-highcpu-4", 2)]
    assert "over us-central1-a (1 x n2-highcpu-8), us-central1-b (2 x n2-highcpu-4)" in (
        chosen.reason
    )
    outcome = _outcome(make_class(_n2_balanced(A, B)), [plan])  # type: ignore[arg-type]
    assert "create 3 x n2-highcpu-8/n2-highcpu-4 on-demand over us-central1-a, us-central1-b" in (
        outcome
    )


def test_zones_of_a_balanced_gpu_family_spread_attach_their_own_machines_gpus() -> None:
    """An a3 family rule over zones a and d: a3-highgpu-1g (1 H100) is the smallest in zone a
    but not offered in zone d, which gets an 8-GPU a3; each pool attaches its own machine's
    GPUs."""
    rule = make_rule(
        None,
        zones=None,
        machineFamily="a3",
        location={"zones": [A, "us-central1-d"], "locationPolicy": "BALANCED"},
    )
    pods = make_pods(23, gpus=0, cpu_m=100, memory_gib=10)
    chosen = walk(make_class(rule), pods).chosen  # type: ignore[arg-type]
    assert chosen is not None
    got = [(p.zone, p.machine_type, p.accelerator) for p in chosen.all_placements()]
    assert got[0][:2] == (A, "a3-highgpu-1g")
    assert [acc.count if acc else None for _, _, acc in got] == [1, 8]
    assert got[1][0] == "us-central1-d" and got[1][1] != "a3-highgpu-1g"


def test_a_balanced_spread_of_one_machine_type_names_it_once() -> None:
    plan = walk(make_class(_n2_balanced(A, B)), _cpu_pods(2))  # type: ignore[arg-type]
    chosen = plan.chosen
    assert chosen is not None
    machines = {p.machine_type for p in chosen.all_placements()}
    assert machines == {chosen.machine_type}
    assert f"over {A} (1), {B} (1), locationPolicy BALANCED" in chosen.reason
    outcome = _outcome(make_class(_n2_balanced(A, B)), [plan])  # type: ignore[arg-type]
    assert f"2 x {chosen.machine_type} on-demand over {A}, {B} (rule 0)" in outcome


def test_a_zone_left_without_pods_gets_no_pool() -> None:
    """Zone b offers n2 only from 16 vCPUs (five pods a node): of three pods, zone a takes one
    and zone b the other two; zone c, with none left, gets no pool of zero nodes."""
    cat = _n2_catalog({B: 16})
    plan = walk(make_class(_n2_balanced(A, B, C)), _cpu_pods(3), cat=cat)  # type: ignore[arg-type]
    chosen = plan.chosen
    assert chosen is not None
    assert [(p.zone, p.nodes, p.pods) for p in chosen.all_placements()] == [(A, 1, 1), (B, 1, 2)]
