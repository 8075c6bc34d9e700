"""Reservations (reference gke-computeclass.md §2.3 and §6): Specific only in its own zones and
never tried when the cloud reports it full; AnyBestEffort is one attempt per zone, "a matching
reservation if any, else on-demand inside GCE", priced honestly; AnyThenFail and None."""

from __future__ import annotations

import pytest

from ccc.api.values import CapacityType, ReservationCapacity
from policies.offering import price_of
from policies.tiers import compile_class
from policies.warnings import best_effort_warnings
from tests.builders import (
    H100,
    US_CENTRAL1,
    catalog,
    make_class,
    make_pods,
    make_rule,
    viable,
    walk,
)

A, B, C = "us-central1-a", "us-central1-b", "us-central1-c"
OD_PRICE = catalog().price("a3-highgpu-8g", A, CapacityType.ON_DEMAND)


def _res(
    name: str, zone: str, count: int, in_use: int = 0, *, specific_only: bool = True
) -> ReservationCapacity:
    return ReservationCapacity(
        name=name,
        zone=zone,
        machine_type="a3-highgpu-8g",
        count=count,
        in_use=in_use,
        specific_only=specific_only,
    )


def _specific(zones: list[str] | None, **rule: object) -> dict[str, object]:
    ref: dict[str, object] = {"name": "h100-res"}
    if zones is not None:
        ref["zones"] = zones
    return make_rule(
        gpu=H100, zones=None, reservations={"affinity": "Specific", "specific": [ref]}, **rule
    )


def test_a_specific_reservation_is_tried_only_in_its_own_zones() -> None:
    cc = make_class(_specific([B]), priorityDefaults={"location": {"zones": [A, C]}})
    plan = walk(cc, make_pods(1))
    assert [(a.zone, a.capacity_type) for a in viable(plan)] == [(B, CapacityType.RESERVATION)]


def test_a_specific_reservation_without_zones_uses_the_zone_the_cloud_lists() -> None:
    cc = make_class(_specific(None))
    plan = walk(cc, make_pods(1), reservations=[_res("h100-res", C, 4), _res("other", A, 4)])
    assert [a.zone for a in viable(plan)] == [C]


def test_a_specific_reservation_listed_outside_the_region_is_skipped_with_a_reason() -> None:
    cc = make_class(_specific(None))
    res = ReservationCapacity(
        name="h100-res", zone="us-east4-a", machine_type="a3-highgpu-8g", count=4, in_use=0
    )
    plan = walk(cc, make_pods(1), reservations=[res])
    assert plan.chosen is None
    assert "not listed in the cluster's region (it is in us-east4-a)" in plan.attempts[0].reason


def test_without_a_listing_a_zone_less_specific_reservation_is_planned_in_region_zones() -> None:
    cc = make_class(_specific(None))
    zones = [a.zone for a in viable(walk(cc, make_pods(1)))]
    h100 = set(catalog().machine_type("a3-highgpu-8g").zones)  # type: ignore[union-attr]
    assert zones and all(z in h100 and z.startswith("us-central1-") for z in zones)


@pytest.mark.parametrize(
    ("reservations", "nodes", "decision"),
    [
        ([_res("h100-res", B, 4, in_use=4)], 0, "skip"),  # full: skipped without a try
        ([_res("h100-res", B, 4, in_use=1)], 3, "create"),  # room for 3 of 5 nodes
        ([_res("h100-res", B, 8)], 5, "create"),
        ([_res("other", B, 8)], 0, "skip"),  # another reservation does not count
        ([_res("h100-res", A, 8)], 0, "skip"),  # the right one, in another zone
    ],
)
def test_a_specific_reservation_is_capped_at_its_listed_room(
    reservations: list[ReservationCapacity], nodes: int, decision: str
) -> None:
    cc = make_class(_specific([B]), make_rule(gpu=H100, spot=False, zones=[B]))
    plan = walk(cc, make_pods(5), reservations=reservations)
    first = plan.attempts[0]
    assert (first.rule, first.decision, first.nodes) == (0, decision, nodes)
    if decision == "skip":
        assert "has no free a3-highgpu-8g capacity in us-central1-b" in first.reason
    else:
        assert first.price_per_hour == 0.0  # prepaid


def test_reservation_attempts_carry_the_specific_affinity_to_the_pool() -> None:
    cc = make_class(_specific([B]))
    chosen = walk(cc, make_pods(1)).chosen
    assert chosen is not None and chosen.spec is not None
    assert chosen.reservation_affinity == "specific"
    assert chosen.spec.reservation is not None
    assert [r.name for r in chosen.spec.reservation.reservations] == ["h100-res"]


def test_any_best_effort_is_one_attempt_per_zone_priced_as_on_demand_when_unknown() -> None:
    cc = make_class(
        make_rule(gpu=H100, spot=False, zones=[A, B], reservations={"affinity": "AnyBestEffort"})
    )
    plan = walk(cc, make_pods(2))
    got = viable(plan)
    assert [(a.zone, a.capacity_type) for a in got] == [
        (A, CapacityType.ON_DEMAND),
        (B, CapacityType.ON_DEMAND),
    ]
    assert got[0].reservation_affinity == "any"
    assert OD_PRICE is not None and got[0].price_per_hour == round(2 * OD_PRICE, 4)
    assert "AnyBestEffort: a matching reservation if one has room" in got[0].reason
    assert got[0].spec is not None and got[0].spec.reservation is not None
    assert got[0].spec.reservation.type == "any"


@pytest.mark.parametrize(
    ("reservations", "prepaid"),
    [
        ([_res("open", A, 4, specific_only=False)], 2),
        ([_res("open", A, 1, specific_only=False)], 1),
        ([_res("targeted", A, 4, specific_only=True)], 0),  # needs Specific targeting
        ([_res("open", B, 4, specific_only=False)], 0),  # another zone
    ],
)
def test_any_best_effort_pays_list_price_only_for_nodes_no_listed_reservation_covers(
    reservations: list[ReservationCapacity], prepaid: int
) -> None:
    cc = make_class(
        make_rule(gpu=H100, spot=False, zones=[A], reservations={"affinity": "AnyBestEffort"})
    )
    chosen = walk(cc, make_pods(2), reservations=reservations).chosen
    assert chosen is not None and chosen.nodes == 2
    assert OD_PRICE is not None
    assert chosen.price_per_hour == round((2 - prepaid) * OD_PRICE, 4)


def test_any_best_effort_warns_that_lower_rules_are_reached_only_when_it_fails() -> None:
    cc = make_class(
        make_rule(gpu=H100, spot=False, reservations={"affinity": "AnyBestEffort"}),
        make_rule(gpu=H100, spot=True),
    )
    (warning,) = best_effort_warnings(cc, compile_class(cc, catalog(), cluster=US_CENTRAL1))
    assert warning.startswith("spec.priorities[0].reservations.affinity: AnyBestEffort")
    assert "rules after it (1)" in warning
    last_only = make_class(
        make_rule(gpu=H100, spot=True),
        make_rule(gpu=H100, spot=False, reservations={"affinity": "AnyBestEffort"}),
    )
    assert best_effort_warnings(last_only, compile_class(last_only, catalog())) == ()


def test_any_then_fail_consumes_only_reservations_and_skips_without_room() -> None:
    cc = make_class(
        make_rule(gpu=H100, zones=[A, B], reservations={"affinity": "AnyThenFail"}),
    )
    plan = walk(cc, make_pods(1), reservations=[_res("open", B, 2, specific_only=False)])
    assert [(a.zone, a.decision) for a in plan.attempts] == [(A, "skip"), (B, "create")]
    assert plan.chosen is not None and plan.chosen.capacity_type is CapacityType.RESERVATION
    assert plan.chosen.reservation_affinity == "any"


def test_affinity_none_never_consumes_and_says_so_to_the_pool() -> None:
    cc = make_class(make_rule(gpu=H100, spot=True, reservations={"affinity": "None"}))
    chosen = walk(cc, make_pods(1)).chosen
    assert chosen is not None and chosen.capacity_type is CapacityType.SPOT
    assert chosen.spec is not None and chosen.spec.reservation is not None
    assert chosen.spec.reservation.type == "none"


@pytest.mark.parametrize(
    ("ct", "n", "expected"),
    [
        (CapacityType.RESERVATION, 3, 0.0),
        (CapacityType.RESERVATION, 0, None),
        (CapacityType.ON_DEMAND, 3, round(3 * (OD_PRICE or 0), 4)),
    ],
)
def test_a_reservation_is_prepaid_so_its_marginal_price_is_zero(
    ct: CapacityType, n: int, expected: float | None
) -> None:
    m = catalog().machine_type("a3-highgpu-8g")
    assert m is not None
    assert price_of(catalog(), m, A, ct, n) == expected
