"""The lifecycle rules of the pure decide step: spot preemption (gke-computeclass.md §5;
/work/shared/reference/lifecycle-and-serving.md A3) and flex-start recycling
(gke-computeclass.md §4; lifecycle-and-serving.md A1), as table tests and properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from ccc.api.values import CapacityType, Taint
from policies.commands import Cause, Cordon, Delete, Drain, MarkUnavailable, Provision, Replace
from policies.lifecycle import PREEMPTED, DrainSettings
from policies.state import ControllerState, Issued, Observed, reduce
from tests.builders import NOW, make_rule
from tests.unit.test_policies_decide import (
    MACHINE,
    POOL_A,
    ZONE_A,
    ZONE_B,
    _class,
    _node,
    _of,
    _pod,
    _pool,
    _run,
    _snapshot,
)

NOTICE = Taint(key=L.IMPENDING_TERMINATION_TAINT, value="true", effect="NoSchedule")


def _spot(node: NodeInfo, **changes: object) -> NodeInfo:
    labels = {
        **node.labels,
        L.CAPACITY_TYPE_LABEL: CapacityType.SPOT.value,
        L.MACHINE_TYPE_LABEL: MACHINE,
        L.ZONE_LABEL: ZONE_A,
    }
    return replace(node, labels=labels, **changes)  # type: ignore[arg-type]


SIGNALS = {
    "impending-termination taint": {"taints": (NOTICE,)},
    "shutdown taint": {"taints": (Taint(key=L.SHUTDOWN_TAINT, value="", effect="NoSchedule"),)},
    "NotReady": {"ready": False},
}


@pytest.mark.parametrize("signal", list(SIGNALS))
def test_a_spot_signal_marks_the_offering_preempted_and_walks_its_pods_elsewhere_at_once(
    signal: str,
) -> None:
    node = _spot(_node("a-1"), **SIGNALS[signal])  # type: ignore[arg-type]
    snap = _snapshot(nodes=[node], pools=[_pool(nodes=1)], pods=[_pod("p", node="a-1")])
    decision = _run(snap)
    [mark] = _of(MarkUnavailable, decision)
    assert isinstance(mark, MarkUnavailable)
    assert (mark.entry.key.zone, mark.entry.reason, mark.backoff_s) == (ZONE_A, PREEMPTED, 60.0)
    [provision] = _of(Provision, decision)
    assert isinstance(provision, Provision)
    assert provision.attempt.zone == ZONE_B
    assert provision.cause is Cause.PREEMPTION
    assert [type(c) for c in decision.commands if isinstance(c, Replace | Cordon)] == [
        Replace,
        Cordon,
    ]


def test_a_spot_node_that_is_still_booting_is_not_preempted_for_being_not_ready() -> None:
    young = _spot(_node("a-1"), ready=False, creation_timestamp=NOW - timedelta(seconds=30))
    decision = _run(_snapshot(nodes=[young], pools=[_pool(nodes=1)]))
    assert not _of(MarkUnavailable, decision)
    assert not _of(Replace, decision)


def test_an_offering_still_in_its_preemption_backoff_is_not_marked_again() -> None:
    node = _spot(_node("a-1"), taints=(NOTICE,))
    snap = _snapshot(nodes=[node], pools=[_pool(nodes=1)])
    first = _run(snap)
    state = reduce(ControllerState(), Issued(first.commands, NOW))
    second = _run(replace(snap, now=NOW + timedelta(seconds=30)), state)  # type: ignore[arg-type]
    assert not _of(MarkUnavailable, second)
    third = _run(replace(snap, now=NOW + timedelta(seconds=61)), state)  # type: ignore[arg-type]
    [again] = _of(MarkUnavailable, third)
    assert isinstance(again, MarkUnavailable)
    assert again.backoff_s == 120.0  # doubling on a repeat


def test_a_node_already_recorded_as_being_replaced_is_not_replaced_or_cordoned_again() -> None:
    node = _spot(
        _node("a-1"),
        taints=(NOTICE,),
        unschedulable=True,
        annotations={L.DISRUPTION_ANNOTATION: "preemption"},
    )
    decision = _run(_snapshot(nodes=[node], pools=[_pool(nodes=1)]))
    assert not _of(Replace, decision)
    assert not _of(Cordon, decision)


# -- flex-start recycling (gke-computeclass.md §4; lifecycle-and-serving.md A1) ----------------


def _flex_class(lead_s: int | None = 600) -> object:
    flex: dict[str, object] = {"enabled": True}
    if lead_s is not None:
        flex["nodeRecycling"] = {"leadTimeSeconds": lead_s}
    return _class(make_rule(MACHINE, zones=[ZONE_A], flexStart=flex))


def _flex_node(name: str, *, ends_in_s: float, **changes: object) -> NodeInfo:
    deadline = NOW + timedelta(seconds=ends_in_s)
    annotations = {
        L.GKE_TERMINATION_ANNOTATION: deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **changes.pop("annotations", {}),  # type: ignore[dict-item]
    }
    return replace(_node(name), annotations=annotations, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ends_in_s", "lead_s", "recycled"),
    [
        (3600, 600, False),  # outside the lead time: only a wake-up after deadline - lead
        (600, 600, False),  # exactly at deadline - lead: GKE takes a node once ttl < lead
        (599, 600, True),
        (300, 600, True),
        (300, None, False),  # no nodeRecycling: the node simply ends
    ],
)
def test_a_flex_start_node_is_recycled_from_deadline_minus_lead_time(
    ends_in_s: float, lead_s: int | None, recycled: bool
) -> None:
    node = _flex_node("a-1", ends_in_s=ends_in_s)
    snap = _snapshot(
        classes=[_flex_class(lead_s)],  # type: ignore[list-item]
        nodes=[node],
        pools=[_pool(nodes=1)],
        pods=[_pod("p", node="a-1")],
    )
    decision = _run(snap)
    assert bool(_of(Replace, decision)) is recycled
    assert bool(_of(Cordon, decision)) is recycled
    if recycled:
        [provision] = _of(Provision, decision)
        assert provision.cause is Cause.EXPIRY  # type: ignore[attr-defined]
        assert not _of(Drain, decision), "not drained before the replacement is Ready"
    elif lead_s is not None:
        tick = timedelta(microseconds=1)  # the first instant with less than the lead left
        assert decision.next_wake == NOW + timedelta(seconds=ends_in_s - lead_s) + tick


def test_an_expiring_node_is_drained_once_its_pods_fit_on_a_ready_node_and_deleted_when_empty() -> (
    None
):
    old = _flex_node("a-1", ends_in_s=300, annotations={L.DISRUPTION_ANNOTATION: "expiry"})
    new = _node("a-2")
    pods = [_pod("p", node="a-1")]
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[old, new],
        pools=[_pool(nodes=2)],
        pods=pods,
    )
    [drain] = _of(Drain, _run(snap))
    assert isinstance(drain, Drain)
    assert drain.pods == (("ml", "p"),)
    started = replace(
        old,
        annotations={
            **old.annotations,
            L.DRAIN_STARTED_ANNOTATION: NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    emptied = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[started, new],
        pools=[_pool(nodes=2)],
    )
    [delete] = _of(Delete, _run(emptied))
    assert isinstance(delete, Delete)
    assert (delete.pool, delete.nodes, delete.cause) == (POOL_A, ("a-1",), Cause.EXPIRY)


def test_daemonset_and_mirror_pods_are_never_evicted() -> None:
    old = _flex_node("a-1", ends_in_s=300, annotations={L.DISRUPTION_ANNOTATION: "expiry"})
    pods = [
        _pod("p", node="a-1"),
        replace(_pod("ds", node="a-1", gpus=0), owner_kind="DaemonSet"),
        replace(_pod("static", node="a-1", gpus=0), owner_kind="Node"),
    ]
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[old, _node("a-2")],
        pools=[_pool(nodes=2)],
        pods=pods,
    )
    [drain] = _of(Drain, _run(snap))
    assert drain.pods == (("ml", "p"),)  # type: ignore[attr-defined]


def test_closest_deadline_first_takes_the_only_ready_room() -> None:
    annotations = {L.DISRUPTION_ANNOTATION: "expiry"}
    late = _flex_node("a-1", ends_in_s=500, annotations=annotations)
    soon = _flex_node("a-3", ends_in_s=100, annotations=annotations)
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[late, soon, _node("a-2")],
        pools=[_pool(nodes=3)],
        pods=[_pod("p1", node="a-1"), _pod("p3", node="a-3")],
    )
    assert [d.node for d in _of(Drain, _run(snap))] == ["a-3"]  # type: ignore[attr-defined]


def test_a_drain_refused_by_a_pdb_is_retried_with_a_growing_backoff() -> None:
    drain = DrainSettings()
    assert [drain.retry_after(n).total_seconds() for n in (1, 2, 3, 4, 5, 6)] == [
        2,
        4,
        8,
        16,
        30,
        30,
    ]


def test_a_drain_past_its_pdb_timeout_stops_and_reports_the_node_blocked() -> None:
    cls = _class(
        make_rule(
            MACHINE,
            zones=[ZONE_A],
            flexStart={"enabled": True, "nodeRecycling": {"leadTimeSeconds": 600}},
        ),
        nodePoolConfig={"nodeDrainConfig": {"pdbTimeoutDuration": "60s"}},
    )
    started = (NOW - timedelta(seconds=61)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = _flex_node(
        "a-1",
        ends_in_s=300,
        annotations={L.DISRUPTION_ANNOTATION: "expiry", L.DRAIN_STARTED_ANNOTATION: started},
    )
    snap = _snapshot(
        classes=[cls],
        nodes=[old, _node("a-2")],
        pools=[_pool(nodes=2)],
        pods=[_pod("p", node="a-1")],
    )
    decision = _run(snap)
    assert not _of(Drain, decision)
    assert decision.blocked == (("gpu", "a-1", "PodDisruptionBudget"),)


@settings(max_examples=40, deadline=None)
@given(
    pending=st.integers(min_value=0, max_value=3),
    leaving=st.integers(min_value=1, max_value=3),
    empty=st.integers(min_value=0, max_value=2),
)
def test_consolidation_never_removes_a_node_while_its_class_has_nodes_being_replaced(
    pending: int, leaving: int, empty: int
) -> None:
    annotations = {L.DISRUPTION_ANNOTATION: "expiry"}
    nodes = [_flex_node(f"old-{i}", ends_in_s=300, annotations=annotations) for i in range(leaving)]
    nodes += [_node(f"new-{i}") for i in range(empty)]
    pods = [_pod(f"p-{i}", node=f"old-{i}") for i in range(leaving)]
    pods += [_pod(f"q-{i}") for i in range(pending)]
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=nodes,
        pools=[_pool(nodes=len(nodes))],
        pods=pods,
        at=3600.0,
    )
    state = reduce(ControllerState(), Observed(replace(snap, now=NOW)))  # empty since long ago
    decision = _run(snap, state)
    for c in _of(Delete, decision):
        assert isinstance(c, Delete)
        assert c.cause is not Cause.CONSOLIDATION
        assert all(n.startswith("old-") for n in c.nodes)
