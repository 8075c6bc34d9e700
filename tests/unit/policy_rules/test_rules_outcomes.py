"""Rules of policies/outcomes.py: an interrupted pool deletion is finished; nodes missing from a
managed pool are awaited until the repair delay and then asked for again, pool by pool; nodes
that never registered are given up, pool by pool; a refused delete waits longer each time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from ccc.api.values import CapacityType, NodePool, NodePoolStatus, OfferingKey
from policies.commands import Cause, Delete, MarkUnavailable, Provision, WaitUntil
from policies.outcomes import Judged, give_up, judge_failures, repair
from policies.plan import Attempt
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState, ErrorInfo, Failure, Missing, Request
from tests.builders import NOW
from tests.unit.test_policies_decide import MACHINE, ZONE_A, ZONE_B, _pool

FIRST, SECOND = "gke-a-first", "gke-b-second"


def _snap(pools: list[NodePool], **kw: object) -> ClusterSnapshot:
    return ClusterSnapshot(now=NOW, classes={}, node_pools=pools, **kw)  # type: ignore[arg-type]


def _missing(*names: str, for_s: float = 60, count: int = 1) -> dict[str, Missing]:
    return {n: Missing(since=NOW - timedelta(seconds=for_s), count=count) for n in names}


@pytest.mark.parametrize("call_running", [False, True], ids=["no-call", "call-running"])
def test_an_interrupted_pool_deletion_is_finished_unless_a_call_on_the_pool_is_running(
    call_running: bool,
) -> None:
    """A managed pool the provider lists as STOPPING was being deleted when the controller
    stopped: it is deleted again, whole, as a repair; not while a call of ours is running."""
    stopping = _pool(FIRST, nodes=2, status=NodePoolStatus.STOPPING)
    state = ControllerState(calls=frozenset({FIRST}) if call_running else frozenset())
    judged = Judged()
    repair(_snap([stopping]), state, [stopping], Settings(), judged)
    deletes = [
        (c.pool, c.class_name, c.cause, c.whole_pool)
        for c in judged.commands
        if isinstance(c, Delete)
    ]
    if call_running:
        assert (deletes, judged.touched) == ([], set())
    else:
        assert deletes == [(FIRST, "gpu", Cause.REPAIR, True)]
        assert judged.touched == {FIRST}


def test_missing_nodes_are_awaited_until_the_repair_delay_after_the_last_repair() -> None:
    """``repair_after_s`` (30 s) counts from when the nodes went missing, or from the last
    repair of the pool if that is later; the class is woken then."""
    pool = _pool(FIRST, nodes=2)
    state = ControllerState(
        missing=_missing(FIRST, for_s=20),
        repaired_at={FIRST: NOW - timedelta(seconds=10)},
    )
    judged = Judged()
    repair(_snap([pool], node_counts={FIRST: 1}), state, [pool], Settings(), judged)
    [wait] = judged.commands
    assert isinstance(wait, WaitUntil)
    assert (wait.at, wait.cause, wait.class_name) == (
        NOW + timedelta(seconds=20),
        Cause.REPAIR,
        "gpu",
    )
    assert judged.touched == set()


def _skipped(
    how: str,
) -> tuple[ControllerState, list[NodePool], dict[str, int]]:
    """A state in which the FIRST pool's missing nodes are not repaired (``how``), while the
    SECOND pool's are due and confirmed missing."""
    first, second = _pool(FIRST, nodes=2), _pool(SECOND, nodes=2)
    pools = [first, second]
    state = ControllerState(missing=_missing(FIRST, SECOND))
    counts = {FIRST: 1, SECOND: 1}
    if how == "unknown-pool":
        pools = [second]
    elif how == "call-running":
        state = replace(state, calls=frozenset({FIRST}))
    elif how == "request-outstanding":
        offering = OfferingKey(machine_type=MACHINE, zone=ZONE_A, capacity_type=CapacityType.SPOT)
        request = Request(FIRST, "gpu", offering, 0, 1, 2, started_at=NOW, accepted_at=NOW)
        state = replace(state, requests={FIRST: request})
    elif how == "held":
        state = replace(state, holds={FIRST: NOW + timedelta(seconds=5)})
    elif how == "stopping":
        pools = [_pool(FIRST, nodes=2, status=NodePoolStatus.STOPPING), second]
    elif how == "not-due":
        state = replace(state, missing={**state.missing, **_missing(FIRST, for_s=5)})
    elif how == "api-server-has-them":
        counts[FIRST] = 2
    return state, pools, counts


@pytest.mark.parametrize(
    "how",
    [
        "unknown-pool",
        "call-running",
        "request-outstanding",
        "held",
        "stopping",
        "not-due",
        "api-server-has-them",
    ],
)
def test_a_pool_whose_missing_nodes_are_not_repaired_does_not_stop_the_repair_of_the_next(
    how: str,
) -> None:
    state, pools, counts = _skipped(how)
    judged = Judged()
    repair(_snap(pools, node_counts=counts), state, pools, Settings(), judged)
    repairs = [c for c in judged.commands if isinstance(c, Provision)]
    assert [(c.attempt.node_pool, c.class_name, c.cause) for c in repairs] == [
        (SECOND, "gpu", Cause.REPAIR)
    ]
    assert SECOND in judged.touched and (FIRST in judged.touched) is (how == "stopping")


def test_a_held_pool_is_not_repaired_while_its_hold_lasts() -> None:
    """A pool held after a failed call (``holds``) gets no repair before the hold ends."""
    pool = _pool(FIRST, nodes=2)
    state = ControllerState(missing=_missing(FIRST), holds={FIRST: NOW + timedelta(seconds=5)})
    judged = Judged()
    repair(_snap([pool], node_counts={FIRST: 1}), state, [pool], Settings(), judged)
    assert judged.commands == []


def _give_up(
    state: ControllerState, pools: list[NodePool], compiled: dict[str, object] | None = None
) -> Judged:
    judged = Judged()
    give_up(_snap(pools), state, pools, compiled or {}, Settings(), judged)  # type: ignore[arg-type]
    return judged


SKIP_GIVE_UP: dict[
    str, Callable[[ControllerState, list[NodePool]], tuple[ControllerState, list[NodePool]]]
] = {
    "unknown-pool": lambda s, p: (s, p[1:]),
    "call-running": lambda s, p: (replace(s, calls=frozenset({FIRST})), p),
    "stopping": lambda s, p: (
        s,
        [p[0].model_copy(update={"status": NodePoolStatus.STOPPING}), p[1]],
    ),
}


@pytest.mark.parametrize("how", list(SKIP_GIVE_UP))
def test_nodes_are_not_given_up_on_a_pool_being_called_or_deleted_and_the_next_pool_still_is(
    how: str,
) -> None:
    """Both pools' nodes have been missing past the registration timeout (600 s); the first
    is left alone (unknown to the provider, a call of ours on it running, or being deleted),
    the second shrinks back to its registered node."""
    pools = [_pool(FIRST, nodes=2), _pool(SECOND, nodes=2)]
    state = ControllerState(missing=_missing(FIRST, SECOND, for_s=700))
    state, pools = SKIP_GIVE_UP[how](state, pools)
    judged = _give_up(state, pools)
    deletes = [(c.pool, c.pool_size) for c in judged.commands if isinstance(c, Delete)]
    assert deletes == [(SECOND, 1)]


def test_nodes_of_a_pool_whose_class_is_gone_are_given_up_after_the_default_timeout() -> None:
    """A managed pool of a class that no longer exists has no rule to lend it a
    ``capacityCheckWaitTimeSeconds``: its nodes get ``node_registration_timeout_s`` (600 s)."""
    pools = [_pool(FIRST, nodes=2, cls="deleted")]
    pools = [pools[0].model_copy(update={"class_name": "deleted", "rule_index": 0})]
    state = ControllerState(missing=_missing(FIRST, for_s=700))
    judged = _give_up(state, pools)
    assert [(c.pool, c.pool_size) for c in judged.commands if isinstance(c, Delete)] == [(FIRST, 1)]


@pytest.mark.parametrize(("failures", "pause_s"), [(1, 5), (2, 10), (4, 40)])
def test_a_refused_delete_is_retried_after_a_pause_that_doubles_with_each_failure(
    failures: int, pause_s: float
) -> None:
    """``error_retry_s`` (5 s) after the first failed delete of a pool, doubling with each
    failure in a row (``delete_retry_max_s`` caps it)."""
    delete = Delete(
        pool=FIRST, class_name="gpu", reason="", cause=Cause.CONSOLIDATION, whole_pool=True
    )
    state = ControllerState(delete_failures={FIRST: failures})
    failure = Failure(delete, ErrorInfo("transient", "UNAVAILABLE"), NOW)
    [wait] = judge_failures([failure], state, Settings(), NOW).commands
    assert isinstance(wait, WaitUntil)
    assert (wait.at, wait.hold) == (NOW + timedelta(seconds=pause_s), FIRST)


def _provision(pool: str, zone: str, *, wait_s: int | None) -> Provision:
    attempt = Attempt(
        rule=0,
        zone=zone,
        capacity_type=CapacityType.FLEX_START if wait_s else CapacityType.SPOT,
        machine_type=MACHINE,
        node_pool=pool,
        accelerator=None,
        nodes=1,
        price_per_hour=None,
        decision="create",
        reason="",
        wait_s=wait_s,
        group="g",
    )
    return Provision(class_name="gpu", attempt=attempt, reason="", cause=Cause.PENDING)


def test_a_failure_retried_within_its_capacity_check_window_does_not_stop_judging_the_next() -> (
    None
):
    """reference/gke-computeclass.md §2.2 ``capacityCheckWaitTimeSeconds``: the first pool's
    stockout is inside its rule's window and is retried; the second pool's rule has no window,
    so its offering is marked."""
    stockout = ErrorInfo("stockout", "ZONE_RESOURCE_POOL_EXHAUSTED")
    failures = [
        Failure(_provision(FIRST, ZONE_A, wait_s=600), stockout, NOW),
        Failure(_provision(SECOND, ZONE_B, wait_s=None), stockout, NOW),
    ]
    judged = judge_failures(failures, ControllerState(), Settings(), NOW)
    checks = [c.hold for c in judged.commands if isinstance(c, WaitUntil)]
    marks = [c.entry.key.zone for c in judged.commands if isinstance(c, MarkUnavailable)]
    assert (checks, marks) == ([FIRST], [ZONE_B])
