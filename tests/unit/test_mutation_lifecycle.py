"""Behavioural tests found by mutation testing (docs/testing.md, "Mutation testing"): how the
decide step (policies/decide.py) treats nodes that are going away (reference/gke-computeclass.md
§4, flex-start node recycling): their room is not room, and an expiring node nothing can
replace is reported."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ccc.api import labels as L
from ccc.api.values import CapacityType, OfferingKey
from policies.commands import Drain, Provision
from policies.obtainability import Unavailability
from policies.state import ControllerState
from tests.builders import NOW
from tests.unit.test_policies_decide import MACHINE, ZONE_A, _node, _pod, _pool, _run, _snapshot
from tests.unit.test_policies_lifecycle import _flex_class, _flex_node

EXPIRING = {L.DISRUPTION_ANNOTATION: "expiry"}


def test_an_expiring_node_nothing_can_replace_is_reported_replacement_unavailable() -> None:
    """The class's only offering is backing off after a stockout: the node keeps running and
    is reported, not drained toward room that does not exist."""
    flex = OfferingKey(machine_type=MACHINE, zone=ZONE_A, capacity_type=CapacityType.FLEX_START)
    mark = Unavailability(flex, "GCE_STOCKOUT", "", 1, NOW, NOW + timedelta(minutes=5))
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[_flex_node("a-1", ends_in_s=300)],
        pools=[_pool(nodes=1)],
        pods=[_pod("p", node="a-1")],
    )
    decision = _run(snap, ControllerState.restored(memory={"gpu": [mark]}))
    assert decision.blocked == (("gpu", "a-1", "ReplacementUnavailable"),)
    assert not [c for c in decision.commands if isinstance(c, Drain)]


def test_an_expiring_node_is_not_drained_onto_its_own_free_room() -> None:
    """a-1 ends in 5 minutes with half its GPUs free: its 4-GPU pod waits for a replacement
    rather than being "drained" onto a-1's own free half."""
    old = _flex_node("a-1", ends_in_s=300, annotations=EXPIRING)
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[old],
        pools=[_pool(nodes=1)],
        pods=[_pod("p", node="a-1", gpus=4)],
    )
    assert not [c for c in _run(snap).commands if isinstance(c, Drain)]


def test_a_pending_pod_gets_a_new_node_not_the_room_of_a_node_being_recycled() -> None:
    empty = _flex_node("a-1", ends_in_s=300)
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[empty],
        pools=[_pool(nodes=1)],
        pods=[_pod("b")],
    )
    decision = _run(snap)
    assert sum(c.attempt.nodes for c in decision.commands if isinstance(c, Provision)) == 1


def test_a_not_ready_node_counts_as_coming_room_only_for_the_configured_grace() -> None:
    """A node that is not Ready for 3 minutes: still booting under the default 5-minute grace
    (the pending pod waits for it), given up on with a 1-minute grace (a new node is made)."""
    booting = replace(_node("a-1"), ready=False, creation_timestamp=NOW - timedelta(minutes=3))
    snap = _snapshot(nodes=[booting], pools=[_pool(nodes=1)], pods=[_pod("b")])

    def provisioned(**settings: object) -> int:
        decision = _run(snap, **settings)
        return sum(c.attempt.nodes for c in decision.commands if isinstance(c, Provision))

    assert provisioned() == 0
    assert provisioned(not_ready_grace=timedelta(minutes=1)) == 1
