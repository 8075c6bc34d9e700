"""Behavioural tests found by mutation testing (docs/testing.md, "Mutation testing"): the
migration method of policies/disruption.py (active migration to a preferred rule,
reference/gke-computeclass.md §2.5 ``activeMigration``) and when consolidation runs at all."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from policies.commands import Cause, Delete, Drain, WaitUntil
from policies.disruption import DisruptionContext, consolidation, disrupt, migration
from policies.inflight import NodeSlot
from policies.lifecycle import Leaving
from policies.migration import Candidate
from policies.nodes import node_facts
from policies.settings import Settings
from policies.state import ControllerState
from policies.tiers import compile_class
from tests.builders import NOW, catalog
from tests.unit.test_mutation_policies import DELETE_ONCE, POD, _ctx, drained
from tests.unit.test_policies_decide import POOL_B, _class, _node, _pool, _snapshot


def _room(name: str = "a-2") -> NodeSlot:
    """Ready room on a node of the preferred rule 0, where a migrating node's pod fits (a new
    slot each time: the methods consume the room they use)."""
    return NodeSlot(
        name, {L.CLASS_LABEL: "gpu", L.RULE_INDEX_LABEL: "0"}, (), 100_000, 2**40, 8, 0, 9
    )


def _candidate(node: NodeInfo, *, in_progress: bool = False, pods: int = 1) -> Candidate:
    facts = node_facts([node], {"gpu": compile_class(_class(), catalog())})[node.name]
    demand, names = ((POD,), (("ml", "p"),)) if pods else ((), ())
    leaving = Leaving(node.name, "gpu", Cause.MIGRATION, None, None, demand, names, facts)
    return Candidate(leaving, 1, frozenset({0}), frozenset(), in_progress)


def _with(ctx: DisruptionContext, *nodes: NodeInfo) -> DisruptionContext:
    return replace(ctx, snapshot=_snapshot(nodes=nodes, pools=[_pool(POOL_B, nodes=len(nodes))]))


def test_each_new_migration_counts_against_the_budget_and_a_gone_node_is_skipped() -> None:
    """Default ``maxNodeDisruption`` 1: of two lower-rule nodes that may move, one moves."""
    b1, b2 = _node("b-1", POOL_B), _node("b-2", POOL_B)
    ctx = _ctx(
        migrating=(_candidate(_node("gone")), _candidate(b1), _candidate(b2)),
        ready_room=[_room(), _room("a-3")],
    )
    accepted, rejected = disrupt(_with(ctx, b1, b2), methods=[migration])
    assert [(p.method, p.class_name, p.nodes) for p in accepted] == [
        (Cause.MIGRATION, "gpu", ("b-1",))
    ]
    assert any(isinstance(c, Drain) for c in accepted[0].commands)
    assert [(r.proposal.nodes, r.why) for r in rejected] == [(("b-2",), "MaxNodeDisruptionReached")]


def test_a_refused_migration_drain_waits_for_its_pause_before_it_is_tried_again() -> None:
    b1 = _node("b-1", POOL_B)
    ctx = _ctx(
        migrating=(_candidate(b1),),
        ready_room=[_room()],
        state=ControllerState(drains={"b-1": (NOW - timedelta(seconds=1), 1, 1)}),
    )
    [proposal] = migration(_with(ctx, b1))
    assert not any(isinstance(c, Drain) for c in proposal.commands)
    assert [c.at for c in proposal.commands if isinstance(c, WaitUntil)] == [
        NOW + timedelta(seconds=1)
    ]


@pytest.mark.parametrize(
    ("attempts", "pods_last_time", "blocked"),
    [
        (2, 1, "PodDisruptionBudget"),  # refused twice, nothing left the node
        (1, 1, None),  # refused once: too early to call it blocked
        (2, 2, None),  # a pod left since the last attempt: the drain makes progress
    ],
)
def test_a_migration_drain_refused_again_and_again_is_reported_blocked_by_a_pdb(
    attempts: int, pods_last_time: int, blocked: str | None
) -> None:
    b1 = _node("b-1", POOL_B)
    last = (NOW - timedelta(minutes=5), attempts, pods_last_time)
    ctx = _ctx(
        migrating=(_candidate(b1),),
        ready_room=[_room()],
        state=ControllerState(drains={"b-1": last}),
    )
    [proposal] = migration(_with(ctx, b1))
    assert proposal.blocked == blocked


def test_a_migration_drain_past_the_class_pdb_timeout_is_reported_blocked() -> None:
    """``nodePoolConfig.nodeDrainConfig.pdbTimeoutDuration`` of the node's class."""
    cc = _class(nodePoolConfig={"nodeDrainConfig": {"pdbTimeoutDuration": "60s"}})
    started = (NOW - timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    b1 = replace(
        _node("b-1", POOL_B),
        annotations={L.DISRUPTION_ANNOTATION: "migration", L.DRAIN_STARTED_ANNOTATION: started},
    )
    ctx = _ctx(classes={"gpu": cc}, migrating=(_candidate(b1, in_progress=True),))
    [proposal] = disrupt(_with(ctx, b1), methods=[migration])[0]
    assert proposal.blocked == "PodDisruptionBudget"
    assert not any(isinstance(c, Drain) for c in proposal.commands)


@DELETE_ONCE
def test_a_drained_migrating_node_is_deleted_once_and_not_while_its_pool_has_a_call(
    state: ControllerState, deleted: bool
) -> None:
    b1 = drained("b-1", "migration")
    ctx = _ctx(migrating=(_candidate(b1, in_progress=True, pods=0),), state=state)
    proposals = migration(_with(ctx, b1))
    assert any(isinstance(c, Delete) for p in proposals for c in p.commands) is deleted


@pytest.mark.parametrize(
    ("settings", "listing"),
    [(Settings(scale_down_enabled=False), "fresh"), (Settings(), "stale")],
    ids=["scale-down disabled", "pool listing not fresh"],
)
def test_consolidation_does_nothing_when_scale_down_is_off_or_the_pools_are_not_known(
    settings: Settings, listing: str
) -> None:
    nodes = [_node("b-1", POOL_B)]
    ctx = _ctx(
        settings=settings,
        snapshot=_snapshot(nodes=nodes, pools=[_pool(POOL_B, nodes=1)], listing=listing),
        state=ControllerState(empty_since={"b-1": NOW - timedelta(hours=1)}),
    )
    assert consolidation(ctx) == ()
