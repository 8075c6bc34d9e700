"""Rules of the decide step (policies/decide.py): what one pass concludes from a snapshot and a
state, as table tests (reference/gke-computeclass.md sections cited where the rule is GKE's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ccc.api import labels as L
from ccc.api.computeclass import ComputeClass
from ccc.api.values import CapacityType, NodePoolName, OfferingKey, ReservationCapacity
from policies.commands import Cause, Drain, Provision, WaitUntil
from policies.naming import node_pool_name
from policies.obtainability import Unavailability
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState, ErrorInfo, Failure, Issued, reduce
from tests.builders import NOW, make_class, make_node, make_rule
from tests.unit.test_policies_decide import MACHINE, ZONE_A, ZONE_B, _class, _of, _pod, _pool, _run
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


# -- active migration inside the pass (gke-computeclass.md §2.5, §3.5) ---------------------------


def _migrating_class(first: dict[str, object]) -> ComputeClass:
    """Rule 0 ``first``, rule 1 on-demand, with ``optimizeRulePriority``."""
    return make_class(first, make_rule(MACHINE), activeMigration={"optimizeRulePriority": True})


def _on_demand_node(cc: ComputeClass, **kw: object) -> ClusterSnapshot:
    """One rule-1 (on-demand) node running one pod, that migration wants on rule 0."""
    pool = node_pool_name("gpu", 1, MACHINE, ZONE_A, CapacityType.ON_DEMAND)
    node = make_node(
        "od-0",
        pool=pool,
        labels={
            L.RULE_INDEX_LABEL: "1",
            L.CAPACITY_TYPE_LABEL: CapacityType.ON_DEMAND.value,
            L.MACHINE_TYPE_LABEL: MACHINE,
            L.ZONE_LABEL: ZONE_A,
        },
    )
    od_pool = _pool(nodes=1).model_copy(
        update={
            "name": NodePoolName(pool),
            "capacity_type": CapacityType.ON_DEMAND,
            "rule_index": 1,
        }
    )
    pods = [_pod("p", node="od-0")]
    return snapshot(classes=[cc], nodes=[node], pods=pods, pools=[od_pool], **kw)


def test_a_migration_skips_an_offering_whose_stockout_is_judged_in_the_same_pass() -> None:
    """A request for spot in zone a just failed with a stockout: the migration of the
    on-demand node, walked in the same pass, goes to zone b, not to the offering that has just
    been found out of capacity (lifecycle-and-serving.md A2: the move needs a valid option)."""
    cc = _migrating_class(make_rule(MACHINE, spot=True))
    [first] = _of(Provision, _run(snapshot(classes=[cc], pods=[_pod("b")])))
    assert isinstance(first, Provision) and first.attempt.zone == ZONE_A
    stockout = ErrorInfo(result="stockout", code="ZONE_RESOURCE_POOL_EXHAUSTED")
    state = replace(ControllerState(), failures=(Failure(first, stockout, NOW),))
    decision = _run(_on_demand_node(cc), state)
    moves = [c for c in decision.commands if isinstance(c, Provision)]
    assert [(p.cause, p.attempt.zone) for p in moves] == [(Cause.MIGRATION, ZONE_B)]


def test_a_migration_toward_a_reservation_waits_while_reservations_cannot_be_listed() -> None:
    """The preferred rule consumes a Specific reservation and the listing failed: the move
    waits for a listing (it does not guess the reservation's room), the pass still completes
    and the loop comes back after the error retry."""
    cc = _migrating_class(
        make_rule(
            MACHINE,
            zones=None,
            reservations={"affinity": "Specific", "specific": [{"name": "r1", "zones": [ZONE_A]}]},
        )
    )
    decision = _run(_on_demand_node(cc, reservations_failed=True), error_retry_s=9)
    assert not _of(Provision, decision)
    assert decision.next_wake == NOW + timedelta(seconds=9)


def test_a_migrating_node_whose_drain_is_past_the_pdb_timeout_is_reported_blocked_by_a_pdb() -> (
    None
):
    """lifecycle-and-serving.md A4: ``status.migration`` counts a node whose evictions a
    PodDisruptionBudget kept refusing past ``pdbTimeoutDuration`` as blocked with GKE's reason
    ``PodDisruptionBudget``, not as migrating."""
    cc = make_class(
        make_rule(MACHINE, spot=True),
        make_rule(MACHINE),
        activeMigration={"optimizeRulePriority": True},
        nodePoolConfig={"nodeDrainConfig": {"pdbTimeoutDuration": "60s"}},
    )
    snap = _on_demand_node(cc)
    started = (NOW - timedelta(seconds=61)).strftime("%Y-%m-%dT%H:%M:%SZ")
    [node] = snap.nodes
    draining = replace(
        node,
        unschedulable=True,
        annotations={
            L.DISRUPTION_ANNOTATION: Cause.MIGRATION.value,
            L.DRAIN_STARTED_ANNOTATION: started,
        },
    )
    decision = _run(replace(snap, nodes=(draining,)))
    counts = decision.migration["gpu"]
    assert (counts.migrating, dict(counts.blocked)) == (0, {"PodDisruptionBudget": 1})


def test_a_migration_held_back_by_a_request_on_its_pool_is_still_reported_migrating() -> None:
    """The on-demand pool of a migrating node has a scale-up outstanding, so nothing but a
    preemption may shrink it this pass (its drain waits). ``status.migration`` still counts
    the node as migrating: the class's disruption budget is not what holds it."""
    cc = _migrating_class(make_rule(MACHINE, spot=True))
    spot_a = OfferingKey(machine_type=MACHINE, zone=ZONE_A, capacity_type=CapacityType.SPOT)
    spot_b = spot_a.model_copy(update={"zone": ZONE_B})
    marks = [
        Unavailability(k, "GCE_STOCKOUT", "", 1, NOW, NOW + timedelta(hours=1))
        for k in (spot_a, spot_b)
    ]
    full = ControllerState.restored(memory={"gpu": marks})
    [scale_up] = _of(Provision, _run(snapshot(classes=[cc], pods=[_pod("b")]), full))
    assert isinstance(scale_up, Provision) and scale_up.attempt.rule == 1
    state = reduce(ControllerState(), Issued((scale_up,), NOW))
    snap = _on_demand_node(cc)
    [node] = snap.nodes
    moving = replace(node, annotations={L.DISRUPTION_ANNOTATION: Cause.MIGRATION.value})
    spot_node = make_node("sp-0", pool=node_pool_name("gpu", 0, MACHINE, ZONE_A, CapacityType.SPOT))
    decision = _run(replace(snap, nodes=(moving, spot_node)), state)
    assert not [c for c in decision.commands if isinstance(c, Drain)]
    assert [(r.proposal.nodes, r.why) for r in decision.rejected] == [
        (("od-0",), "ProtectedReplacement")
    ]
    counts = decision.migration["gpu"]
    assert (counts.migrating, dict(counts.blocked)) == (1, {})
