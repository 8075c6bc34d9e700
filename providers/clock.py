"""Clocks: the one place the controller and the simulated cloud read time from.

Injecting a :class:`Clock` instead of calling ``datetime.now``/``asyncio.sleep`` lets tests and
``ccc simulate`` run days of provisioning, preemptions and flex-start expiries in milliseconds
of real time, deterministically. :class:`SystemClock` is the production clock;
:class:`VirtualClock` is virtual time that moves only when told to (:meth:`VirtualClock.advance`)
or, inside :meth:`VirtualClock.run`, when every task is asleep on it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

#: Start of virtual time unless told otherwise: a fixed instant, so runs are reproducible.
VIRTUAL_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@runtime_checkable
class Clock(Protocol):
    """Wall-clock time and sleeping.

    Contract: :meth:`now` returns a timezone-aware UTC datetime that never goes backwards;
    :meth:`sleep` suspends the caller for ``seconds`` of this clock's time (``<= 0`` just yields)
    and respects cancellation.
    """

    def now(self) -> datetime:
        """The current time (UTC, aware)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Real time: ``datetime.now(UTC)`` and ``asyncio.sleep``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass(order=True, slots=True)
class _Sleeper:
    deadline: datetime
    seq: int
    future: asyncio.Future[None] = field(compare=False)


class VirtualClock:
    """Virtual time for tests, benchmarks and ``ccc simulate``.

    Time starts at ``start`` and moves only through :meth:`advance`/:meth:`advance_to`, or through
    :meth:`run`, which jumps to the earliest sleeper's deadline whenever the event loop has
    nothing else to do. Sleepers wake in deadline order (ties in the order they went to sleep),
    and after each wake-up the clock yields to the event loop ``settle_rounds`` times so the woken
    task can run (and go back to sleep) before time moves on. That makes runs deterministic for
    code whose only waiting is on this clock.

    Args:
        start: the initial time; must be timezone-aware. Defaults to :data:`VIRTUAL_EPOCH`.
        settle_rounds: event-loop iterations granted to woken tasks before time moves again.
    """

    def __init__(self, start: datetime = VIRTUAL_EPOCH, *, settle_rounds: int = 20) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock start must be timezone-aware (use tzinfo=UTC)")
        self._now = start.astimezone(UTC)
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self.settle_rounds = settle_rounds

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sleeper = _Sleeper(self._now + timedelta(seconds=seconds), next(self._seq), future)
        heapq.heappush(self._sleepers, sleeper)
        await future

    @property
    def sleepers(self) -> int:
        """How many tasks are asleep on this clock."""
        self._drop_cancelled()
        return len(self._sleepers)

    def next_deadline(self) -> datetime | None:
        """When the earliest sleeper wakes, or ``None`` when nobody sleeps."""
        self._drop_cancelled()
        return self._sleepers[0].deadline if self._sleepers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers due on the way, in order."""
        await self.advance_to(self._now + timedelta(seconds=seconds))

    async def advance_to(self, target: datetime) -> None:
        """Move time forward to ``target`` (never backwards), waking sleepers due on the way.

        A task woken on the way that sleeps again with a deadline ``<= target`` is woken again
        within the same call.
        """
        while True:
            self._drop_cancelled()
            if not self._sleepers or self._sleepers[0].deadline > target:
                break
            sleeper = heapq.heappop(self._sleepers)
            self._now = max(self._now, sleeper.deadline)
            sleeper.future.set_result(None)
            await self.settle()
        self._now = max(self._now, target)
        await self.settle()

    async def settle(self) -> None:
        """Yield to the event loop ``settle_rounds`` times so runnable tasks can proceed."""
        for _ in range(self.settle_rounds):
            await asyncio.sleep(0)

    async def run(self, awaitable: Awaitable[T], *, real_poll_s: float = 0.001) -> T:
        """Await ``awaitable``, jumping virtual time forward whenever everything is asleep.

        While the awaitable is not done: let runnable tasks settle; if sleepers exist, wake the
        earliest (moving time to its deadline); if none do, the awaitable waits on something
        outside virtual time, so wait ``real_poll_s`` of real time and look again.

        Returns:
            the awaitable's result (its exception is raised as is).
        """
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                await self.settle()
                if task.done():
                    return task.result()
                deadline = self.next_deadline()
                if deadline is None:
                    await asyncio.wait({task}, timeout=real_poll_s)
                else:
                    await self.advance_to(deadline)
        finally:
            if not task.done():
                task.cancel()

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0].future.done():
            heapq.heappop(self._sleepers)
