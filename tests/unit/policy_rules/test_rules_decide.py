"""Rules of the decide step (policies/decide.py): what one pass concludes from a snapshot and a
state, as table tests (reference/gke-computeclass.md sections cited where the rule is GKE's)."""

from __future__ import annotations

from datetime import timedelta

from ccc.api.values import ReservationCapacity
from policies.commands import Provision, WaitUntil
from tests.builders import NOW, make_rule
from tests.unit.test_policies_decide import MACHINE, ZONE_A, ZONE_B, _class, _of, _pod, _run
from tests.unit.test_policies_decide import _snapshot as snapshot


def _specific(name: str = "r1") -> dict[str, object]:
    return {"affinity": "Specific", "specific": [{"name": name}]}


def test_a_specific_reservation_without_zones_is_tried_in_the_zone_the_cloud_lists() -> None:
    """reference/gke-computeclass.md §6: a Specific reservation is consumed only in its own
    zone; without ``specific[].zones`` that zone is the one the reservation listing gives."""
    cls = _class(make_rule(MACHINE, zones=None, reservations=_specific()), name="reserved")
    listed = ReservationCapacity(name="r1", zone=ZONE_B, machine_type=MACHINE, count=4, in_use=0)
    snap = snapshot(classes=[cls], pods=[_pod("r", cls="reserved")], reservations=[listed])
    [provision] = _of(Provision, _run(snap))
    assert isinstance(provision, Provision)
    assert provision.attempt.zone == ZONE_B


def test_a_class_waiting_for_a_reservation_listing_wakes_the_loop_at_the_error_retry() -> None:
    """Reservations could not be listed: the class with a reservation rule waits (it does not
    guess) and the loop comes back after ``error_retry_s`` to list them again."""
    cls = _class(
        make_rule(
            MACHINE,
            zones=None,
            reservations={"affinity": "Specific", "specific": [{"name": "r1", "zones": [ZONE_A]}]},
        ),
        name="reserved",
    )
    snap = snapshot(classes=[cls], pods=[_pod("r", cls="reserved")], reservations_failed=True)
    decision = _run(snap, error_retry_s=7)
    assert not _of(Provision, decision)
    assert decision.next_wake == NOW + timedelta(seconds=7)


def test_a_pod_group_no_rule_can_serve_does_not_stop_the_next_group_of_its_class() -> None:
    """A 16-GPU pod fits no machine of the class (nothing to wait for), a 8-GPU pod of the
    same class still gets its node in the same pass."""
    decision = _run(snapshot(pods=[_pod("huge", gpus=16), _pod("fits", gpus=8)]))
    assert [c.attempt.nodes for c in decision.commands if isinstance(c, Provision)] == [1]
    first, second = decision.plans["gpu"].groups
    assert (first.chosen, second.chosen is not None) == (None, True)
    assert not _of(WaitUntil, decision)
