"""The controller's own loop over the in-memory cluster, the simulated cloud and a virtual clock.

This is what ``ccc simulate`` runs and what the unit tests' harness (tests/support/memloop.py)
builds on. Nothing below the loop is a second implementation: the loop, the decide step, the
executor and the status recorder are the production :class:`~ccc.controller.reconciler.
Reconciler`; the API server and scheduler are the in-memory cluster
(:mod:`ccc.controller.memcluster`), the cloud is :class:`~providers.simulated.SimulatedCloud`.

Time moves from event to event: :meth:`VirtualLoop.run_to` wakes the earliest sleeper on the
virtual clock (a batching window, a decide step's next wake, a node finishing its boot, a trace
change, a scripted event), lets every task that woke run until all sleep again, calls the
``on_instant`` hook (where ``ccc simulate`` records the state of that instant), and jumps on.

**Where lifecycle and ServingGroup passes plug in.** They are parts of the loop's own decide and
execute steps (flex-start replacement before the deadline, ServingGroup shifts as
``ScaleTarget`` commands), so a :class:`VirtualLoop` runs them as soon as the reconciler does:
the driver adds nothing for them. What a simulation needs besides is a *demand model* per
kind of demand (:class:`ccc.simulate.run.DemandModel`): plain workloads are modelled today;
ServingGroups plug in there when the ServingGroup controller runs over the in-memory cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog
from ccc.controller.config import ControllerConfig
from ccc.controller.memcluster import InMemoryCluster, wire
from ccc.controller.metrics import Metrics
from ccc.controller.reconciler import PassReport, Reconciler
from providers.clock import VIRTUAL_EPOCH, VirtualClock
from providers.simulated import SimulatedCloud
from providers.simulated.timeline import PreemptionConvention

#: The controller's timings in a simulation: ``ccc run``'s defaults, except a resync so long it
#: never drives the loop (the loop wakes from its own wait times and from events, as it does in
#: production; a 10 s resync would only add passes that find nothing to do).
SIMULATION_CONFIG = ControllerConfig(resync_s=24 * 3600.0)

#: Called after each virtual instant settles, with the loop.
InstantHook = Callable[["VirtualLoop"], None]


@dataclass
class VirtualLoop:
    """One controller over one in-memory cluster and one simulated cloud, on virtual time.

    Attributes:
        reports: every pass's :class:`~ccc.controller.reconciler.PassReport`, in order (across
            controller restarts).
        on_pass: called with each pass's report as it is made.
        restarts: how many times the controller was restarted.
    """

    clock: VirtualClock
    cloud: SimulatedCloud
    cluster: InMemoryCluster
    config: ControllerConfig = SIMULATION_CONFIG
    reconciler: Reconciler | None = None
    reports: list[PassReport] = field(default_factory=list)
    on_pass: list[Callable[[PassReport], None]] = field(default_factory=list)
    keep_reports: bool = True
    restarts: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _unwire: Callable[[], None] | None = None

    #: The controller's timings when :meth:`create` is given none.
    default_config: ClassVar[ControllerConfig] = SIMULATION_CONFIG

    @classmethod
    def create(
        cls,
        *,
        classes: Sequence[Mapping[str, Any]] = (),
        config: ControllerConfig | None = None,
        boot_delay_s: float = 0.0,
        provisioning_delay_s: float = 0.0,
        start: datetime = VIRTUAL_EPOCH,
        preemption: PreemptionConvention = "strict",
        catalog: Catalog | None = None,
    ) -> Self:
        """A loop whose clock starts at ``start``, with ``classes`` created in the cluster.

        Args:
            boot_delay_s: from a VM being provisioned to its Node being Ready.
            provisioning_delay_s: from a create or resize being accepted to the VM existing.
            preemption: the cloud's convention for drops in spot capacity.
        """
        clock = VirtualClock(start)
        catalog = catalog or load_builtin_catalog()
        cloud = SimulatedCloud(
            clock=clock,
            catalog=catalog,
            provisioning_delay_s=provisioning_delay_s,
            preemption=preemption,
        )
        cluster = InMemoryCluster(clock=clock, catalog=catalog, boot_delay_s=boot_delay_s)
        cluster.attach(cloud)
        for c in classes:
            cluster.add_class(c)
        return cls(clock=clock, cloud=cloud, cluster=cluster, config=config or cls.default_config)

    def new_controller(self) -> Reconciler:
        """A fresh controller (as after a restart) over the same cluster and cloud, wired to the
        cluster's changes the way ``ccc run`` wires its informers."""
        r = Reconciler(
            provider=self.cloud,
            catalog=self.cluster.catalog,
            config=self.config,
            clock=self.clock,
            metrics=Metrics(),
            view=self.cluster,
            events=self.cluster,
            status=self.cluster,
        )
        if self._unwire is not None:
            self._unwire()
        self._unwire = wire(self.cluster, r)
        original = r.reconcile_once

        async def recorded() -> PassReport:
            report = await original()
            if self.keep_reports:
                self.reports.append(report)
            for hook in self.on_pass:
                hook(report)
            return report

        r.reconcile_once = recorded  # type: ignore[method-assign]
        return r

    async def start(self) -> Reconciler:
        """Start the cluster and a controller; returns the controller."""
        self.reconciler = self.new_controller()
        self._tasks = [
            asyncio.create_task(self.cluster.run()),
            asyncio.create_task(self.reconciler.run()),
        ]
        await self.clock.settle()
        return self.reconciler

    async def stop(self) -> None:
        """Stop the controller (like a crash: nothing is flushed) and the cluster."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []

    async def restart_controller(self) -> Reconciler:
        """The controller process dies (provider calls in flight are abandoned, memory is
        lost) and a new one starts and reads back what the old one persisted."""
        if len(self._tasks) < 2:
            raise RuntimeError("the loop is not running")
        old = self._tasks.pop()
        old.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await old
        self.restarts += 1
        self.reconciler = self.new_controller()
        self._tasks.append(asyncio.create_task(self.reconciler.run()))
        await self.clock.settle()
        return self.reconciler

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, jumping from event to event."""
        await self.clock.run(self.clock.sleep(seconds))

    async def run_to(self, end: datetime, *, on_instant: InstantHook | None = None) -> None:
        """Let virtual time pass until ``end``, jumping from event to event; after every
        instant has settled (every woken task runs until it sleeps again), call
        ``on_instant``."""
        clock = self.clock
        while True:
            await clock.settle()
            if on_instant is not None:
                on_instant(self)
            deadline = clock.next_deadline()
            if deadline is None or deadline > end:
                break
            await clock.advance_to(deadline)
        if clock.now() < end:
            await clock.advance_to(end)
            if on_instant is not None:
                on_instant(self)

    async def until(
        self, what: str, predicate: Callable[[], bool], *, timeout_s: float = 3600.0
    ) -> float:
        """Advance until ``predicate()``; returns the virtual seconds it took."""
        start = self.clock.now()
        while not predicate():
            if (self.clock.now() - start) > timedelta(seconds=timeout_s):
                raise AssertionError(f"not within {timeout_s:.0f}s of virtual time: {what}")
            await self.advance(1.0)
        return (self.clock.now() - start).total_seconds()


__all__ = ["SIMULATION_CONFIG", "InstantHook", "VirtualLoop"]
