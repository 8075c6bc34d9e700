"""``locationPolicy: BALANCED`` attempts, value by value (reference gke-computeclass.md §2.2
``location.locationPolicy``: BALANCED spreads new nodes across zones; §2.1 without
``nodePoolAutoCreation`` only existing pools grow)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccc.api.values import CapacityType, OfferingKey, ReservationCapacity
from policies.naming import node_pool_name
from policies.obtainability import ObtainabilityMemory
from policies.plan import Attempt, Placement
from tests.builders import NOW, catalog, make_class, make_pods, make_pool, make_rule, walk

A, B, C = "us-central1-a", "us-central1-b", "us-central1-c"
MT = "a3-highgpu-8g"
SPOT = CapacityType.SPOT
PRICE = catalog().price("g2-standard-8", A, SPOT)


def _balanced(machine: str = MT, **rule: object) -> dict[str, object]:
    return make_rule(
        machine,
        zones=None,
        spot=True,
        location={"zones": [A, B, C], "locationPolicy": "BALANCED"},
        **rule,
    )


def _name(zone: str, machine: str = MT) -> str:
    return node_pool_name("gpu", 0, machine, zone, SPOT)


def test_a_balanced_spread_lists_one_placement_per_zone_with_its_pods() -> None:
    cc = make_class(_balanced("g2-standard-8", gpu={"type": "nvidia-l4", "count": 1}))
    chosen = walk(cc, make_pods(5, gpus=1, cpu_m=1000, memory_gib=4)).chosen
    assert chosen is not None
    assert [
        (p.zone, p.node_pool, p.nodes, p.decision, p.target_nodes, p.pods)
        for p in chosen.placements
    ] == [
        (A, _name(A, "g2-standard-8"), 2, "create", 2, 2),
        (B, _name(B, "g2-standard-8"), 2, "create", 2, 2),
        (C, _name(C, "g2-standard-8"), 1, "create", 1, 1),
    ]
    assert (chosen.zone, chosen.node_pool, chosen.nodes, chosen.target_nodes) == (
        A,
        _name(A, "g2-standard-8"),
        5,
        2,
    )
    assert PRICE is not None and chosen.price_per_hour == pytest.approx(5 * PRICE, abs=1e-3)
    assert chosen.decision == "create" and chosen.capacity_type is SPOT
    assert chosen.spec is not None and chosen.spec.name == _name(A, "g2-standard-8")
    assert all(p.spec is not None and p.spec.zone == p.zone for p in chosen.placements)
    assert chosen.reason == (
        "first choice: create 5 x g2-standard-8 spot over us-central1-a (2), us-central1-b (2), "
        "us-central1-c (1), locationPolicy BALANCED (rule 0)"
    )


def test_a_blocked_zone_is_a_skip_with_every_field_set() -> None:
    memory = ObtainabilityMemory().record_failure(
        OfferingKey(machine_type=MT, zone=B, capacity_type=SPOT),
        reason="GCE_STOCKOUT",
        message="",
        now=NOW - timedelta(seconds=1),
    )
    plan = walk(make_class(_balanced()), make_pods(2), memory=memory)
    skip = plan.attempts[0]
    assert skip == Attempt(
        rule=0,
        zone=B,
        capacity_type=SPOT,
        machine_type=MT,
        node_pool=_name(B),
        accelerator=catalog().machine_type(MT).accelerator,  # type: ignore[union-attr]
        nodes=0,
        price_per_hour=None,
        decision="skip",
        reason=skip.reason,
        pods=2,
        group=skip.group,
    )
    assert (
        skip.reason.startswith("marked unavailable until")
        and "GCE_STOCKOUT (1 failure)" in skip.reason
    )
    chosen = plan.chosen
    assert chosen is not None
    assert [(p.zone, p.nodes) for p in chosen.placements] == [(A, 1), (C, 1)]


def test_without_auto_creation_a_balanced_rule_grows_only_pools_that_exist() -> None:
    cc = make_class(_balanced(), auto_create=False)
    existing = [
        make_pool(_name(A), zone=A, nodes=1, capacity_type=SPOT, managed=True),
        make_pool(_name(C), zone=C, nodes=3, capacity_type=SPOT, managed=True),
    ]
    plan = walk(cc, make_pods(4), node_pools=existing)
    (skip,) = [a for a in plan.attempts if a.decision == "skip"]
    assert (skip.zone, skip.node_pool) == (B, _name(B))
    assert "nodePoolAutoCreation is not enabled for class gpu" in skip.reason
    chosen = plan.chosen
    assert chosen is not None and chosen.decision == "scale"
    assert [(p.zone, p.decision, p.nodes, p.target_nodes) for p in chosen.placements] == [
        (A, "scale", 2, 3),
        (C, "scale", 2, 5),
    ]


def test_a_balanced_reservation_is_capped_per_zone_at_its_listed_room() -> None:
    rule = make_rule(
        MT,
        zones=None,
        location={"zones": [A, B], "locationPolicy": "BALANCED"},
        reservations={"affinity": "AnyThenFail"},
    )
    listing = [
        ReservationCapacity(
            name="r", zone=A, machine_type=MT, count=1, in_use=0, specific_only=False
        ),
        ReservationCapacity(
            name="r", zone=B, machine_type=MT, count=5, in_use=0, specific_only=False
        ),
    ]
    chosen = walk(make_class(rule), make_pods(4), reservations=listing).chosen
    assert chosen is not None and chosen.capacity_type is CapacityType.RESERVATION
    assert [(p.zone, p.nodes, p.pods) for p in chosen.placements] == [(A, 1, 1), (B, 2, 2)]
    assert chosen.price_per_hour == 0.0


def test_one_node_of_demand_is_not_split() -> None:
    chosen = walk(make_class(_balanced()), make_pods(1)).chosen
    assert chosen is not None and chosen.placements == ()
    assert (chosen.zone, chosen.nodes, chosen.decision) == (A, 1, "create")


def test_an_unknown_price_leaves_the_total_unknown() -> None:
    """The fixed test catalog gives no a3-highgpu-8g Spot price in us-east5."""
    from pathlib import Path

    from ccc.api.builtin_catalog import load_catalog_file
    from ccc.api.location import ClusterLocation

    golden = load_catalog_file(Path(__file__).parents[1] / "golden" / "catalog.yaml")
    zones = ("us-east5-a", "us-east5-b")
    machines = tuple(
        m.model_copy(update={"zones": (*m.zones, "us-east5-b")}) if m.name == MT else m
        for m in golden.machine_types
    )
    cat = golden.model_copy(update={"machine_types": machines})
    rule = make_rule(
        MT, zones=None, spot=True, location={"zones": list(zones), "locationPolicy": "BALANCED"}
    )
    east5 = ClusterLocation(region="us-east5", zones=zones)
    chosen = walk(make_class(rule), make_pods(3), cluster=east5, cat=cat).chosen
    assert chosen is not None and len(chosen.placements) == 2
    assert chosen.price_per_hour is None


def test_placements_of_a_balanced_spread_serialise_in_order() -> None:
    chosen = walk(make_class(_balanced()), make_pods(2)).chosen
    assert chosen is not None
    assert chosen.to_json()["placements"] == [
        {"zone": A, "nodePool": _name(A), "machineType": MT, "nodes": 1, "decision": "create"},
        {"zone": B, "nodePool": _name(B), "machineType": MT, "nodes": 1, "decision": "create"},
    ]
    assert chosen.all_placements() == chosen.placements
    one = Placement(A, "p", 1, "create", 1, 1)
    assert one.to_json() == {
        "zone": A,
        "nodePool": "p",
        "machineType": None,
        "nodes": 1,
        "decision": "create",
    }


def test_a_plan_without_a_cluster_says_so_in_json() -> None:
    from policies.plan import Plan

    doc = Plan(class_name="c", groups=(), outcome="o").to_json()
    assert (doc["region"], doc["zones"], doc["locationSource"], doc["warnings"]) == (
        None,
        [],
        "",
        [],
    )


def test_a_single_pool_attempt_lists_itself_as_its_one_placement() -> None:
    base = Attempt(
        rule=0,
        zone=A,
        capacity_type=SPOT,
        machine_type=MT,
        node_pool="p",
        accelerator=None,
        nodes=2,
        price_per_hour=None,
        decision="scale",
        reason="r",
        pods=3,
        target_nodes=5,
    )
    (only,) = base.all_placements()
    assert (only.zone, only.node_pool, only.nodes, only.decision, only.target_nodes, only.pods) == (
        A,
        "p",
        2,
        "scale",
        5,
        3,
    )
    from dataclasses import replace

    assert replace(base, target_nodes=None).all_placements()[0].target_nodes == 2
    assert replace(base, decision="skip").all_placements() == ()
    assert replace(base, node_pool=None).all_placements() == ()
