"""Rules of ``policies/migration.py``: active migration to a preferred rule
(``activeMigration.optimizeRulePriority``).

GKE rules encoded, by section: gke-computeclass.md §2.5 (``optimizeRulePriority``,
``reconciliationPolicy.maxNodeDisruption``), §3.5 (create for a higher rule, then drain and
delete the lower-priority nodes); lifecycle-and-serving.md A2 (strictly higher priority group,
5-minute failure backoff, the budget counts every disrupted node of the class) and A4
(``status.migration``: every node counted once). The order among candidates is ccc's
(docs/design/025-active-migration.md: lowest priority first).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.values import CapacityType, NodePool, OfferingKey, ReservationCapacity
from policies.commands import Cause, Delete, Provision, Replace, WaitUntil
from policies.decide import Decision
from policies.lifecycle import Leaving
from policies.migration import (
    MIGRATION_BACKOFF,
    Candidate,
    Selection,
    hold_key,
    migration_backoffs,
)
from policies.naming import node_pool_name
from policies.nodes import node_facts
from policies.obtainability import Unavailability
from policies.state import ControllerState, Request
from policies.tiers import compile_class
from tests.builders import NOW, catalog, make_class, make_rule
from tests.unit.test_policies_decide import MACHINE, ZONE_A, ZONE_B, _node, _of, _pod, _pool, _run
from tests.unit.test_policies_decide import _snapshot as _snap

MIGRATING = {L.DISRUPTION_ANNOTATION: "migration"}
DRAINING = {**MIGRATING, L.DRAIN_STARTED_ANNOTATION: "2026-01-01T00:00:00Z"}


def _class(
    budget: int | None = None,
    *,
    rules: int = 2,
    name: str = "gpu",
    rule0: dict[str, Any] | None = None,
) -> ComputeClass:
    """Rule 0 spot (preferred; or ``rule0``), rule 1 on-demand in zone a, rule 2 on-demand in
    zone b."""
    all_rules = (
        rule0 or make_rule(MACHINE, spot=True),
        make_rule(MACHINE, zones=(ZONE_A,)),
        make_rule(MACHINE, zones=(ZONE_B,)),
    )
    am: dict[str, Any] = {"optimizeRulePriority": True}
    if budget is not None:
        am["reconciliationPolicy"] = {"maxNodeDisruption": budget}
    return make_class(*all_rules[:rules], name=name, activeMigration=am)


def _zone(rule: int) -> str:
    return ZONE_A if rule == 1 else ZONE_B


def _lower(name: str, rule: int = 1, *, cls: str = "gpu", **changes: Any) -> NodeInfo:
    """A Ready on-demand node of ``rule`` (1 or 2) of class ``cls``."""
    pool = node_pool_name(cls, rule, MACHINE, _zone(rule), CapacityType.ON_DEMAND)
    node = _node(name, pool, cls=cls)
    labels = {
        **node.labels,
        L.RULE_INDEX_LABEL: str(rule),
        L.CAPACITY_TYPE_LABEL: CapacityType.ON_DEMAND.value,
        L.MACHINE_TYPE_LABEL: MACHINE,
        L.ZONE_LABEL: _zone(rule),
    }
    return replace(node, labels=labels, **changes)


def _pools(nodes: list[NodeInfo]) -> list[NodePool]:
    """The managed pools the nodes belong to, each of as many nodes as listed."""
    out: dict[str, NodePool] = {}
    for n in nodes:
        if L.CLASS_LABEL not in n.labels:
            continue
        name, cls = n.labels[L.NODE_POOL_LABEL], n.labels[L.CLASS_LABEL]
        rule = int(n.labels[L.RULE_INDEX_LABEL])
        base = out.get(name) or _pool(name, nodes=0, cls=cls).model_copy(
            update={"rule_index": rule}
            | ({"zones": (_zone(rule),), "capacity_type": CapacityType.ON_DEMAND} if rule else {})
        )
        out[name] = base.model_copy(update={"node_count": base.node_count + 1})
    return list(out.values())


def _cluster(
    cc: ComputeClass | list[ComputeClass],
    lower: list[NodeInfo],
    *,
    spot_nodes: int = 0,
    extra: tuple[NodeInfo, ...] = (),
    gpus: int = 8,
    **kw: Any,
) -> Any:
    """``lower`` nodes with one pod each (``gpus`` GPUs), ``spot_nodes`` empty Ready spot
    (rule 0) nodes of class gpu, and ``extra`` nodes without pods."""
    spot = [_node(f"sp-{i}") for i in range(spot_nodes)]
    pods = [_pod(f"p-{n.name}", node=n.name, gpus=gpus, cls=n.labels[L.CLASS_LABEL]) for n in lower]
    nodes = [*lower, *spot, *extra]
    classes = cc if isinstance(cc, list) else [cc]
    return _snap(classes=classes, nodes=nodes, pods=pods, pools=_pools(nodes), **kw)


def _moved(decision: Decision) -> list[str]:
    return [
        n
        for c in _of(Replace, decision)
        if isinstance(c, Replace) and c.cause is Cause.MIGRATION
        for n in c.nodes
    ]


def _migration_provisions(decision: Decision) -> list[Provision]:
    return [
        c
        for c in _of(Provision, decision)
        if isinstance(c, Provision) and c.cause is Cause.MIGRATION
    ]


def _counts(decision: Decision) -> tuple[int, int, dict[str, int]]:
    m = decision.migration["gpu"]
    return m.current, m.migrating, dict(m.blocked)


# -- which nodes are candidates -------------------------------------------------------------------


def test_a_node_made_for_a_rule_the_class_no_longer_has_is_current_and_never_moves() -> None:
    """A node labelled with rule 2 of a class edited down to two rules has no known priority
    group, so no rule is strictly higher than its own (A2): it stays, counted as current."""
    stale = _lower("od-0", rule=2)
    decision = _run(_cluster(_class(rules=2), [stale], spot_nodes=1))
    assert _moved(decision) == [] and _migration_provisions(decision) == []
    assert _counts(decision) == (2, 0, {})


@pytest.mark.parametrize(
    "other",
    [
        _node("a-other", "other-pool", cls="other"),
        replace(_node("a-system", "default-pool"), labels={L.NODE_POOL_LABEL: "default-pool"}),
    ],
    ids=["another-class", "no-class"],
)
def test_nodes_of_no_migrating_class_do_not_stop_the_others(other: NodeInfo) -> None:
    """Nodes are looked at by name; one of a class without active migration, or of no class
    at all (a system node), sorted first, is skipped, and the lower-rule node of the migrating
    class still moves (§2.5)."""
    decision = _run(_cluster(_class(), [_lower("od-0")], spot_nodes=1, extra=(other,)))
    assert _moved(decision) == ["od-0"]


def test_the_lowest_priority_node_moves_first() -> None:
    """Of two lower-rule nodes with the same pods, the one on rule 2 moves before the one on
    rule 1, whatever their names (design 025: lowest priority first)."""
    nodes = [_lower("od-0", rule=1), _lower("od-1", rule=2)]
    decision = _run(_cluster(_class(rules=3), nodes, spot_nodes=1))
    assert _moved(decision) == ["od-1"]
    assert _counts(decision)[2] == {"MaxNodeDisruptionReached": 1}


def test_room_on_a_node_of_the_same_rule_is_no_place_to_move_to() -> None:
    """Only Ready room of strictly higher rules takes a migrating node's pods (A2): free room
    on another rule-1 node does not let a rule-1 node drain; a spot replacement is made."""
    empty_od = _lower("od-free", rule=1)
    decision = _run(_cluster(_class(), [_lower("od-0")], extra=(empty_od,)))
    assert _moved(decision) == []
    [p] = _migration_provisions(decision)
    assert (p.attempt.rule, p.attempt.capacity_type) == (0, CapacityType.SPOT)


def test_a_node_whose_drain_has_started_gets_no_second_replacement() -> None:
    """Its replacement was provisioned before the drain began (§3.5 create before delete); the
    pods still on it are being evicted and are not walked again."""
    draining = _lower("od-0", unschedulable=True, annotations=DRAINING)
    decision = _run(_cluster(_class(), [draining]))
    assert _migration_provisions(decision) == []


# -- the budget: nodes already migrating take it (A2) -------------------------------------------


@pytest.mark.parametrize(
    ("budget", "already", "new"),
    [(1, 1, 0), (2, 1, 1), (2, 2, 0), (3, 2, 1)],
)
def test_nodes_already_migrating_take_the_budget_of_new_moves(
    budget: int, already: int, new: int
) -> None:
    """``maxNodeDisruption`` counts the class's nodes already being drained for a migration: of
    two more lower-rule nodes, only as many as the budget leaves get a replacement; the others
    are reported ``MaxNodeDisruptionReached`` (A4)."""
    busy = [_lower(f"od-{i}", unschedulable=True, annotations=DRAINING) for i in range(already)]
    fresh = [_lower(f"od-{already + i}") for i in range(2)]
    decision = _run(_cluster(_class(budget), [*busy, *fresh]))
    assert len(_migration_provisions(decision)) == new
    assert _counts(decision) == (0, already + new, {"MaxNodeDisruptionReached": 2 - new})


def test_two_moves_that_pick_the_same_pool_make_one_request_for_it() -> None:
    """One provisioning request per pool at a time: two nodes admitted together whose
    replacements land in the same spot pool ask for it once."""
    decision = _run(_cluster(_class(2), [_lower("od-0"), _lower("od-1")]))
    pools = [p.pool for p in _migration_provisions(decision)]
    assert pools and len(pools) == len(set(pools))


# -- status.migration (A4) ----------------------------------------------------------------------


def _candidate(node: str, cls: str) -> Candidate:
    n = _node(node, cls=cls)
    cc = make_class(make_rule(MACHINE, spot=True), name=cls)
    facts = node_facts([n], {cls: compile_class(cc, catalog())})[node]
    leaving = Leaving(node, cls, Cause.MIGRATION, None, None, (), (), facts)
    return Candidate(leaving, 1, frozenset({0}), frozenset(), False)


def test_a_class_status_counts_only_its_own_migrating_nodes() -> None:
    selection = Selection(moving=[_candidate("a-1", "gpu"), _candidate("b-1", "tpu")])
    assert selection.counts("gpu").migrating == 1
    assert selection.counts("tpu").migrating == 1


# -- a failed migration backs off 5 minutes (A2) ----------------------------------------------


def _request(cause: Cause) -> Request:
    attempt_pool = node_pool_name("gpu", 0, MACHINE, ZONE_A, CapacityType.SPOT)
    first = _run(_cluster(_class(), [_lower("od-0")]))
    [p] = _migration_provisions(first)
    return Request(
        pool=attempt_pool,
        class_name="gpu",
        offering=OfferingKey(machine_type=MACHINE, zone=ZONE_A, capacity_type=CapacityType.SPOT),
        rule=0,
        nodes=1,
        target_nodes=1,
        started_at=NOW - timedelta(minutes=20),
        cause=cause,
        command=replace(p, cause=cause),
    )


@pytest.mark.parametrize(
    ("cause", "held"),
    [(Cause.MIGRATION, True), (Cause.PENDING, False)],
    ids=["migration", "pending"],
)
def test_giving_up_on_a_migration_replacement_backs_its_rule_off_for_five_minutes(
    cause: Cause, held: bool
) -> None:
    """Nodes of a migration's replacement that never registered are given up on (a Delete of
    its pool): migrations toward that rule back off 5 minutes. A pool asked for by pending pods
    is not a migration's failure."""
    request = _request(cause)
    state = ControllerState(requests={request.pool: request})
    give_up = Delete(request.pool, "gpu", "nodes never registered", Cause.REGISTRATION, pool_size=0)
    waits = migration_backoffs(state, [give_up], NOW)
    assert [(w.hold, w.at) for w in waits] == (
        [(hold_key("gpu", 0), NOW + MIGRATION_BACKOFF)] if held else []
    )


# -- a move needs an obtainable offering of its target rules (A2 hysteresis) --------------------


def test_a_class_whose_moves_are_unobtainable_does_not_hold_back_another_class() -> None:
    """The obtainability memory is per class: the spot offerings that class gpu backs off do
    not block class zz's move, however many nodes of gpu are looked at before it."""
    marks = [
        Unavailability(
            key=OfferingKey(machine_type=MACHINE, zone=z, capacity_type=CapacityType.SPOT),
            reason="ZONE_RESOURCE_POOL_EXHAUSTED",
            message="",
            failures=1,
            since=NOW,
            until=NOW + timedelta(minutes=3),
        )
        for z in (ZONE_A, ZONE_B)
    ]
    nodes = [_lower("a-1"), _lower("a-2"), _lower("b-1", cls="zz")]
    snap = _cluster([_class(), _class(name="zz")], nodes)
    decision = _run(snap, ControllerState.restored(memory={"gpu": marks}))
    assert [p.class_name for p in _migration_provisions(decision)] == ["zz"]
    assert _counts(decision) == (0, 0, {"ReplacementUnavailable": 2})


def test_no_move_toward_a_specific_reservation_the_cloud_reports_full() -> None:
    """§2.3: a ``Specific`` reservation without room is skipped without a try, so the node of
    rule 1 has nowhere to go and stays (``ReplacementUnavailable``)."""
    rule0 = make_rule(
        MACHINE,
        zones=None,
        reservations={"affinity": "Specific", "specific": [{"name": "res-a", "zones": [ZONE_A]}]},
    )
    full = ReservationCapacity(
        name="res-a", zone=ZONE_A, machine_type=MACHINE, count=2, in_use=2, specific_only=True
    )
    snap = _cluster(_class(rule0=rule0), [_lower("od-0")], reservations=[full])
    decision = _run(snap)
    assert _migration_provisions(decision) == []
    assert _counts(decision)[2] == {"ReplacementUnavailable": 1}


# -- a failed migration's hold: the loop wakes when the first one ends (A2) ----------------------


def test_the_loop_wakes_when_the_first_migration_hold_blocking_a_node_ends() -> None:
    """Moves toward rule 0 are held 4 more minutes, toward rule 1 one more minute. The node of
    rule 2 may move to rule 1 in a minute: that is when the loop wakes, though the node of
    rule 1 (sorted after it) waits for rule 0's hold."""
    holds = {
        hold_key("gpu", 0): NOW + timedelta(minutes=4),
        hold_key("gpu", 1): NOW + timedelta(minutes=1),
    }
    nodes = [_lower("od-0", rule=2), _lower("od-1", rule=1)]
    decision = _run(_cluster(_class(2, rules=3), nodes), ControllerState(holds=holds))
    assert _counts(decision)[2] == {"RecentMigrationFailure": 2}
    wakes = [
        w.at
        for w in _of(WaitUntil, decision)
        if isinstance(w, WaitUntil) and w.cause is Cause.MIGRATION
    ]
    assert wakes == [NOW + timedelta(minutes=1)]


def test_room_one_node_may_move_to_is_not_offered_to_a_node_that_may_not() -> None:
    """A Ready rule-1 node has room for both 4-GPU pods. The node of rule 2 may move there and
    does; the node of rule 1 may only move to rule 0 (A2), so it still gets a spot replacement."""
    nodes = [_lower("od-0", rule=1), _lower("od-1", rule=2)]
    snap = _cluster(_class(2, rules=3), nodes, gpus=4, extra=(_lower("od-free", rule=1),))
    decision = _run(snap)
    assert _moved(decision) == ["od-1"]
    [p] = _migration_provisions(decision)
    assert (p.attempt.rule, p.attempt.capacity_type) == (0, CapacityType.SPOT)


def test_a_move_spread_over_zones_still_asks_for_the_pools_another_move_did_not() -> None:
    """Rule 0 is BALANCED over zones a and b (§2.2), one 4-GPU pod a node. The node with one
    pod moves first and takes zone a's pool; the node with two pods needs a node in each zone:
    zone a's pool is already asked for this pass, zone b's is still asked for."""
    rule0 = make_rule(
        "a3-highgpu-4g",
        zones=None,
        spot=True,
        location={"zones": [ZONE_A, ZONE_B], "locationPolicy": "BALANCED"},
    )
    nodes = [_lower("od-0"), _lower("od-1")]
    pods = [
        _pod("p-0", node="od-0", gpus=4),
        _pod("p-1", node="od-1", gpus=4),
        _pod("p-2", node="od-1", gpus=4),
    ]
    snap = _snap(classes=[_class(2, rule0=rule0)], nodes=nodes, pods=pods, pools=_pools(nodes))
    decision = _run(snap)
    zones = sorted(p.attempt.zone for p in _migration_provisions(decision))
    assert zones == [ZONE_A, ZONE_B]
