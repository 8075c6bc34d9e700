"""Walking tiers for pending pods: order, skips with reasons, memory, reservations."""

from __future__ import annotations

from datetime import timedelta

from ccc.api import labels as L
from ccc.api.values import CapacityType, NodePool, NodePoolName, OfferingKey, ReservationCapacity
from policies.obtainability import ObtainabilityMemory
from policies.tiers import compile_class
from policies.walk import WalkContext, plan_class, walk_group
from tests.builders import H100, NOW, catalog, make_class, make_pods, make_rule


def _walk(cc, pods, **ctx):  # type: ignore[no-untyped-def]
    return walk_group(
        cc, compile_class(cc, catalog()), pods, WalkContext(catalog=catalog(), now=NOW, **ctx)
    )


def test_walk_visits_rule_then_zone_then_capacity_type() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100), make_rule(spot=False, gpu=H100))
    g = _walk(cc, make_pods(2))
    assert [(a.rule, a.zone, a.capacity_type) for a in g.attempts] == [
        (0, "us-central1-a", CapacityType.SPOT),
        (0, "us-central1-b", CapacityType.SPOT),
        (1, "us-central1-a", CapacityType.ON_DEMAND),
        (1, "us-central1-b", CapacityType.ON_DEMAND),
    ]
    assert g.chosen is not None and g.chosen.decision == "create" and g.chosen.nodes == 2


def test_stockout_in_zone_a_falls_back_to_zone_b() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100))
    memory = ObtainabilityMemory().record_failure(
        OfferingKey(
            machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
        ),
        reason="ZONE_RESOURCE_POOL_EXHAUSTED",
        message="",
        now=NOW,
    )
    g = _walk(cc, make_pods(1), memory=memory)
    assert g.attempts[0].decision == "skip"
    assert "ZONE_RESOURCE_POOL_EXHAUSTED" in g.attempts[0].reason
    assert g.chosen is not None and g.chosen.zone == "us-central1-b"


def test_expired_unavailability_no_longer_skips_the_offering() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100))
    memory = ObtainabilityMemory().record_failure(
        OfferingKey(
            machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
        ),
        reason="ZONE_RESOURCE_POOL_EXHAUSTED",
        message="",
        now=NOW - timedelta(hours=2),
    )
    g = _walk(cc, make_pods(1), memory=memory)
    assert g.chosen is not None and g.chosen.zone == "us-central1-a"


def test_regional_quota_blocks_every_zone_of_the_region_and_the_next_rule_serves() -> None:
    cc = make_class(
        make_rule(spot=True, gpu=H100, zones=["us-central1-a", "us-central1-b"]),
        make_rule(spot=False, gpu=H100, zones=["us-central1-a"]),
    )
    memory = ObtainabilityMemory().record_failure(
        OfferingKey(
            machine_type="a3-highgpu-8g", zone="us-central1", capacity_type=CapacityType.SPOT
        ),
        reason="QUOTA_EXCEEDED",
        message="",
        now=NOW,
    )
    g = _walk(cc, make_pods(1), memory=memory)
    assert [a.decision for a in g.attempts[:2]] == ["skip", "skip"]
    assert all("QUOTA_EXCEEDED" in a.reason for a in g.attempts[:2])
    assert g.chosen is not None
    assert (g.chosen.rule, g.chosen.capacity_type) == (1, CapacityType.ON_DEMAND)


def test_pods_that_need_more_gpus_than_any_node_offers_are_skipped_with_a_reason() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100))
    g = _walk(cc, make_pods(1, gpus=16))
    assert g.chosen is None
    assert "16 nvidia.com/gpu" in g.attempts[0].reason


def test_pods_pack_several_per_node_when_they_fit() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100))
    g = _walk(cc, make_pods(8, gpus=2, cpu_m=4000, memory_gib=32))
    assert g.chosen is not None and g.chosen.nodes == 2  # 4 pods per 8-GPU node


def test_pod_zone_selector_skips_other_zones() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100))
    g = _walk(cc, make_pods(1, selector={L.ZONE_LABEL: "us-central1-b"}))
    assert g.attempts[0].decision == "skip"
    assert g.chosen is not None and g.chosen.zone == "us-central1-b"


def test_full_specific_reservation_is_skipped_without_trying_it() -> None:
    cc = make_class(
        make_rule(
            zones=None,
            gpu=H100,
            reservations={
                "affinity": "Specific",
                "specific": [{"name": "res-1", "zones": ["us-central1-a"]}],
            },
        ),
        make_rule(spot=True, gpu=H100),
    )
    full = ReservationCapacity(
        name="res-1", zone="us-central1-a", machine_type="a3-highgpu-8g", count=4, in_use=4
    )
    g = _walk(cc, make_pods(1), reservations=[full])
    assert g.attempts[0].decision == "skip" and "res-1" in g.attempts[0].reason
    assert g.chosen is not None and g.chosen.capacity_type is CapacityType.SPOT


def test_reservation_with_room_is_used_first_up_to_its_remaining_count() -> None:
    cc = make_class(
        make_rule(
            zones=None,
            gpu=H100,
            reservations={
                "affinity": "Specific",
                "specific": [{"name": "res-1", "zones": ["us-central1-a"]}],
            },
        ),
    )
    res = ReservationCapacity(
        name="res-1", zone="us-central1-a", machine_type="a3-highgpu-8g", count=4, in_use=1
    )
    g = _walk(cc, make_pods(5), reservations=[res])
    assert g.chosen is not None and g.chosen.capacity_type is CapacityType.RESERVATION
    assert g.chosen.nodes == 3 and g.chosen.price_per_hour == 0.0
    assert g.chosen.spec is not None and g.chosen.spec.reservation is not None
    assert g.chosen.spec.reservation.reservations[0].name == "res-1"


def test_existing_pool_with_the_deterministic_name_is_scaled_not_recreated() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100))
    first = _walk(cc, make_pods(1)).chosen
    assert first is not None and first.spec is not None
    pool = NodePool(
        name=first.spec.name,
        machine_type="a3-highgpu-8g",
        zones=("us-central1-a",),
        node_count=1,
        capacity_type=CapacityType.SPOT,
        managed=True,
    )
    again = _walk(cc, make_pods(2), node_pools=[pool]).chosen
    assert again is not None and again.decision == "scale"
    assert again.spec is not None and again.spec.node_count == 3


def test_nodepools_rule_scales_the_named_pool() -> None:
    cc = make_class({"nodepools": ["h100-manual"]}, make_rule(spot=True, gpu=H100))
    pool = NodePool(
        name=NodePoolName("h100-manual"),
        machine_type="a3-highgpu-8g",
        zones=("us-central1-c",),
        node_count=2,
        capacity_type=CapacityType.ON_DEMAND,
        labels={L.CLASS_LABEL: "gpu"},
    )
    compiled = compile_class(cc, catalog(), node_pools=[pool])
    g = walk_group(
        cc, compiled, make_pods(1), WalkContext(catalog=catalog(), now=NOW, node_pools=[pool])
    )
    assert g.chosen is not None and g.chosen.decision == "scale"
    assert g.chosen.node_pool == "h100-manual" and g.chosen.rule == 0


def test_everything_unavailable_with_do_not_scale_up_leaves_pods_pending() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100, zones=["us-central1-a"]))
    memory = ObtainabilityMemory().record_failure(
        OfferingKey(
            machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
        ),
        reason="GCE_STOCKOUT",
        message="",
        now=NOW,
    )
    ctx = WalkContext(catalog=catalog(), now=NOW, memory=memory)
    plan = plan_class(cc, compile_class(cc, catalog()), [make_pods(3)], ctx)
    assert all(a.decision == "skip" for a in plan.attempts)
    assert "DoNotScaleUp" in plan.outcome and "Pending" in plan.outcome


def test_scale_up_anyway_is_recorded_as_a_final_step() -> None:
    cc = make_class(
        make_rule(spot=True, gpu=H100, zones=["us-central1-a"]), whenUnsatisfiable="ScaleUpAnyway"
    )
    memory = ObtainabilityMemory().record_failure(
        OfferingKey(
            machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
        ),
        reason="GCE_STOCKOUT",
        message="",
        now=NOW,
    )
    g = _walk(cc, make_pods(1), memory=memory)
    assert g.attempts[-1].rule == -1
    assert "ScaleUpAnyway" in g.attempts[-1].reason


def test_controller_mode_stops_at_the_first_viable_attempt() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100), make_rule(spot=False, gpu=H100))
    compiled = compile_class(cc, catalog())
    g = walk_group(
        cc, compiled, make_pods(1), WalkContext(catalog=catalog(), now=NOW), max_viable=1
    )
    assert len(g.attempts) == 1


def test_plan_json_has_the_documented_keys() -> None:
    cc = make_class(make_rule(spot=True, gpu=H100))
    plan = plan_class(
        cc, compile_class(cc, catalog()), [make_pods(1)], WalkContext(catalog=catalog(), now=NOW)
    )
    doc = plan.to_json()
    assert {"class", "attempts", "outcome"} <= set(doc)
    assert {"region", "zones", "warnings", "locationSource"} <= set(doc)
    assert set(doc["attempts"][0]) == {  # type: ignore[index]
        "rule",
        "zone",
        "capacityType",
        "machineType",
        "nodePool",
        "accelerator",
        "nodes",
        "pricePerHour",
        "decision",
        "reason",
        "reservationAffinity",
        "placements",
    }


def test_flex_start_nodes_get_a_seven_day_max_run_duration_by_default() -> None:
    cc = make_class(make_rule(gpu=H100, flexStart={"enabled": True}))
    g = _walk(cc, make_pods(1))
    assert g.chosen is not None and g.chosen.spec is not None
    assert g.chosen.spec.max_run_duration_s == 7 * 24 * 3600
    assert g.chosen.spec.labels[L.GKE_FLEX_START_LABEL] == "true"
