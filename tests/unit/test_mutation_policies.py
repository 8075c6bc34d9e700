"""Behavioural tests found by mutation testing (docs/testing.md, "Mutation testing"): rules of
the disruption methods and their arbiter (policies/disruption.py) and of the decide step
(policies/decide.py) that no other unit test pinned down: preemptions are neither budgeted nor
held back by a protected pool, the consolidation wake-up, the steps of an expiring flex-start
node, the arbiter's bookkeeping, provider notices, ``nodepools`` pools being deleted, and the
wake-up of a scale-up waiting for a fresh listing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from ccc.api.values import NodePoolStatus
from ccc.api.workload import PodRequest
from policies.commands import Cause, Cordon, Delete, Drain, Provision, Replace, WaitUntil
from policies.disruption import (
    DisruptionContext,
    Proposal,
    Rejected,
    arbitrate,
    consolidation,
    disrupt,
    expiry,
    preemption,
)
from policies.inflight import NodeSlot
from policies.lifecycle import Leaving
from policies.nodes import NodeFacts, NodeProgress, node_facts
from policies.settings import Settings
from policies.snapshot import ProviderNotice
from policies.state import ControllerState, Request
from policies.tiers import compile_class
from tests.builders import NOW, catalog
from tests.unit.test_policies_decide import (
    POOL_A,
    POOL_B,
    SPOT_A,
    _class,
    _node,
    _pod,
    _pool,
    _run,
    _snapshot,
)

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


# Expiry (flex-start nodes past deadline - nodeRecycling.leadTimeSeconds):
# reference/gke-computeclass.md §4 (flex-start node recycling).

POD = PodRequest(name="p", namespace="ml", cpu_m=8000, memory_bytes=64 * 2**30, gpus=8)


def _room() -> list[NodeSlot]:
    return [NodeSlot("a-2", {}, (), 100_000, 900 * 2**30, 8, 0, 110)]


def _expiring(node: str, *, facts: NodeFacts | None = None) -> Leaving:
    return Leaving(
        node, "gpu", Cause.EXPIRY, None, NOW, (POD,), (("ml", "p"),), facts or FACTS[node]
    )


def test_expiry_handles_only_expiring_nodes_that_still_exist_even_in_a_pool_with_a_request() -> (
    None
):
    """Preempted nodes are preemption's, a node already gone has nothing left to do, and an
    expiring node in a pool with a request outstanding is still replaced (the node ends)."""
    request = Request(POOL_B, "gpu", SPOT_A, 0, 1, 2, started_at=NOW - timedelta(seconds=60))
    ctx = _ctx(
        state=ControllerState(requests={POOL_B: request}),
        leaving=(
            _leaving("a-1", Cause.PREEMPTION),
            _expiring("gone", facts=FACTS["a-1"]),
            _expiring("b-1"),
        ),
    )
    accepted, rejected = disrupt(ctx, methods=[expiry])
    assert [(p.method, p.nodes) for p in accepted] == [(Cause.EXPIRY, ("b-1",))]
    assert [type(c) for c in accepted[0].commands] == [Replace, Cordon]
    assert rejected == []


@pytest.mark.parametrize(
    ("unsatisfied", "room", "blocked"),
    [
        ({"gpu"}, False, "ReplacementUnavailable"),
        (set(), False, None),  # the replacement is on its way
        ({"gpu"}, True, None),  # its pods fit elsewhere: it drains
    ],
)
def test_an_expiring_node_whose_class_cannot_be_served_is_reported_replacement_unavailable(
    unsatisfied: set[str], room: bool, blocked: str | None
) -> None:
    ctx = _ctx(
        leaving=(_expiring("b-1"),),
        unsatisfied=frozenset(unsatisfied),
        ready_room=_room() if room else [],
    )
    [proposal] = expiry(ctx)
    assert proposal.blocked == blocked
    assert any(isinstance(c, Drain) for c in proposal.commands) is room


def test_a_refused_drain_is_not_retried_before_its_pause_ends_and_the_loop_wakes_then() -> None:
    """The last attempt, 1 s ago, was the first (retry after 2 s) and its pod is still there."""
    ctx = _ctx(
        leaving=(_expiring("b-1"),),
        ready_room=_room(),
        state=ControllerState(drains={"b-1": (NOW - timedelta(seconds=1), 1, 1)}),
    )
    [proposal] = expiry(ctx)
    assert not any(isinstance(c, Drain) for c in proposal.commands)
    waits = [c.at for c in proposal.commands if isinstance(c, WaitUntil)]
    assert waits == [NOW + timedelta(seconds=1)]


#: b-1 is drained and empty: deleted (True) or not, by what the controller is doing to it.
DELETE_ONCE = pytest.mark.parametrize(
    ("state", "deleted"),
    [
        (ControllerState(), True),
        (ControllerState(calls=frozenset({POOL_B})), False),  # wait for the call to end
        (ControllerState(removed=frozenset({"b-1"})), False),  # already asked for
    ],
    ids=["idle", "a provider call on its pool", "already removed"],
)


def drained(name: str, cause: str) -> NodeInfo:
    """A node of POOL_B whose replacement (``cause``) and drain have started."""
    started = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    annotations = {L.DISRUPTION_ANNOTATION: cause, L.DRAIN_STARTED_ANNOTATION: started}
    return replace(_node(name, POOL_B), annotations=annotations)


@DELETE_ONCE
def test_a_drained_expiring_node_is_deleted_once_and_not_while_its_pool_has_a_call(
    state: ControllerState, deleted: bool
) -> None:
    node = drained("b-1", "expiry")
    facts = node_facts([node], {"gpu": compile_class(_class(), catalog())})["b-1"]
    leaving = Leaving("b-1", "gpu", Cause.EXPIRY, None, NOW, (), (), facts)
    ctx = _ctx(
        snapshot=_snapshot(nodes=[node], pools=[_pool(POOL_B, nodes=1)]),
        leaving=(leaving,),
        state=state,
    )
    [proposal] = expiry(ctx)
    assert any(isinstance(c, Delete) for c in proposal.commands) is deleted


def test_empty_nodes_are_consolidated_without_counting_against_the_disruption_budget() -> None:
    """Nothing runs on them (reference/gke-computeclass.md §2.5 budgets disruption of running
    workloads): both empty pools go in one pass although the budget is one node."""
    hour_ago = NOW - timedelta(hours=1)
    ctx = _ctx(state=ControllerState(empty_since=dict.fromkeys(("a-1", "a-2", "b-1"), hour_ago)))
    accepted, rejected = disrupt(ctx, methods=[consolidation])
    assert sorted(p.pools for p in accepted if p.nodes) == [(POOL_A,), (POOL_B,)]
    assert rejected == []


def test_the_arbiter_judges_every_proposal_after_one_it_turns_down() -> None:
    """A migration of a node whose pool has a request outstanding is ``ProtectedReplacement``;
    one past the budget (one node) is ``MaxNodeDisruptionReached``; each later proposal is
    still judged, and a node the cluster no longer knows does not stop the arbiter."""
    request = Request(POOL_A, "gpu", SPOT_A, 0, 1, 2, started_at=NOW - timedelta(seconds=60))
    ctx = _ctx(state=ControllerState(requests={POOL_A: request}))
    proposals = [
        Proposal(Cause.MIGRATION, "gpu", ("a-1",), (), (), "guarded"),
        Proposal(Cause.MIGRATION, "gpu", ("gone",), (), (), "unknown node"),
        Proposal(Cause.MIGRATION, "gpu", ("b-1",), (), (), "over the budget"),
        Proposal(Cause.CONSOLIDATION, "gpu", ("gone",), (), (), "claimed", budgeted=False),
        Proposal(Cause.CONSOLIDATION, "gpu", ("x",), (), (), "unbudgeted", budgeted=False),
    ]
    accepted, rejected = arbitrate(proposals, ctx)
    assert [p.reason for p in accepted] == ["unknown node", "unbudgeted"]
    assert [(r.proposal.reason, r.why) for r in rejected] == [
        ("guarded", "ProtectedReplacement"),
        ("over the budget", "MaxNodeDisruptionReached"),
        ("claimed", "ClaimedByEarlierMethod"),
    ]


def test_every_node_already_being_replaced_counts_against_its_class_budget() -> None:
    """reference/gke-computeclass.md §2.5 ``maxNodeDisruption`` 2 with two nodes of the class
    already being replaced: no new node may be disrupted."""
    cc = _class(activeMigration={"reconciliationPolicy": {"maxNodeDisruption": 2}})
    busy = NodeProgress("expiry", NOW, ("elsewhere",), None).annotations()
    nodes = [replace(_node("a-1"), annotations=busy), replace(_node("a-2"), annotations=busy)]
    nodes.append(_node("b-1", POOL_B))
    facts = node_facts(nodes, {"gpu": compile_class(cc, catalog())})
    ctx = _ctx(classes={"gpu": cc}, facts=facts)
    proposal = Proposal(Cause.MIGRATION, "gpu", ("b-1",), (), (), "one more")
    assert arbitrate([proposal], ctx) == ([], [Rejected(proposal, "MaxNodeDisruptionReached")])


def test_a_scale_up_that_waits_for_a_fresh_pool_listing_wakes_the_loop_at_the_error_retry() -> None:
    """A stale listing holds back a scale-up sized from an old count (test_policies_decide),
    and the loop comes back for it after ``error_retry_s`` rather than at the next resync."""
    scale = _run(
        _snapshot(
            pods=[_pod("a1", node="a-1"), _pod("b")],
            nodes=[_node("a-1")],
            pools=[_pool(nodes=1)],
            listing="stale",
        ),
        error_retry_s=7,
    )
    assert scale.next_wake == NOW + timedelta(seconds=7)


@pytest.mark.parametrize(
    ("status", "scaled"),
    [(NodePoolStatus.RUNNING, True), (NodePoolStatus.STOPPING, False)],
    ids=["running", "being deleted"],
)
def test_a_nodepools_rule_scales_its_named_pool_unless_the_pool_is_being_deleted(
    status: NodePoolStatus, scaled: bool
) -> None:
    """reference/gke-computeclass.md §3.6: a ``nodepools`` rule uses the named existing pool;
    one the provider is deleting (STOPPING) is not there to use."""
    decision = _run(
        _snapshot(
            classes=[_class({"nodepools": [POOL_A]})],
            pods=[_pod("a1", node="a-1"), _pod("b")],
            nodes=[_node("a-1")],
            pools=[_pool(nodes=1, status=status)],
        )
    )
    scales = [
        p.attempt.node_pool
        for p in decision.commands
        if isinstance(p, Provision) and p.attempt.decision == "scale"
    ]
    assert scales == ([POOL_A] if scaled else [])


def test_a_provider_preemption_notice_starts_the_replacement_before_any_taint() -> None:
    """GCP's 30 s spot notice (a ProviderNotice) is a termination signal like the taints."""
    spot = replace(_node("a-1"), labels={**_node("a-1").labels, L.CAPACITY_TYPE_LABEL: "SPOT"})
    notice = ProviderNotice("a-1", "preemption", NOW)
    snap = _snapshot(
        nodes=[spot], pools=[_pool(nodes=1)], pods=[_pod("p", node="a-1")], notices=[notice]
    )
    decision = _run(snap)
    assert [c.nodes for c in decision.commands if isinstance(c, Replace)] == [("a-1",)]
    assert [c.node for c in decision.commands if isinstance(c, Cordon)] == ["a-1"]
