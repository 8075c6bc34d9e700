"""A refused delete is not re-issued on every pass: a pool the provider does not have is done,
other failures pause the pool for a doubling time.

The loop tests run the controller's whole loop over the in-memory cluster, the simulated cloud
and a virtual clock (:mod:`tests.support.memloop`: the API server and the scheduler are the
in-memory cluster, fakes because none can run in a unit test; everything else is production
code). The provider's answers are injected with ``SimulatedCloud.fail_next``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from policies.commands import Cause, Delete, Drain
from policies.outcomes import retry_pause
from policies.settings import Settings
from policies.state import ControllerState, ErrorInfo, ProviderDone, reduce
from providers.errors import NodePoolNotFoundError, PermissionDeniedError
from tests.support.memloop import Loop, gpu_class, gpu_pod

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _flex_class() -> dict[str, Any]:
    cls = gpu_class(spot=False, zones=("us-central1-a",))
    rule = cls["spec"]["priorities"][0]
    rule["flexStart"] = {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 600}}
    rule["maxRunDurationSeconds"] = 3600
    return cls


async def _drained_flex_node() -> tuple[Loop, NodeInfo]:
    """One pod on a flex-start node (1 h run, 10 min lead), run until the old node's drain
    started: the next step is its Delete."""
    loop = Loop.create(classes=[_flex_class()], boot_delay_s=30.0)
    await loop.start()
    loop.cluster.add_pod(gpu_pod("vllm-0"))
    await loop.until("the pod Running", lambda: len(loop.running()) == 1)
    [old] = [n for n in loop.cluster.nodes() if n.labels.get(L.CLASS_LABEL) == "gpu"]
    await loop.until(
        "the old node drained",
        lambda: any(isinstance(c, Drain) for r in loop.reports for c in r.commands),
        timeout_s=7200,
    )
    return loop, old


def _deletes_of(loop: Loop, node: str) -> list[datetime]:
    return [
        r.at for r in loop.reports for c in r.commands if isinstance(c, Delete) and node in c.nodes
    ]


def _listed(loop: Loop, node: str) -> bool:
    return any(n.name == node for n in loop.cluster.nodes())


async def test_a_delete_of_a_pool_the_cloud_does_not_have_is_done_and_not_issued_again() -> None:
    loop, old = await _drained_flex_node()
    for _ in range(50):
        gone = NodePoolNotFoundError("Node pool not found.", reason="NOT_FOUND")
        loop.cloud.fail_next(gone, method="delete_nodes")
    await loop.until("the Delete issued", lambda: bool(_deletes_of(loop, old.name)))
    await loop.advance(120.0)
    assert len(_deletes_of(loop, old.name)) == 1, "not-found ends the delete: nothing to retry"
    assert [c.method for c in loop.cloud.calls].count("delete_nodes") == 1
    assert _listed(loop, old.name), "the node is not this cloud's: it is left alone"
    await loop.stop()


async def test_a_refused_delete_is_retried_after_a_pause_that_doubles_and_then_succeeds() -> None:
    loop, old = await _drained_flex_node()
    for _ in range(4):
        denied = PermissionDeniedError("denied", reason="FORBIDDEN")
        loop.cloud.fail_next(denied, method="delete_nodes")
    await loop.until("the old node deleted", lambda: not _listed(loop, old.name), timeout_s=600)
    at = _deletes_of(loop, old.name)
    assert len(at) == 5, at
    gaps = [(b - a).total_seconds() for a, b in pairwise(at)]
    # error_retry_s (5 s) doubling: 5, 10, 20, 40 (each at least; a pass may come a bit later)
    for gap, pause in zip(gaps, (5, 10, 20, 40), strict=True):
        assert pause <= gap < pause + 5, gaps
    await loop.stop()


@pytest.mark.parametrize(
    ("failures", "pause"),
    [(0, 5.0), (1, 5.0), (2, 10.0), (3, 20.0), (6, 160.0), (7, 300.0), (60, 300.0)],
)
def test_the_pause_after_failed_deletes_doubles_from_the_error_retry_up_to_its_cap(
    failures: int, pause: float
) -> None:
    state = ControllerState(delete_failures={"p": failures} if failures else {})
    delete = Delete(pool="p", class_name="c", reason="", cause=Cause.CONSOLIDATION, nodes=("n",))
    assert retry_pause(delete, state, Settings()) == pause


def test_failed_deletes_are_counted_per_pool_and_a_success_ends_the_count() -> None:
    delete = Delete(pool="p", class_name="c", reason="", cause=Cause.CONSOLIDATION, nodes=("n",))
    error = ErrorInfo("permanent", "FORBIDDEN", "denied")
    state = ControllerState(calls=frozenset({"p"}))
    state = reduce(state, ProviderDone(delete, T0, error))
    state = reduce(state, ProviderDone(delete, T0 + timedelta(seconds=5), error))
    assert state.delete_failures == {"p": 2}
    state = reduce(state, ProviderDone(delete, T0 + timedelta(seconds=15)))
    assert state.delete_failures == {}


async def test_a_refused_delete_releases_its_nodes_so_their_later_loss_is_a_preemption_again() -> (
    None
):
    """ccc does not count the deletion of a node it is deleting itself as a preemption
    (ccc/controller/signals.py); a delete the provider refused leaves the node there, so the
    name must not stay in that set (for ever, if the node is never deleted)."""
    loop, old = await _drained_flex_node()
    loop.cloud.fail_next(PermissionDeniedError("denied", reason="FORBIDDEN"), method="delete_nodes")
    await loop.until("the Delete issued", lambda: bool(_deletes_of(loop, old.name)))
    await loop.until(
        "the refusal judged",
        lambda: any(
            isinstance(o.command, Delete) and o.error is not None
            for r in loop.reports
            for o in r.outcomes
        ),
    )
    assert loop.reconciler is not None
    assert old.name not in loop.reconciler.signals.deleting
    await loop.until("the old node deleted", lambda: not _listed(loop, old.name), timeout_s=600)
    assert len(_deletes_of(loop, old.name)) == 2  # the retry marked it again, and it went
    assert old.name not in loop.reconciler.signals.deleting
    await loop.stop()


def test_a_failed_whole_pool_delete_releases_every_node_of_that_pool_only() -> None:
    from ccc.controller.signals import Signals
    from providers.clock import VirtualClock

    signals = Signals(VirtualClock(), keep_s=60)
    signals.deletes("p", ["a", "b"])
    signals.deletes("q", ["c"])
    signals.delete_failed("p", ["a"])
    assert signals.deleting == {"b": "p", "c": "q"}
    signals.delete_failed("p")
    assert signals.deleting == {"c": "q"}
