"""Execute commands: provider calls run as tracked tasks, never awaited inside a pass.

:meth:`Executor.start` starts one task per provider command (:class:`~policies.commands.Provision`,
:class:`~policies.commands.Delete`) and returns at once; when a call ends, its outcome (a
:class:`~policies.state.ProviderDone` with the error as plain data) goes into the
:class:`Inbox`, which wakes the loop at once (a stockout is walked again within one pass, not
after a batching window). Other commands need no provider call: :class:`MarkUnavailable` and
:class:`WaitUntil` are recorded in the state by the reducer; the lifecycle verbs (Replace,
Cordon, Drain) by :mod:`ccc.controller.nodeops`; ScaleTarget by the ServingGroup work.

Typed provider errors are translated into :class:`~policies.state.ErrorInfo` here, in one
place, so the policies can judge them without importing providers. A :class:`Delete` whose pool
the provider does not have (``NodePoolNotFoundError``) succeeded: there is nothing left to delete,
and retrying it would only fail again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from ccc.controller.waiting import cancel_and_wait
from policies.commands import (
    Command,
    Cordon,
    Delete,
    Drain,
    MarkUnavailable,
    Provision,
    Replace,
    ScaleTarget,
    WaitUntil,
)
from policies.state import ErrorInfo, Input, ProviderDone, Result
from providers.base import Provider
from providers.clock import Clock
from providers.errors import (
    InsufficientCapacityError,
    NodePoolNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
)

log = structlog.get_logger("ccc.controller")


def error_info(error: ProviderError) -> ErrorInfo:
    """A provider error as the policies see it."""
    result: Result
    if isinstance(error, InsufficientCapacityError):
        result = "stockout"
    elif isinstance(error, QuotaExceededError):
        result = "quota"
    elif isinstance(error, ProviderUnavailableError):
        result = "transient"
    else:
        result = "permanent"
    return ErrorInfo(
        result=result,
        code=error.reason,
        message=error.message[:500],
        scope=error.scope,
        location=error.location,
    )


class Inbox:
    """Outcomes waiting for the next pass, and the event that wakes the loop for them."""

    def __init__(self) -> None:
        self._items: deque[Input] = deque()
        self.ready = asyncio.Event()

    def put(self, item: Input) -> None:
        self._items.append(item)
        self.ready.set()

    def take(self) -> list[Input]:
        items = list(self._items)
        self._items.clear()
        self.ready.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)


class Executor:
    """Runs provider calls for commands as tasks (see the module docstring).

    Args:
        timeout_s: bound on each provider call (real time: it guards I/O, it is not a timer of
            the loop).
    """

    def __init__(self, provider: Provider, clock: Clock, inbox: Inbox, *, timeout_s: float) -> None:
        self.provider = provider
        self.clock = clock
        self.inbox = inbox
        self.timeout_s = timeout_s
        #: called with each outcome the moment its call ends (logging), before the inbox
        self.on_done: Callable[[ProviderDone], None] = lambda _: None
        self._tasks: set[asyncio.Task[None]] = set()
        #: runs ScaleTarget commands (ccc.controller.scale.ScaleExecutor), when serving is on
        self.scale: Any = None

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def start(self, commands: Iterable[Command]) -> int:
        """Start a task for each provider command; returns how many were started."""
        started = 0
        for c in commands:
            if isinstance(c, Provision | Delete):
                task = asyncio.create_task(self._run(c), name=f"provider-{c.pool}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started += 1
            elif isinstance(c, ScaleTarget) and self.scale is not None:
                self.scale.start(c)
            elif not isinstance(c, MarkUnavailable | WaitUntil | Replace | Cordon | Drain):
                # Node verbs run in ccc.controller.nodeops.
                log.error("command.not_executed", verb=type(c).__name__, reason=c.reason)
        return started

    async def wait_any(self) -> None:
        """Wait until at least one running call ends (returns at once when none runs)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    async def cancel_all(self) -> None:
        """Cancel running calls (leadership lost: the next leader reads the cloud's state)."""
        await cancel_and_wait(self._tasks)

    async def _run(self, command: Provision | Delete) -> None:
        error: ErrorInfo | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._call(command)
        except NodePoolNotFoundError as exc:
            if not isinstance(command, Delete):
                error = error_info(exc)
            else:  # what the delete was for is done: the pool is gone (or was never this cloud's)
                log.info("provider.delete_pool_gone", node_pool=command.pool, message=exc.message)
        except ProviderError as exc:
            error = error_info(exc)
        except TimeoutError:
            error = ErrorInfo(
                "transient", "TIMEOUT", f"provider call timed out after {self.timeout_s:.0f}s"
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected SDK error: retried after a pause
            log.exception("provider.call_crashed", node_pool=command.pool)
            error = ErrorInfo("transient", "INTERNAL", f"{type(exc).__name__}: {exc}"[:500])
        done = ProviderDone(command, self.clock.now(), error)
        try:
            self.on_done(done)
        finally:
            self.inbox.put(done)

    async def _call(self, c: Provision | Delete) -> Any:
        p = self.provider
        if isinstance(c, Delete):
            if c.whole_pool:
                return await p.delete_node_pool(c.pool)
            if c.nodes:
                return await p.delete_nodes(c.pool, c.nodes)
            if c.pool_size is not None and c.pool_size > 0:
                return await p.resize_node_pool(c.pool, node_count=c.pool_size)
            return await p.delete_node_pool(c.pool)
        a = c.attempt
        if a.decision == "create" and a.spec is not None:
            return await p.create_node_pool(a.spec)
        if a.decision == "scale" and a.node_pool and a.target_nodes is not None:
            return await p.resize_node_pool(a.node_pool, node_count=a.target_nodes)
        raise ValueError(f"attempt cannot be executed: {a.decision} {a.node_pool}")
