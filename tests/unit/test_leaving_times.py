"""When a node's leaving signal was first seen, for the ServingGroup loop's signal-to-scale
time (ccc/controller/signals.py ``LeavingTimes``): which changes are signals, that a signal is
answered once and only for the nodes named, and that unanswered ones are forgotten."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ccc.api import labels as L
from ccc.api.values import Taint
from ccc.controller.signals import LeavingTimes
from providers.clock import VirtualClock
from tests.builders import make_node

NODE = make_node("n-1")
TAINTED = replace(
    NODE, taints=(*NODE.taints, Taint(key=L.IMPENDING_TERMINATION_TAINT, value="true"))
)


@pytest.mark.parametrize(
    ("event", "old", "new", "signal"),
    [
        pytest.param("MODIFIED", NODE, TAINTED, True, id="the termination taint appears"),
        pytest.param("MODIFIED", TAINTED, TAINTED, False, id="a tainted node changes again"),
        pytest.param("MODIFIED", NODE, replace(NODE, ready=False), True, id="Ready -> NotReady"),
        pytest.param("DELETED", NODE, None, True, id="the node is deleted"),
        pytest.param("MODIFIED", NODE, replace(NODE, labels={}), False, id="a label change"),
        pytest.param("ADDED", None, NODE, False, id="a new Ready node"),
    ],
)
def test_leaving_signals_are_the_taint_notready_and_deletion(
    event: str, old: object, new: object, signal: bool
) -> None:
    times = LeavingTimes(VirtualClock())
    assert times.node_changed(event, old, new) is signal  # type: ignore[arg-type]


async def test_a_signal_is_answered_once_and_only_for_the_nodes_named() -> None:
    clock = VirtualClock()
    times = LeavingTimes(clock)
    times.node_changed("MODIFIED", NODE, TAINTED)
    await clock.advance(0.4)
    times.node_changed("DELETED", make_node("n-2"), None)
    await clock.advance(0.2)
    assert times.answer(["other"], clock.now()) is None
    assert times.answer(["n-1", "n-2"], clock.now()) == pytest.approx(0.6)
    assert times.answer(["n-1", "n-2"], clock.now()) is None


async def test_a_signal_nobody_answers_is_forgotten_after_keep_s() -> None:
    clock = VirtualClock()
    times = LeavingTimes(clock, keep_s=60)
    times.node_changed("MODIFIED", NODE, TAINTED)
    await clock.advance(timedelta(minutes=2).total_seconds())
    assert times.answer(["n-1"], clock.now()) is None
