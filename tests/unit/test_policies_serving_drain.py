"""Surge before drain (policies/serving_drain.py): the drain of an expiring flex-start node that
hosts ServingGroup replicas waits until the group's Ready capacity without them meets its
capacity, for a bounded time that never passes the node's deadline. Table tests over the pure
decide step (gke-computeclass.md §4 for the recycling itself; the hold is ccc's: design 026)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ccc.api import labels as L
from ccc.api.cluster import PodInfo
from ccc.api.servinggroup import SERVING_GROUP_LABEL
from policies.commands import Cordon, Drain, Replace, WaitUntil
from policies.serving_drain import SERVING_GROUP_SURGE, groups_on, hold_until
from policies.snapshot import GroupCover, ServingCovers
from tests.builders import NOW, make_rule
from tests.unit.test_policies_decide import (
    MACHINE,
    ZONE_A,
    _class,
    _node,
    _of,
    _pod,
    _pool,
    _provisioned_nodes,
    _run,
    _snapshot,
)
from tests.unit.test_policies_lifecycle import _flex_class, _flex_node

GROUP = "ml/llama"


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _replica(name: str, node: str | None, group: str | None = "llama") -> PodInfo:
    labels = {SERVING_GROUP_LABEL: group} if group else {}
    return replace(_pod(name, node=node), labels=labels)


def _marked(ends_in_s: float = 300, since_s_ago: float = 0) -> object:
    """An expiring node already marked (Replace done ``since_s_ago``), with a Ready node beside
    it whose room its pod fits: without a ServingGroup, the lifecycle drains it now."""
    return _flex_node(
        "a-1",
        ends_in_s=ends_in_s,
        annotations={
            L.DISRUPTION_ANNOTATION: "expiry",
            L.DISRUPTION_SINCE_ANNOTATION: _stamp(NOW - timedelta(seconds=since_s_ago)),
        },
    )


def _decide(
    covers: ServingCovers | None,
    *,
    group: str | None = "llama",
    ends_in_s: float = 300,
    since_s_ago: float = 0,
    **settings: object,
) -> object:
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[_marked(ends_in_s, since_s_ago), _node("a-2")],  # type: ignore[list-item]
        pools=[_pool(nodes=2)],
        pods=[_replica("p", "a-1", group)],
        serving=covers,
    )
    return _run(snap, **settings)


def _covers(covered: frozenset[str] = frozenset(), *, synced: bool = True) -> ServingCovers:
    return ServingCovers(
        synced=synced, groups={GROUP: GroupCover(group=GROUP, covered=covered, at=NOW)}
    )


@pytest.mark.parametrize(
    ("case", "covers", "group", "drained"),
    [
        ("no ServingGroup controller", None, "llama", True),
        ("the group's surge is Ready", _covers(frozenset({"a-1"})), "llama", True),
        ("the surge is not Ready", _covers(), "llama", False),
        ("the group covered other nodes only", _covers(frozenset({"b-9"})), "llama", False),
        ("the controller has not passed yet", _covers(synced=False), "llama", False),
        ("the pod is of no group", _covers(), None, True),
        ("the pod's group is unknown to the controller", _covers(), "other", True),
    ],
)
def test_the_drain_of_an_expiring_node_waits_for_its_serving_groups_surge(
    case: str, covers: ServingCovers | None, group: str | None, drained: bool
) -> None:
    decision = _decide(covers, group=group)
    drains = _of(Drain, decision)  # type: ignore[arg-type]
    assert bool(drains) is drained, case
    if not drained:
        [wait] = [c for c in _of(WaitUntil, decision) if c.what == "drain of a-1"]  # type: ignore[arg-type,attr-defined]
        assert isinstance(wait, WaitUntil)
        assert "ServingGroup ml/llama" in wait.reason or "first pass" in wait.reason
        assert decision.blocked == (("gpu", "a-1", SERVING_GROUP_SURGE),)  # type: ignore[attr-defined]
        assert decision.next_wake is not None and decision.next_wake <= wait.at  # type: ignore[attr-defined]


def test_a_node_entering_its_lead_time_is_replaced_and_cordoned_but_not_drained_until_covered() -> (
    None
):
    """The pass that first sees the deadline: without the hold the pod fits on a-2 and would be
    evicted in this very pass, before the ServingGroup controller has even seen the mark."""
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[_flex_node("a-1", ends_in_s=300), _node("a-2")],
        pools=[_pool(nodes=2)],
        pods=[_replica("p", "a-1")],
        serving=_covers(),
    )
    decision = _run(snap)
    assert _of(Replace, decision) and _of(Cordon, decision)
    assert not _of(Drain, decision)
    without = _run(replace(snap, serving=None))
    assert _of(Drain, without), "the hold is what keeps the pod: the lifecycle alone drains"


@pytest.mark.parametrize(
    ("since_s_ago", "ends_in_s", "wait_s", "reserve_s", "drained"),
    [
        (0, 3600, 600, 60, False),  # within the wait
        (599, 3600, 600, 60, False),
        (600, 3600, 600, 60, True),  # the wait is over: drain anyway
        (0, 120, 600, 60, False),  # deadline - reserve is 60 s away
        (0, 60, 600, 60, True),  # at deadline - reserve: drain now, gracefully
        (0, 30, 600, 60, True),  # past it
        (0, 1, 600, 0, False),  # no reserve and no grace period: it holds up to the deadline
    ],
)
def test_the_hold_is_bounded_by_its_wait_and_never_passes_the_deadline_minus_a_reserve(
    since_s_ago: float, ends_in_s: float, wait_s: float, reserve_s: float, drained: bool
) -> None:
    decision = _decide(
        _covers(),
        ends_in_s=ends_in_s,
        since_s_ago=since_s_ago,
        surge_wait=timedelta(seconds=wait_s),
        surge_drain_reserve=timedelta(seconds=reserve_s),
    )
    assert bool(_of(Drain, decision)) is drained  # type: ignore[arg-type]
    if not drained:
        [wait] = [c for c in _of(WaitUntil, decision) if c.what == "drain of a-1"]  # type: ignore[arg-type,attr-defined]
        bound = min(
            NOW - timedelta(seconds=since_s_ago) + timedelta(seconds=wait_s),
            NOW + timedelta(seconds=ends_in_s - reserve_s),
        )
        assert wait.at == bound  # type: ignore[attr-defined]


def test_the_reserve_before_the_deadline_is_at_least_twice_the_classes_grace_period() -> None:
    flex = {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 600}}
    cls = _class(
        make_rule(MACHINE, zones=[ZONE_A], flexStart=flex),
        nodePoolConfig={"nodeDrainConfig": {"graceTerminationDuration": "90s"}},
    )

    def drained(ends_in_s: float) -> bool:
        snap = _snapshot(
            classes=[cls],
            nodes=[_marked(ends_in_s=ends_in_s), _node("a-2")],  # type: ignore[list-item]
            pools=[_pool(nodes=2)],
            pods=[_replica("p", "a-1")],
            serving=_covers(),
        )
        return bool(_of(Drain, _run(snap)))

    # reserve = max(60 s, 2 x 90 s) = 180 s before the deadline
    assert not drained(181)
    assert drained(180)


def test_hold_until_is_the_earlier_of_the_wait_and_the_deadline_minus_the_reserve() -> None:
    minute = timedelta(minutes=1)
    assert hold_until(NOW, None, wait=10 * minute, reserve=minute) == NOW + 10 * minute
    assert hold_until(NOW, NOW + 5 * minute, wait=10 * minute, reserve=minute) == NOW + 4 * minute


def test_groups_on_a_node_are_read_from_the_pods_label_skipping_finished_and_deleting_pods() -> (
    None
):
    pods = [
        _replica("a", "n", "llama"),
        _replica("b", "n", "llama"),
        replace(_replica("c", "n", "qwen"), phase="Succeeded"),
        replace(_replica("f", "n", "mistral"), phase="Failed"),
        replace(_replica("d", "n", "gemma"), deletion_timestamp=NOW),
        _replica("e", "n", None),
    ]
    assert groups_on(pods) == ["ml/llama"]


@pytest.mark.parametrize(
    ("pending", "covered", "nodes"),
    [
        pytest.param([], frozenset(), 1, id="no surge yet: the replica's replacement"),
        pytest.param(
            [_replica("surge", None)], frozenset(), 1, id="surge pending: one node for both"
        ),
        pytest.param(
            [_replica("other", None, "other")],
            frozenset(),
            2,
            id="another group's pending replica is demand of its own",
        ),
        pytest.param(
            [_replica("s1", None), _replica("s2", None)],
            frozenset(),
            2,
            id="one surge replica replaces one leaving replica, not two",
        ),
        pytest.param([], frozenset({"a-1"}), 0, id="the group covers the node: no room needed"),
    ],
)
def test_a_serving_replica_on_an_expiring_node_and_its_surge_are_one_demand(
    pending: list[PodInfo], covered: frozenset[str], nodes: int
) -> None:
    """The expiring node a-1 is the only node: its replica needs room elsewhere, and so does the
    group's surge replica for the same disruption; they are the same replica, so one node."""
    snap = _snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[_marked()],  # type: ignore[list-item]
        pools=[_pool(nodes=1)],
        pods=[_replica("p", "a-1"), *pending],
        serving=_covers(covered),
    )
    assert _provisioned_nodes(_run(snap)) == nodes
