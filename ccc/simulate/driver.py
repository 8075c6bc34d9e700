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

**Lifecycle and ServingGroups.** Lifecycle passes (flex-start replacement before the deadline,
preemption, migration) are parts of the reconciler's own decide and execute steps, so the loop
runs them as the reconciler does. ServingGroups have their own controller in ``ccc run``
(:class:`~ccc.controller.serving.ServingController`, beside the reconciler, on its executor and
obtainability memory); the loop runs that production controller too, over the in-memory
Deployments and ServingGroups of :attr:`VirtualLoop.workloads`
(:mod:`ccc.controller.memworkloads`), when there is a group to serve. A controller restart
restarts both, as a new ``ccc run`` pod would.
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
from ccc.controller.memnodes import InMemoryNodeWriter
from ccc.controller.memworkloads import InMemoryWorkloads
from ccc.controller.metrics import Metrics
from ccc.controller.reconciler import PassReport, Reconciler
from ccc.controller.serving import ServingController
from policies.serving_control import GroupDecision
from providers.clock import VIRTUAL_EPOCH, VirtualClock
from providers.simulated import SimulatedCloud
from providers.simulated.timeline import PreemptionConvention

#: The controller's timings in a simulation: ``ccc run``'s defaults, except a resync so long it
#: never drives the loop (the loop wakes from its own wait times and from events, as it does in
#: production; a 10 s resync would only add passes that find nothing to do).
SIMULATION_CONFIG = ControllerConfig(resync_s=24 * 3600.0)

#: Called after each virtual instant settles, with the loop.
InstantHook = Callable[["VirtualLoop"], None]

#: Called after each ServingGroup pass, with its time and its decisions.
ServingHook = Callable[[datetime, Sequence[GroupDecision]], None]


@dataclass
class VirtualLoop:
    """One controller over one in-memory cluster and one simulated cloud, on virtual time.

    Attributes:
        reports: every pass's :class:`~ccc.controller.reconciler.PassReport`, in order (across
            controller restarts).
        on_pass: called with each pass's report as it is made.
        restarts: how many times the controller was restarted.
        workloads: the in-memory Deployments and ServingGroups; the ServingGroup controller
            runs (:attr:`serving`) when it holds a group at :meth:`start`.
        on_serving: called after each ServingGroup pass.
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
    #: node writes (cordon, progress annotations, PDB-checked evictions) of the lifecycle
    node_writer: InMemoryNodeWriter | None = None
    workloads: InMemoryWorkloads | None = None
    serving: ServingController | None = None
    on_serving: list[ServingHook] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _serving_task: asyncio.Task[None] | None = None
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
        return cls(
            clock=clock,
            cloud=cloud,
            cluster=cluster,
            config=config or cls.default_config,
            node_writer=InMemoryNodeWriter(cluster),
            workloads=InMemoryWorkloads(cluster),
        )

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
            nodes=self.node_writer,
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

    def new_serving(self, reconciler: Reconciler) -> ServingController:
        """A ServingGroup controller beside ``reconciler``, wired as ``ccc run`` wires it: the
        reconciler's executor, metrics and obtainability memory, woken by changes to the
        cluster and to the workloads."""
        workloads = self.workloads
        if workloads is None:
            raise RuntimeError("the loop has no workloads")
        sc = ServingController(
            groups=workloads,
            workloads=workloads,
            view=self.cluster,
            catalog=self.cluster.catalog,
            clock=self.clock,
            metrics=reconciler.metrics,
            executor=reconciler.executor,
            memory_of=lambda name: reconciler.state.memory_of(name),
            cluster=lambda: reconciler.cluster,
            events=self.cluster,
            status=workloads,
            resync_s=self.config.resync_s,
        )
        if self.serving is None:
            # One subscription for the loop's life; it wakes whichever controller is current.
            self.cluster.subscribe(lambda *_: self._wake_serving())
            workloads.subscribe(self._wake_serving)
        original = sc.reconcile_once

        async def recorded() -> list[GroupDecision]:
            decisions = await original()
            for hook in self.on_serving:
                hook(self.clock.now(), decisions)
            return decisions

        sc.reconcile_once = recorded  # type: ignore[method-assign]
        # Drains of a group's nodes wait for its surge, as in ``ccc run`` (design 026).
        reconciler.serving_covers = lambda: sc.covers
        sc.on_covers = reconciler.notify
        self.serving = sc
        return sc

    def _wake_serving(self) -> None:
        if self.serving is not None:
            self.serving.notify()

    def _start_serving(self, reconciler: Reconciler) -> None:
        if self.workloads is not None and self.workloads.groups():
            self._serving_task = asyncio.create_task(self.new_serving(reconciler).run())

    async def _stop_serving(self) -> None:
        task, self._serving_task = self._serving_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def start(self) -> Reconciler:
        """Start the cluster and a controller (with the ServingGroup controller when
        :attr:`workloads` holds a group); returns the controller."""
        self.reconciler = self.new_controller()
        self._tasks = [
            asyncio.create_task(self.cluster.run()),
            asyncio.create_task(self.reconciler.run()),
        ]
        self._start_serving(self.reconciler)
        await self.clock.settle()
        return self.reconciler

    async def stop(self) -> None:
        """Stop the controllers (like a crash: nothing is flushed) and the cluster."""
        await self._stop_serving()
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
        await self._stop_serving()
        old = self._tasks.pop()
        old.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await old
        self.restarts += 1
        self.reconciler = self.new_controller()
        self._tasks.append(asyncio.create_task(self.reconciler.run()))
        self._start_serving(self.reconciler)
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


__all__ = ["SIMULATION_CONFIG", "InstantHook", "ServingHook", "VirtualLoop"]
