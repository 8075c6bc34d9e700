"""Disruption: the methods' fixed order, the arbiter between them, consolidation, node facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ccc.api import labels as L
from ccc.api.values import Taint
from policies.commands import Cause, Delete
from policies.disruption import (
    METHODS,
    DisruptionContext,
    Proposal,
    consolidation,
    disrupt,
    expiry,
    migration,
    preemption,
)
from policies.nodes import NodeProgress, deadline_of, node_facts
from policies.settings import Settings
from policies.state import ControllerState, Observed, Request, reduce
from policies.tiers import compile_class
from tests.builders import NOW, catalog, make_rule
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


def test_the_methods_run_in_the_order_preemption_expiry_migration_consolidation() -> None:
    assert (preemption, expiry, migration, consolidation) == METHODS


def _ctx(**kw: object) -> DisruptionContext:
    nodes = [_node("a-1"), _node("a-2"), _node("b-1", POOL_B)]
    snap = _snapshot(nodes=nodes, pools=[_pool(nodes=2), _pool(POOL_B, nodes=1)])
    cc = _class()
    compiled = {"gpu": compile_class(cc, catalog())}
    fields: dict[str, object] = {
        "now": NOW,
        "snapshot": snap,
        "state": ControllerState(),
        "settings": Settings(),
        "classes": {"gpu": cc},
        "pools": {},
        "facts": node_facts(nodes, compiled),
        "pending_classes": frozenset(),
    }
    fields.update(kw)
    return DisruptionContext(**fields)  # type: ignore[arg-type]


def _proposal(method: Cause, *nodes: str, budgeted: bool = True) -> Proposal:
    return Proposal(method, "gpu", nodes, (), (), f"{method.value} {nodes}", budgeted=budgeted)


def test_a_node_claimed_by_an_earlier_method_is_left_alone_by_later_ones() -> None:
    accepted, rejected = disrupt(
        _ctx(),
        methods=[
            lambda _: [_proposal(Cause.PREEMPTION, "a-1", budgeted=False)],
            lambda _: [_proposal(Cause.CONSOLIDATION, "a-1", budgeted=False)],
        ],
    )
    assert [p.method for p in accepted] == [Cause.PREEMPTION]
    assert [(r.proposal.method, r.why) for r in rejected] == [
        (Cause.CONSOLIDATION, "ClaimedByEarlierMethod")
    ]


def test_budgeted_methods_stay_within_max_node_disruption_counting_nodes_in_progress() -> None:
    busy = replace(
        _node("b-1", POOL_B),
        annotations=NodeProgress("expiry", NOW, ("elsewhere",), None).annotations(),
    )
    nodes = [_node("a-1"), _node("a-2"), busy]
    cc = _class(activeMigration={"reconciliationPolicy": {"maxNodeDisruption": 2}})
    facts = node_facts(nodes, {"gpu": compile_class(cc, catalog())})
    accepted, rejected = disrupt(
        _ctx(classes={"gpu": cc}, facts=facts),
        methods=[
            lambda _: [_proposal(Cause.MIGRATION, "a-1"), _proposal(Cause.MIGRATION, "a-2")],
        ],
    )
    assert [p.nodes for p in accepted] == [("a-1",)]
    assert [r.why for r in rejected] == ["MaxNodeDisruptionReached"]


def test_consolidation_never_removes_a_pool_that_a_replacement_is_drained_toward() -> None:
    """Node a-1 is being replaced into pool B; pool B's node is empty (it was provisioned
    ahead of the drain) and past the consolidation delay: it must stay."""
    old = replace(
        _node("a-1"),
        annotations=NodeProgress("expiry", NOW, (POOL_B,), None).annotations(),
    )
    nodes = [old, _node("b-1", POOL_B)]
    pools = [_pool(nodes=1), _pool(POOL_B, nodes=1)]
    pods = [_pod("on-a", node="a-1")]
    state = reduce(
        ControllerState(), Observed(_snapshot(nodes=nodes, pools=pools, pods=pods, at=-3600))
    )
    decision = _run(_snapshot(nodes=nodes, pools=pools, pods=pods), state)
    assert [c for c in decision.commands if isinstance(c, Delete)] == []
    assert [(r.proposal.pools or r.proposal.nodes, r.why) for r in decision.rejected] == [
        ((POOL_B,), "ProtectedReplacement")
    ]


def test_consolidation_never_removes_a_pool_with_a_request_outstanding() -> None:
    nodes, pools = [_node("a-1")], [_pool(nodes=2)]
    request = Request(
        POOL_A,
        "gpu",
        SPOT_A,
        0,
        1,
        2,
        started_at=NOW - timedelta(seconds=60),
        accepted_at=NOW - timedelta(seconds=50),
    )
    state = reduce(
        ControllerState(requests={POOL_A: request}),
        Observed(_snapshot(nodes=nodes, pools=pools, at=-3600)),
    )
    decision = _run(_snapshot(nodes=nodes, pools=pools, node_counts={POOL_A: 1}), state)
    assert [c for c in decision.commands if isinstance(c, Delete)] == []


def test_empty_nodes_go_after_the_delay_and_the_loop_is_woken_when_it_ends() -> None:
    nodes = [_node("a-1"), _node("a-2")]
    pools = [_pool(nodes=2)]
    pods = [_pod("busy", node="a-1")]
    cc = _class(autoscalingPolicy={"consolidationDelayMinutes": 10})
    state = reduce(
        ControllerState(),
        Observed(_snapshot(classes=[cc], nodes=nodes, pools=pools, pods=pods, at=-300)),
    )
    early = _run(_snapshot(classes=[cc], nodes=nodes, pools=pools, pods=pods), state)
    assert [c for c in early.commands if isinstance(c, Delete)] == []
    assert early.next_wake == NOW + timedelta(minutes=5)
    later = _snapshot(classes=[cc], nodes=nodes, pools=pools, pods=pods, at=300)
    [delete] = [c for c in _run(later, state).commands if isinstance(c, Delete)]
    assert delete.nodes == ("a-2",) and delete.cause is Cause.CONSOLIDATION


def test_node_facts_carry_deadlines_spot_signals_and_rule_rank() -> None:
    cc = _class(make_rule("a3-highgpu-8g", spot=True), make_rule("a3-highgpu-8g"))
    compiled = {"gpu": compile_class(cc, catalog())}
    end = datetime(2026, 12, 1, tzinfo=UTC)
    flex = replace(
        _node("f"),
        labels={**_node("f").labels, L.RULE_INDEX_LABEL: "1"},
        annotations={L.FLEX_START_DEADLINE_ANNOTATION: "2026-12-01T00:00:00Z"},
    )
    spot = replace(
        _node("s"),
        labels={**_node("s").labels, L.CAPACITY_TYPE_LABEL: "spot"},
        taints=(Taint(key=L.IMPENDING_TERMINATION_TAINT, value="true"),),
    )
    facts = node_facts([flex, spot], compiled)
    assert facts["f"].deadline == end and facts["f"].rule_rank == 1 and facts["f"].signal is None
    assert facts["s"].signal == L.IMPENDING_TERMINATION_TAINT and facts["s"].rule_rank == 0
    gke = replace(
        _node("g"),
        labels={**_node("g").labels, L.GKE_MAX_RUN_DURATION_LABEL: "3600"},
    )
    assert deadline_of(gke) == gke.creation_timestamp + timedelta(hours=1)  # type: ignore[operator]


def test_replacement_progress_round_trips_through_node_annotations() -> None:
    progress = NodeProgress("expiry", NOW, (POOL_A, POOL_B), NOW + timedelta(minutes=3))
    node = replace(_node("x"), annotations=progress.annotations())
    assert NodeProgress.of(node) == progress
    assert NodeProgress.of(_node("y")) is None
