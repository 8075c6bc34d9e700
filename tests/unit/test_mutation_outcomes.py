"""Behavioural tests that pin down rules of policies/outcomes.py which no other unit test checked
(found by mutation testing, docs/testing.md): what a repair asks for, ..."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ccc.api.values import Accelerator, AcceleratorKind
from policies.commands import Cause, Delete, MarkUnavailable, Provision, WaitUntil
from policies.outcomes import repairs_due
from policies.settings import Settings
from policies.state import (
    ControllerState,
    ErrorInfo,
    Issued,
    LateErrors,
    Missing,
    Observed,
    ProviderDone,
    reduce,
)
from tests.builders import NOW, make_rule
from tests.unit.test_policies_decide import (
    MACHINE,
    POOL_A,
    POOL_B,
    ZONE_A,
    ZONE_B,
    _class,
    _failed,
    _node,
    _of,
    _pod,
    _pool,
    _run,
    _snapshot,
)

H100 = Accelerator(kind=AcceleratorKind.GPU, type="nvidia-h100-80gb", count=8)


@pytest.mark.parametrize(("rule", "expected_rule"), [(2, 2), (None, -1)], ids=["rule-2", "no-rule"])
def test_a_repair_asks_the_same_pool_again_for_its_full_size_with_its_own_offering(
    rule: int | None, expected_rule: int
) -> None:
    """Pool A should have 3 nodes; the API server and the node cache have 1 for longer than the
    repair delay. The repair scales pool A (no new pool), to 3 nodes, 2 of them asked for,
    for the pool's own machine, zone, capacity type, accelerator and rule (none: ``-1``)."""
    pool = _pool(nodes=3).model_copy(update={"rule_index": rule, "accelerator": H100})
    pools, nodes = [pool], [_node("a-1")]
    state = reduce(ControllerState(), Observed(_snapshot(pools=pools, nodes=nodes, at=-60)))
    decision = _run(_snapshot(pools=pools, nodes=nodes, node_counts={POOL_A: 1}), state)
    [repair] = [c for c in _of(Provision, decision) if c.cause is Cause.REPAIR]
    assert isinstance(repair, Provision)
    a = repair.attempt
    assert (a.node_pool, a.decision, a.nodes, a.target_nodes) == (POOL_A, "scale", 2, 3)
    assert (a.machine_type, a.zone, a.capacity_type) == (MACHINE, ZONE_A, pool.capacity_type)
    assert (a.accelerator, a.rule) == (H100, expected_rule)


def test_two_failures_judged_in_one_pass_both_stay_in_the_memory_the_walk_uses() -> None:
    """Requests for pool A (zone a) and pool B (zone b), the class's only two zones, both ran
    out of capacity. The pass that judges them marks both offerings, and its walk skips both:
    the second mark builds on the first, it does not replace it, so nothing is asked for and
    the pod waits for a backoff to end."""
    snap = _snapshot(pods=[_pod("b")])
    first = _run(snap)
    [in_a] = _of(Provision, first)
    assert isinstance(in_a, Provision) and in_a.attempt.zone == ZONE_A
    in_b = replace(in_a, attempt=replace(in_a.attempt, zone=ZONE_B, node_pool=POOL_B))
    state = reduce(reduce(ControllerState(), Observed(snap)), Issued((in_a, in_b), NOW))
    for call in (in_a, in_b):
        state = reduce(state, ProviderDone(call, NOW, ErrorInfo("stockout", "STOCKOUT")))
    decision = _run(_snapshot(pods=[_pod("b")]), state)
    marked = [c.entry.key.zone for c in _of(MarkUnavailable, decision)]  # type: ignore[attr-defined]
    assert sorted(marked) == [ZONE_A, ZONE_B]
    assert _of(Provision, decision) == []
    assert [w.cause for w in _of(WaitUntil, decision)] == [Cause.PENDING]  # type: ignore[attr-defined]


@pytest.mark.parametrize("error", ["stockout", "given-up"])
def test_a_mark_names_the_pool_and_the_rule_whose_request_failed(error: str) -> None:
    """Whether the create failed at once or its nodes never registered, the verdict records
    which node pool and which rule of the class it is about (the decision record, logged and
    counted by the shell)."""
    if error == "stockout":
        snap = _snapshot(pods=[_pod("b")])
        [call] = _of(Provision, _run(snap))
        assert isinstance(call, Provision)
        state = reduce(reduce(ControllerState(), Observed(snap)), Issued((call,), NOW))
        state = reduce(state, ProviderDone(call, NOW, ErrorInfo("stockout", "STOCKOUT")))
        decision = _run(_snapshot(pods=[_pod("b")]), state)
    else:
        pools, nodes = [_pool(nodes=3).model_copy(update={"rule_index": 1})], [_node("a-1")]
        state = reduce(ControllerState(), Observed(_snapshot(pools=pools, nodes=nodes, at=-601)))
        decision = _run(_snapshot(pools=pools, nodes=nodes, node_counts={POOL_A: 1}), state)
    [mark] = _of(MarkUnavailable, decision)
    assert isinstance(mark, MarkUnavailable)
    assert (mark.pool, mark.rule) == (POOL_A, 0 if error == "stockout" else 1)


@pytest.mark.parametrize(
    ("pool_rule", "given_up"),
    [(0, True), (1, False)],
    ids=["rule-without-a-wait", "rule-with-capacityCheckWaitTimeSeconds"],
)
def test_nodes_of_a_rule_with_a_capacity_check_wait_get_that_long_to_register(
    pool_rule: int, given_up: bool
) -> None:
    """reference/gke-computeclass.md §2.2 ``capacityCheckWaitTimeSeconds``: rule 1 waits up to
    1,200 s for capacity. Two of pool A's three nodes have been missing for 601 s, past the
    600 s registration timeout: they are given up when the pool belongs to rule 0 (no wait),
    and awaited until 1,200 s when it belongs to rule 1."""
    cc = _class(
        make_rule(MACHINE, spot=True),
        make_rule(MACHINE, flexStart={"enabled": True}, capacityCheckWaitTimeSeconds=1200),
    )
    pools = [_pool(nodes=3).model_copy(update={"rule_index": pool_rule})]
    nodes = [_node("a-1")]
    seen = _snapshot(classes=[cc], pools=pools, nodes=nodes, at=-601)
    state = reduce(ControllerState(), Observed(seen))
    decision = _run(
        _snapshot(classes=[cc], pools=pools, nodes=nodes, node_counts={POOL_A: 1}), state
    )
    shrinks = [c.pool_size for c in _of(Delete, decision)]  # type: ignore[attr-defined]
    waits = [
        (w.at, w.class_name)  # type: ignore[attr-defined]
        for w in _of(WaitUntil, decision)
        if w.cause is Cause.REGISTRATION  # type: ignore[attr-defined]
    ]
    if given_up:
        assert (shrinks, waits) == ([1], [])
    else:
        assert (shrinks, waits) == ([], [(NOW + timedelta(seconds=1200 - 601), "gpu")])


@pytest.mark.parametrize(
    ("result", "cause", "scope", "marked"),
    [
        ("stockout", Cause.STOCKOUT, "zone", ZONE_A),
        ("quota", Cause.QUOTA, "region", "us-central1"),
    ],
)
def test_a_late_capacity_or_quota_error_gives_up_on_the_missing_nodes_at_once(
    result: str, cause: Cause, scope: str, marked: str
) -> None:
    """An accepted resize whose VMs the provider later reports as refused (out of capacity,
    or over a quota) is given up 30 s in, long before the registration timeout; the offering
    is marked at the error's scope (a regional quota: the whole region)."""
    pools, nodes = [_pool(nodes=3)], [_node("a-1")]
    state = reduce(ControllerState(), Observed(_snapshot(pools=pools, nodes=nodes, at=-30)))
    location = ZONE_A if scope == "zone" else "us-central1"
    late = ErrorInfo(result, "REFUSED", "no VMs", scope, location)  # type: ignore[arg-type]
    state = reduce(state, LateErrors(POOL_A, (late,), NOW))
    decision = _run(_snapshot(pools=pools, nodes=nodes), state)
    [shrink] = _of(Delete, decision)
    assert isinstance(shrink, Delete)
    assert (shrink.pool_size, shrink.cause, shrink.class_name) == (1, cause, "gpu")
    [mark] = _of(MarkUnavailable, decision)
    assert isinstance(mark, MarkUnavailable)
    assert (mark.entry.reason, mark.entry.message) == ("REFUSED", "no VMs")
    assert mark.entry.key.zone == marked


def _missing_since(seconds: float, **state: object) -> ControllerState:
    return ControllerState(
        missing={POOL_A: Missing(since=NOW - timedelta(seconds=seconds), count=1)},
        **state,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("state", "due"),
    [
        (_missing_since(29), False),
        (_missing_since(30), True),
        (_missing_since(3600, repaired_at={POOL_A: NOW - timedelta(seconds=10)}), False),
        (_missing_since(3600, repaired_at={POOL_A: NOW - timedelta(seconds=30)}), True),
        (_missing_since(3600, calls=frozenset({POOL_A})), False),
    ],
    ids=[
        "missing-29s",
        "missing-30s-or-more",
        "repaired-10s-ago",
        "repaired-30s-ago",
        "provider-call-running",
    ],
)
def test_a_repair_is_due_once_nodes_are_missing_for_repair_after_s_since_the_last_one(
    state: ControllerState, due: bool
) -> None:
    """``repair_after_s`` (30 s): the shell reads the API server only for pools whose nodes
    have been missing that long, counted from the last repair, and with no call running."""
    assert repairs_due(state, Settings(), NOW) == ([POOL_A] if due else [])


@pytest.mark.parametrize("failed", ["repair", "delete"])
def test_a_failed_repair_or_delete_is_retried_after_a_pause_and_marks_nothing(failed: str) -> None:
    """A repair or a delete that fails, even for lack of capacity, says nothing about whether
    the offering is obtainable for new pods: the pool is paused for ``error_retry_s``."""
    pool = _pool(nodes=3)
    call: Provision | Delete
    if failed == "repair":
        state = reduce(ControllerState(), Observed(_snapshot(pools=[pool], at=-60)))
        [call] = [
            c
            for c in _of(Provision, _run(_snapshot(pools=[pool], node_counts={POOL_A: 0}), state))
            if c.cause is Cause.REPAIR  # type: ignore[attr-defined]
        ]  # type: ignore[assignment]
    else:
        call = Delete(POOL_A, "gpu", "", Cause.CONSOLIDATION, whole_pool=True)
    state = reduce(ControllerState(), Issued((call,), NOW))
    state = reduce(state, ProviderDone(call, NOW, ErrorInfo("stockout", "STOCKOUT")))
    decision = _run(_snapshot(pools=[pool]), state, error_retry_s=5)
    assert _of(MarkUnavailable, decision) == []
    holds = [w.at for w in _of(WaitUntil, decision) if w.hold == POOL_A]  # type: ignore[attr-defined]
    assert holds == [NOW + timedelta(seconds=5)]


@pytest.mark.parametrize("result", ["stockout", "quota"])
def test_a_capacity_or_quota_error_inside_the_capacity_check_window_retries_the_same_pool(
    result: str,
) -> None:
    """reference/gke-computeclass.md §2.2: a flex-start rule with
    ``capacityCheckWaitTimeSeconds`` keeps trying its offering for that long, whether the
    provider said out of capacity or over quota. The window is the class's (restored from its
    status after a restart)."""
    error = ErrorInfo(result, "REFUSED")  # type: ignore[arg-type]
    state, first = _failed(error, wait_s=60)
    flex = _class(make_rule(MACHINE, flexStart={"enabled": True}, capacityCheckWaitTimeSeconds=60))
    decision = _run(_snapshot(classes=[flex], pods=[_pod("b")]), state)
    assert _of(MarkUnavailable, decision) == []
    [wait] = [w for w in _of(WaitUntil, decision) if w.cause is Cause.CAPACITY_CHECK]  # type: ignore[attr-defined]
    assert isinstance(wait, WaitUntil) and wait.check is not None
    assert (wait.hold, wait.class_name, wait.check.class_name) == (first.pool, "gpu", "gpu")


def test_every_failure_of_a_pass_is_judged_after_a_transient_one() -> None:
    """Pool A's call failed transiently and pool B's ran out of capacity: A is paused (for
    its class, as a provider error) and B's offering is marked."""
    snap = _snapshot(pods=[_pod("b")])
    [in_a] = _of(Provision, _run(snap))
    assert isinstance(in_a, Provision)
    in_b = replace(in_a, attempt=replace(in_a.attempt, zone=ZONE_B, node_pool=POOL_B))
    state = reduce(reduce(ControllerState(), Observed(snap)), Issued((in_a, in_b), NOW))
    state = reduce(state, ProviderDone(in_a, NOW, ErrorInfo("transient", "UNAVAILABLE")))
    state = reduce(state, ProviderDone(in_b, NOW, ErrorInfo("stockout", "STOCKOUT")))
    decision = _run(_snapshot(pods=[_pod("b")]), state)
    assert [c.entry.key.zone for c in _of(MarkUnavailable, decision)] == [ZONE_B]  # type: ignore[attr-defined]
    [pause] = [w for w in _of(WaitUntil, decision) if w.hold == POOL_A]  # type: ignore[attr-defined]
    assert isinstance(pause, WaitUntil)
    assert (pause.cause, pause.class_name) == (Cause.PROVIDER_ERROR, "gpu")


@pytest.mark.parametrize(("judged_at", "marked"), [(59, False), (60, True)])
def test_once_the_capacity_check_window_has_ended_the_offering_is_marked(
    judged_at: int, marked: bool
) -> None:
    """``capacityCheckWaitTimeSeconds: 60``: a stockout judged 59 s after the first failure is
    retried; one judged 60 s after it is past the window, and the offering is marked."""
    state, _ = _failed(ErrorInfo("stockout", "STOCKOUT"), wait_s=60)
    flex = _class(make_rule(MACHINE, flexStart={"enabled": True}, capacityCheckWaitTimeSeconds=60))
    decision = _run(_snapshot(classes=[flex], pods=[_pod("b")], at=judged_at), state)
    assert len(_of(MarkUnavailable, decision)) == (1 if marked else 0)


@pytest.mark.parametrize(("missing_for", "given_up"), [(599, False), (600, True)])
def test_nodes_are_given_up_once_the_registration_timeout_has_passed(
    missing_for: int, given_up: bool
) -> None:
    """``node_registration_timeout_s`` (600 s): nodes missing for 599 s are awaited, nodes
    missing for 600 s are given up."""
    pools, nodes = [_pool(nodes=3)], [_node("a-1")]
    seen = _snapshot(pools=pools, nodes=nodes, at=-missing_for)
    state = reduce(ControllerState(), Observed(seen))
    decision = _run(_snapshot(pools=pools, nodes=nodes, node_counts={POOL_A: 1}), state)
    assert len(_of(Delete, decision)) == (1 if given_up else 0)


def test_every_pool_with_missing_nodes_is_judged_after_one_that_is_still_awaited() -> None:
    """Pools A and B both miss nodes; the first (by name) is within its registration timeout,
    the second is past it: the second is still given up."""
    first, second = sorted([POOL_A, POOL_B])
    young = _pool(first, nodes=2)
    old = _pool(second, nodes=2, zone=ZONE_B)
    nodes = [_node("y-1", first), _node("o-1", second)]
    state = reduce(ControllerState(), Observed(_snapshot(pools=[old], nodes=nodes, at=-700)))
    state = reduce(state, Observed(_snapshot(pools=[young, old], nodes=nodes, at=-10)))
    decision = _run(
        _snapshot(pools=[young, old], nodes=nodes, node_counts={first: 1, second: 1}), state
    )
    assert [c.pool for c in _of(Delete, decision)] == [second]  # type: ignore[attr-defined]


def test_a_permanent_provider_error_marks_the_offering_as_a_provider_error() -> None:
    """A request the provider refuses for good (an invalid request, a permission) marks its
    offering, so one broken rule cannot stall the class; it is neither a stockout nor quota."""
    state, _ = _failed(ErrorInfo("permanent", "PERMISSION_DENIED"))  # type: ignore[arg-type]
    decision = _run(_snapshot(pods=[_pod("b")]), state)
    [mark] = _of(MarkUnavailable, decision)
    assert isinstance(mark, MarkUnavailable)
    assert (mark.entry.key.zone, mark.cause) == (ZONE_A, Cause.PROVIDER_ERROR)
