"""Active migration in the pure decide step (``activeMigration.optimizeRulePriority``), as table
tests per rule and properties.

GKE rules encoded, by section: gke-computeclass.md §2.5 (optimizeRulePriority,
reconciliationPolicy.maxNodeDisruption, create before delete), §3.5 (create for a higher rule,
then drain and delete the lower-priority nodes, respecting PDBs);
/work/shared/reference/lifecycle-and-serving.md A2 (strictly higher priority group, 5-minute
failure backoff, budget counting every disrupted node of the class) and A4 (status.migration,
blocked reasons).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.values import CapacityType, NodePool, NodePoolName, OfferingKey
from policies.commands import Cause, Cordon, Delete, Drain, Provision, Replace, WaitUntil
from policies.decide import Decision
from policies.migration import MIGRATION_BACKOFF, hold_key
from policies.naming import node_pool_name
from policies.obtainability import Unavailability
from policies.state import ControllerState, ErrorInfo, Failure, Issued, reduce
from tests.builders import NOW, make_class, make_rule
from tests.unit.test_policies_decide import (
    MACHINE,
    ZONE_A,
    _node,
    _of,
    _pod,
    _pool,
    _run,
    _snapshot,
)

POOL_OD = node_pool_name("gpu", 1, MACHINE, ZONE_A, CapacityType.ON_DEMAND)
SPOT = [
    OfferingKey(machine_type=MACHINE, zone=z, capacity_type=CapacityType.SPOT)
    for z in ("us-central1-a", "us-central1-b")
]


def _class(
    budget: int | None = None, *, migrate: bool = True, scores: tuple[int, int] | None = None
) -> ComputeClass:
    spot, od = make_rule(MACHINE, spot=True), make_rule(MACHINE)
    if scores is not None:
        spot["priorityScore"], od["priorityScore"] = scores
    am: dict[str, Any] = {"optimizeRulePriority": migrate}
    if budget is not None:
        am["reconciliationPolicy"] = {"maxNodeDisruption": budget}
    return make_class(spot, od, activeMigration=am)


def _od_pool(nodes: int) -> NodePool:
    return _pool(nodes=nodes).model_copy(
        update={
            "name": NodePoolName(POOL_OD),
            "capacity_type": CapacityType.ON_DEMAND,
            "rule_index": 1,
        }
    )


def _od_node(name: str, **changes: Any) -> NodeInfo:
    node = _node(name, POOL_OD)
    labels = {
        **node.labels,
        L.RULE_INDEX_LABEL: "1",
        L.CAPACITY_TYPE_LABEL: CapacityType.ON_DEMAND.value,
        L.MACHINE_TYPE_LABEL: MACHINE,
        L.ZONE_LABEL: ZONE_A,
    }
    return replace(node, labels=labels, **changes)


def _on_demand(n: int, cc: ComputeClass, *, spot_nodes: int = 0, **kw: Any) -> Any:
    """``n`` on-demand (rule 1) nodes with one 8-GPU pod each, and ``spot_nodes`` empty Ready
    spot (rule 0) nodes."""
    nodes = [_od_node(f"od-{i}") for i in range(n)] + [_node(f"sp-{i}") for i in range(spot_nodes)]
    pods = [_pod(f"p-{i}", node=f"od-{i}") for i in range(n)]
    pools = [_od_pool(n)] + ([_pool(nodes=spot_nodes)] if spot_nodes else [])
    return _snapshot(classes=[cc], nodes=nodes, pods=pods, pools=pools, **kw)


def _migration(decision: Decision) -> tuple[int, int, dict[str, int]]:
    m = decision.migration["gpu"]
    return m.current, m.migrating, dict(m.blocked)


# -- §3.5: create for a higher rule first, then drain and delete ---------------------------------


def test_a_lower_rule_node_gets_a_replacement_on_the_higher_rule_and_is_left_alone_meanwhile() -> (
    None
):
    decision = _run(_on_demand(1, _class()))
    [p] = _of(Provision, decision)
    assert isinstance(p, Provision)
    assert (p.cause, p.attempt.rule, p.attempt.capacity_type) == (
        Cause.MIGRATION,
        0,
        CapacityType.SPOT,
    )
    assert not _of(Replace, decision) and not _of(Cordon, decision) and not _of(Drain, decision)
    assert _migration(decision) == (0, 1, {})


def test_once_its_pods_fit_on_a_ready_higher_rule_node_it_is_replaced_cordoned_and_drained() -> (
    None
):
    decision = _run(_on_demand(1, _class(), spot_nodes=1))
    assert not _of(Provision, decision)
    kinds = [type(c) for c in decision.commands if isinstance(c, Replace | Cordon | Drain)]
    assert kinds == [Replace, Cordon, Drain]
    [replace_] = _of(Replace, decision)
    assert isinstance(replace_, Replace) and replace_.cause is Cause.MIGRATION
    assert replace_.nodes == ("od-0",)


def test_a_migrating_node_that_is_drained_is_deleted() -> None:
    annotations = {
        L.DISRUPTION_ANNOTATION: "migration",
        L.DRAIN_STARTED_ANNOTATION: "2026-01-01T00:00:00Z",
    }
    node = _od_node("od-0", unschedulable=True, annotations=annotations)
    snap = _snapshot(
        classes=[_class()],
        nodes=[node, _node("sp-0")],
        pools=[_od_pool(1), _pool(nodes=1)],
        pods=[_pod("p", node="sp-0")],
    )
    [delete] = _of(Delete, _run(snap))
    assert isinstance(delete, Delete)
    assert (delete.nodes, delete.cause) == (("od-0",), Cause.MIGRATION)


# -- §2.5: only with optimizeRulePriority; A2: strictly higher groups only ----------------------


def test_a_class_without_optimize_rule_priority_never_migrates() -> None:
    decision = _run(_on_demand(2, _class(migrate=False), spot_nodes=2))
    assert not _of(Replace, decision) and not _of(Provision, decision)
    assert "gpu" not in decision.migration


def test_rules_of_equal_priority_score_are_one_group_and_never_migrate_to_each_other() -> None:
    decision = _run(_on_demand(1, _class(scores=(5, 5)), spot_nodes=1))
    assert not _of(Replace, decision) and not _of(Provision, decision)
    assert _migration(decision) == (2, 0, {})


def test_a_higher_priority_score_is_a_higher_group() -> None:
    decision = _run(_on_demand(1, _class(scores=(9, 5)), spot_nodes=1))
    assert [type(c) for c in decision.commands if isinstance(c, Replace)] == [Replace]


def test_nodes_on_the_best_rule_are_current_and_never_move() -> None:
    snap = _snapshot(
        classes=[_class()],
        nodes=[_node("sp-0")],
        pools=[_pool(nodes=1)],
        pods=[_pod("p", node="sp-0")],
    )
    decision = _run(snap)
    assert not _of(Replace, decision)
    assert _migration(decision) == (1, 0, {})


# -- hysteresis: never toward an offering that failed or was preempted within its backoff ------


def test_no_move_toward_an_offering_in_its_stockout_or_preemption_backoff() -> None:
    marks = [
        Unavailability(
            key=k, reason=r, message="", failures=1, since=NOW, until=NOW + timedelta(minutes=3)
        )
        for k, r in zip(SPOT, ("ZONE_RESOURCE_POOL_EXHAUSTED", "PREEMPTED"), strict=True)
    ]
    state = ControllerState.restored(memory={"gpu": marks})
    decision = _run(_on_demand(1, _class()), state)
    assert not [
        p
        for p in _of(Provision, decision)
        if isinstance(p, Provision) and p.cause is Cause.MIGRATION
    ]
    assert _migration(decision) == (0, 0, {"ReplacementUnavailable": 1})
    # the loop wakes when the backoff ends, to try again
    assert decision.next_wake == NOW + timedelta(minutes=3)


# -- A2: budget per class, counting nodes disrupted for any cause ---------------------------------


def test_the_default_budget_moves_one_node_at_a_time() -> None:
    decision = _run(_on_demand(3, _class(), spot_nodes=3))
    assert [c.nodes for c in _of(Replace, decision)] == [("od-0",)]  # type: ignore[attr-defined]
    assert _migration(decision) == (3, 1, {"MaxNodeDisruptionReached": 2})


def test_max_node_disruption_moves_that_many_at_once() -> None:
    decision = _run(_on_demand(3, _class(budget=2), spot_nodes=3))
    assert len(_of(Replace, decision)) == 2
    assert _migration(decision) == (3, 2, {"MaxNodeDisruptionReached": 1})


def test_a_node_being_replaced_for_another_cause_uses_the_budget() -> None:
    snap = _on_demand(2, _class(), spot_nodes=2)
    busy = replace(
        snap.nodes[0], annotations={L.DISRUPTION_ANNOTATION: "expiry"}, unschedulable=True
    )
    decision = _run(replace(snap, nodes=(busy, *snap.nodes[1:])))
    assert not [
        c for c in _of(Replace, decision) if isinstance(c, Replace) and c.cause is Cause.MIGRATION
    ]
    assert _migration(decision)[2] == {"MaxNodeDisruptionReached": 1}


def test_a_preempted_lower_rule_node_is_preemptions_not_migrations() -> None:
    from ccc.api.values import Taint

    notice = Taint(key=L.IMPENDING_TERMINATION_TAINT, value="true", effect="NoSchedule")
    snap = _on_demand(1, _class(), spot_nodes=1)
    tainted = replace(snap.nodes[0], taints=(*snap.nodes[0].taints, notice))
    decision = _run(replace(snap, nodes=(tainted, *snap.nodes[1:])))
    assert {c.cause for c in _of(Replace, decision)} == {Cause.PREEMPTION}  # type: ignore[attr-defined]


# -- A2: a failed migration backs off 5 minutes -------------------------------------------------


def test_a_failed_replacement_backs_migration_off_for_five_minutes() -> None:
    snap = _on_demand(1, _class())
    [p] = _of(Provision, _run(snap))
    assert isinstance(p, Provision)
    failed = Failure(p, ErrorInfo(result="stockout", code="ZONE_RESOURCE_POOL_EXHAUSTED"), NOW)  # type: ignore[arg-type]
    state = replace(ControllerState(), failures=(failed,))
    decision = _run(snap, state)
    [hold] = [
        w
        for w in _of(WaitUntil, decision)
        if isinstance(w, WaitUntil) and w.hold == hold_key("gpu", 0)
    ]
    assert isinstance(hold, WaitUntil) and hold.at == NOW + MIGRATION_BACKOFF
    after = reduce(ControllerState(), Issued(decision.commands, NOW))
    later = _run(replace(snap, now=NOW + timedelta(minutes=4)), after)
    assert _migration(later)[2] == {"RecentMigrationFailure": 1}
    assert not _of(Provision, later)
    done = _run(replace(snap, now=NOW + MIGRATION_BACKOFF + timedelta(seconds=1)), after)
    assert [c.cause for c in _of(Provision, done)] == [Cause.MIGRATION]  # type: ignore[attr-defined]


def test_a_pass_that_finds_migration_held_wakes_when_the_hold_ends() -> None:
    """A later pass (any event) that finds the node blocked by RecentMigrationFailure must still
    wake the loop at the hold's end: without the wake, the move back waits for an unrelated
    event (in ``ccc simulate``, the 24-hour resync)."""
    snap = _on_demand(1, _class())
    [p] = _of(Provision, _run(snap))
    failed = Failure(p, ErrorInfo(result="stockout", code="ZONE_RESOURCE_POOL_EXHAUSTED"), NOW)  # type: ignore[arg-type]
    first = _run(snap, replace(ControllerState(), failures=(failed,)))
    after = reduce(ControllerState(), Issued(first.commands, NOW))

    later = _run(replace(snap, now=NOW + timedelta(minutes=2)), after)

    assert _migration(later)[2] == {"RecentMigrationFailure": 1}
    wakes = [w for w in _of(WaitUntil, later) if w.cause is Cause.MIGRATION]  # type: ignore[attr-defined]
    assert [(w.at, w.class_name) for w in wakes] == [(NOW + MIGRATION_BACKOFF, "gpu")]  # type: ignore[attr-defined]
    assert later.next_wake == NOW + MIGRATION_BACKOFF


# -- properties --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    lower=st.integers(min_value=1, max_value=6),
    spot_nodes=st.integers(min_value=0, max_value=6),
    budget=st.integers(min_value=1, max_value=4),
    busy=st.sets(st.integers(min_value=0, max_value=5), max_size=3),
    cause=st.sampled_from(["migration", "expiry", "preemption"]),
)
def test_never_more_than_max_node_disruption_nodes_of_a_class_are_disrupted(
    lower: int, spot_nodes: int, budget: int, busy: set[int], cause: str
) -> None:
    snap = _on_demand(lower, _class(budget=budget), spot_nodes=spot_nodes)
    nodes = [
        replace(n, annotations={L.DISRUPTION_ANNOTATION: cause}, unschedulable=True)
        if n.name in {f"od-{i}" for i in busy}
        else n
        for n in snap.nodes
    ]
    already = sum(1 for n in nodes if n.annotations)
    decision = _run(replace(snap, nodes=tuple(nodes)))
    new = {n for c in _of(Replace, decision) if isinstance(c, Replace) for n in c.nodes}
    cordoned = {c.node for c in _of(Cordon, decision) if isinstance(c, Cordon)}
    disrupted = already + len(new | (cordoned - {n.name for n in nodes if n.annotations}))
    assert disrupted <= max(budget, already)
    counts = decision.migration["gpu"]
    assert counts.current + counts.migrating + sum(counts.blocked.values()) == len(nodes)


@settings(max_examples=60, deadline=None)
@given(
    scores=st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))),
    spot_nodes=st.integers(min_value=0, max_value=2),
)
def test_never_migrate_toward_a_lower_or_equal_rule(
    scores: tuple[int, int] | None, spot_nodes: int
) -> None:
    cc = _class(scores=scores)
    decision = _run(_on_demand(2, cc, spot_nodes=spot_nodes))
    better = scores is None or scores[0] > scores[1]
    for c in _of(Provision, decision):
        assert isinstance(c, Provision)
        if c.cause is Cause.MIGRATION:
            assert better and c.attempt.rule == 0
    if not better:
        assert not _of(Replace, decision)
