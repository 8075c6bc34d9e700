"""Behavioural tests that pin down rules of policies/outcomes.py which no other unit test checked
(found by mutation testing, docs/testing.md): what a repair asks for, ..."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ccc.api.values import Accelerator, AcceleratorKind
from policies.commands import Cause, MarkUnavailable, Provision, WaitUntil
from policies.state import ControllerState, ErrorInfo, Issued, Observed, ProviderDone, reduce
from tests.builders import NOW
from tests.unit.test_policies_decide import (
    MACHINE,
    POOL_A,
    POOL_B,
    ZONE_A,
    ZONE_B,
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
