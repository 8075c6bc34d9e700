"""Behavioural tests found by mutation testing (docs/testing.md, "Mutation testing"): rules of
the disruption methods and their arbiter (policies/disruption.py) that no other unit test
pinned down: preemptions are neither budgeted nor held back by a protected pool, and the
consolidation wake-up."""

from __future__ import annotations

from datetime import timedelta

from policies.commands import Cause, WaitUntil
from policies.disruption import DisruptionContext, consolidation, disrupt, preemption
from policies.lifecycle import Leaving
from policies.nodes import node_facts
from policies.settings import Settings
from policies.state import ControllerState, Request
from policies.tiers import compile_class
from tests.builders import NOW, catalog
from tests.unit.test_policies_decide import POOL_A, POOL_B, SPOT_A, _class, _node, _pool, _snapshot

NODES = [_node("a-1"), _node("a-2"), _node("b-1", POOL_B)]
FACTS = node_facts(NODES, {"gpu": compile_class(_class(), catalog())})


def _ctx(**kw: object) -> DisruptionContext:
    fields: dict[str, object] = {
        "now": NOW,
        "snapshot": _snapshot(nodes=NODES, pools=[_pool(nodes=2), _pool(POOL_B, nodes=1)]),
        "state": ControllerState(),
        "settings": Settings(),
        "classes": {"gpu": _class()},
        "pools": {POOL_A: _pool(nodes=2), POOL_B: _pool(POOL_B, nodes=1)},
        "facts": FACTS,
        "pending_classes": frozenset(),
    }
    fields.update(kw)
    return DisruptionContext(**fields)  # type: ignore[arg-type]


def _leaving(node: str, cause: Cause) -> Leaving:
    return Leaving(node, "gpu", cause, "NotReady", None, (), (), FACTS[node])


def test_every_preempted_spot_node_is_handled_beyond_the_budget_and_in_a_pool_with_a_request() -> (
    None
):
    """reference/gke-computeclass.md §2.5: ``maxNodeDisruption`` limits the nodes ccc chooses
    to disrupt; a spot preemption is the cloud's choice, so each preempted node gets its
    replacement and cordon even when the class's budget (default 1) is used up, when its pool
    has a node pool request outstanding (POOL_A here), and whatever else is leaving first."""
    request = Request(POOL_A, "gpu", SPOT_A, 0, 1, 2, started_at=NOW - timedelta(seconds=60))
    ctx = _ctx(
        state=ControllerState(requests={POOL_A: request}),
        leaving=(
            _leaving("a-1", Cause.EXPIRY),
            _leaving("a-2", Cause.PREEMPTION),
            _leaving("b-1", Cause.PREEMPTION),
        ),
    )
    accepted, rejected = disrupt(ctx, methods=[preemption])
    assert [(p.method, p.nodes) for p in accepted] == [
        (Cause.PREEMPTION, ("a-2",)),
        (Cause.PREEMPTION, ("b-1",)),
    ]
    assert rejected == []


def _wakes(ctx: DisruptionContext) -> list[object]:
    return [c.at for p in consolidation(ctx) for c in p.commands if isinstance(c, WaitUntil)]


def test_the_consolidation_wake_up_skips_empty_nodes_that_are_gone_and_keeps_the_others() -> None:
    """A node recorded empty that has since left the cluster (no facts) neither stops the
    wake-up of the nodes after it nor breaks the pass."""
    since = NOW - timedelta(minutes=4)
    ctx = _ctx(state=ControllerState(empty_since={"gone": since, "a-2": since}))
    assert _wakes(ctx) == [since + Settings().default_consolidation_delay]


def test_a_pool_whose_class_is_gone_is_woken_for_after_the_default_consolidation_delay() -> None:
    since = NOW - timedelta(minutes=1)
    ctx = _ctx(classes={}, state=ControllerState(empty_since={"b-1": since}))
    assert _wakes(ctx) == [since + Settings().default_consolidation_delay]


def test_no_wake_up_is_set_for_a_node_whose_delay_ends_now_it_goes_in_this_pass() -> None:
    since = NOW - Settings().default_consolidation_delay
    ctx = _ctx(state=ControllerState(empty_since={"b-1": since}))
    [delete] = [c for p in consolidation(ctx) for c in p.commands]
    assert not isinstance(delete, WaitUntil) and delete.pool == POOL_B
