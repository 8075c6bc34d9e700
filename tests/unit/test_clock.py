"""The injectable clocks: virtual time moves only when told, wakes sleepers in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from providers.clock import SystemClock, VirtualClock


async def test_virtual_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = VirtualClock()
    start = clock.now()
    woke: list[tuple[str, float]] = []

    async def sleeper(label: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((label, (clock.now() - start).total_seconds()))

    tasks = [asyncio.create_task(sleeper(x, s)) for x, s in [("c", 30), ("a", 10), ("b", 20)]]
    await clock.settle()
    await clock.advance(25)
    assert woke == [("a", 10), ("b", 20)]
    await clock.advance(5)
    assert [x for x, _ in woke] == ["a", "b", "c"]
    await asyncio.gather(*tasks)


async def test_virtual_clock_wakes_a_periodic_sleeper_once_per_period() -> None:
    clock = VirtualClock()
    ticks: list[datetime] = []

    async def every_ten_seconds() -> None:
        while True:
            await clock.sleep(10)
            ticks.append(clock.now())

    task = asyncio.create_task(every_ten_seconds())
    await clock.settle()
    await clock.advance(60)
    task.cancel()
    assert len(ticks) == 6
    assert ticks[-1] - ticks[0] == timedelta(seconds=50)


async def test_virtual_clock_run_jumps_time_when_everything_sleeps() -> None:
    clock = VirtualClock()
    start = clock.now()

    async def a_day_of_work() -> str:
        await clock.sleep(3600)
        await clock.sleep(23 * 3600)
        return "done"

    assert await clock.run(a_day_of_work()) == "done"
    assert clock.now() - start == timedelta(days=1)


def test_virtual_clock_needs_an_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2026, 1, 1))


def test_system_clock_reads_aware_utc_time() -> None:
    assert SystemClock().now().tzinfo is UTC
