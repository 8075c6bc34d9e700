"""A time-ordered queue of scripted changes (capacity changes, stockouts, preemptions, expiries).

The simulated cloud applies every change whose time has come before it serves a call (and in
:meth:`~providers.simulated.cloud.SimulatedCloud.run_events`), so its state is a function of the
injected clock's time, whatever order callers look at it in. Changes due at the same instant
apply in the order they were scheduled.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

Action = Callable[[datetime], None]


@dataclass(order=True, slots=True)
class _Entry:
    at: datetime
    seq: int
    action: Action = field(compare=False)


class Schedule:
    """Min-heap of ``(time, action)``; actions receive their scheduled time."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, at: datetime, action: Action) -> None:
        heapq.heappush(self._heap, _Entry(at, next(self._seq), action))

    def next_at(self) -> datetime | None:
        """When the next change is due, or ``None`` when nothing is scheduled."""
        return self._heap[0].at if self._heap else None

    def run_due(self, now: datetime) -> int:
        """Apply, in order, every change due at or before ``now``.

        Returns:
            how many changes were applied.
        """
        applied = 0
        while self._heap and self._heap[0].at <= now:
            entry = heapq.heappop(self._heap)
            entry.action(entry.at)
            applied += 1
        return applied

    def clear(self) -> None:
        self._heap.clear()
