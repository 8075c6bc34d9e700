"""Waiting for the first of several things (an event, a clock's sleep), cancelling the rest."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable


async def first_of(*waits: Awaitable[object]) -> None:
    """Return as soon as one of ``waits`` is done; the others are cancelled and awaited (so a
    virtual clock drops their sleepers)."""
    tasks = {asyncio.ensure_future(w) for w in waits}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
