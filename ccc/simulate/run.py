"""One simulation: inputs in, :class:`~ccc.simulate.result.SimulationResult` out.

:func:`simulate` builds a :class:`~ccc.simulate.driver.VirtualLoop` whose clock starts at the
window's start, schedules the traces and the scenario's cloud events on the simulated cloud,
creates the demand, and lets virtual time run to the end of the window, event to event. After
every instant it records demand, served and the nodes held (:class:`~ccc.simulate.recorder.
Recorder`); every pass's commands become decisions, and the counters of the summary come from
the commands, the provider outcomes and the cloud's disruption notices.

Demand is modelled per kind by a :class:`DemandModel`. Plain workloads (:class:`WorkloadDemand`)
are pods owned by a ReplicaSet: a preempted node's pods come back Pending, a ``demand`` event
adds pods or deletes them (pending ones first, then the newest, as a ReplicaSet scales down).
ServingGroups (:class:`~ccc.simulate.serving.ServingGroupDemand`) are run by the production
ServingGroup controller inside the loop; their shifts are counted from its passes and their
Ready capacity per variant is recorded in the timeline.

``seed`` (``--seed``) turns on seeded jitter of boot times and of when trace drops hit
(:mod:`ccc.simulate.jitter`); without it a run is exact. Either way equal inputs give equal
results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from ccc.api import labels as L
from ccc.api.catalog import Catalog
from ccc.api.location import configured_location
from ccc.api.values import OfferingKey, region_of
from ccc.api.workload import PodRequest
from ccc.controller.config import ControllerConfig
from ccc.controller.memcluster import InMemoryCluster
from ccc.controller.reconciler import PassReport
from ccc.simulate.driver import SIMULATION_CONFIG, VirtualLoop
from ccc.simulate.jitter import Jitter, apply_traces
from ccc.simulate.metrics import OnDemandReference
from ccc.simulate.progress import SimulationProgress
from ccc.simulate.recorder import PriceBook, Recorder, Tally
from ccc.simulate.result import SimulationResult
from ccc.simulate.scenario import Demand, RestartController, Scenario, apply_to_cloud
from ccc.simulate.serving import ServingGroupDemand
from policies.commands import Cause, Provision, Replace, WaitUntil, describe
from policies.serving_control import GroupDecision
from providers.simulated.model import DisruptionKind
from providers.simulated.timeline import PreemptionConvention
from providers.simulated.traces import TraceSet

#: Node boot time: from the VM existing to the Node Ready with its GPU driver (docs/simulate.md
#: cites where 240 s comes from).
DEFAULT_BOOT_TIME_S = 240.0


class DemandModel(Protocol):
    """One kind of demand in the in-memory cluster: what is wanted and what is served.

    Plain workloads are :class:`WorkloadDemand`; ServingGroups (wanted capacity, Ready capacity
    of its variants) are :class:`~ccc.simulate.serving.ServingGroupDemand`."""

    kind: str
    name: str

    def create(self, loop: VirtualLoop) -> None:
        """Create the initial demand in the loop's cluster (or its workloads)."""

    def scale(self, loop: VirtualLoop, amount: int) -> None:
        """The demand changes to ``amount`` (a ``demand`` event)."""

    def demand(self) -> float:
        """What is wanted now."""

    def served(self) -> float:
        """What is served now (kept current from the cluster's changes)."""

    def on_change(self, kind: str, event: str, old: Any, new: Any) -> None:
        """A change in the cluster (pods, nodes, classes)."""


@dataclass
class WorkloadDemand:
    """``replicas`` pods of one shape, owned by a ReplicaSet; served = pods Running on a Ready
    node (the in-memory scheduler binds only to Ready nodes)."""

    name: str
    pod: PodRequest
    replicas: int
    #: extra replicas kept on top of ``replicas`` (as a ServingGroup's hedge): they are created
    #: and served like the others, but demand stays ``replicas``.
    hedge: int = 0
    kind: str = "workload"
    _next: int = 0
    _mine: set[str] = field(default_factory=set)
    _running: set[str] = field(default_factory=set)

    def create(self, loop: VirtualLoop) -> None:
        for _ in range(self.replicas + self.hedge):
            self._add(loop.cluster)

    def scale(self, loop: VirtualLoop, replicas: int) -> None:
        cluster = loop.cluster
        amount = replicas + self.hedge if replicas else 0
        while len(self._mine) < amount:
            self._add(cluster)
        if len(self._mine) > amount:
            pods = {p.key: p for p in cluster.pods() if p.key in self._mine}
            # A ReplicaSet deletes unscheduled pods first, then the newest.
            order = sorted(
                self._mine,
                key=lambda k: (pods[k].node_name is not None, -int(k.rsplit("-", 1)[1])),
            )
            for key in order[: len(self._mine) - amount]:
                namespace, name = key.split("/", 1)
                cluster.delete_pod(namespace, name)
        self.replicas = replicas

    def demand(self) -> float:
        return float(self.replicas)

    def served(self) -> float:
        return float(len(self._running))

    def on_change(self, kind: str, event: str, old: Any, new: Any) -> None:
        if kind != "Pod":
            return
        pod = new if new is not None else old
        if pod.key not in self._mine:
            return
        if event == "DELETED":
            self._mine.discard(pod.key)
            self._running.discard(pod.key)
        elif new.phase == "Running" and new.node_name:
            self._running.add(pod.key)
        else:
            self._running.discard(pod.key)

    def _add(self, cluster: InMemoryCluster) -> None:
        name = f"{self.name}-{self._next}"
        self._next += 1
        p = self.pod
        self._mine.add(f"{p.namespace}/{name}")
        cluster.add_pod(_pod_manifest(name, self.name, p))


def _pod_manifest(name: str, owner: str, p: PodRequest) -> dict[str, Any]:
    limits: dict[str, str] = {}
    if p.gpus:
        limits[L.GPU_RESOURCE] = str(p.gpus)
    if p.tpus:
        limits[L.TPU_RESOURCE] = str(p.tpus)
    return {
        "metadata": {
            "name": name,
            "namespace": p.namespace,
            "labels": {"app": owner},
            "ownerReferences": [
                {
                    "kind": "ReplicaSet",
                    "name": owner,
                    "controller": True,
                    "apiVersion": "apps/v1",
                    "uid": f"uid-rs-{owner}",
                }
            ],
        },
        "spec": {
            "nodeSelector": dict(p.node_selector),
            "tolerations": [t.model_dump(exclude_none=True) for t in p.tolerations],
            "containers": [
                {
                    "name": "main",
                    "resources": {
                        "requests": {"cpu": f"{p.cpu_m}m", "memory": str(p.memory_bytes)},
                        "limits": limits,
                    },
                }
            ],
        },
        "status": {"phase": "Pending"},
    }


@dataclass(frozen=True)
class SimulationSpec:
    """Everything one run needs (the flags of ``ccc simulate``, resolved).

    Attributes:
        classes: ComputeClass objects as written (``ccc.dev/v1alpha1`` or
            ``cloud.google.com/v1``).
        demand: the demand models (each created at the start).
        start: the window's start (UTC).
        duration_s: the window's length.
        region: reported as the result's ``region``.
        zones: zones for rules that name none (``None``: the catalog's).
        traces: availability traces (``None``: every offering unlimited).
        scenario: scripted events.
        boot_time_s: from the VM existing to the Node Ready.
        preemption: ``strict`` or ``zero``.
        seed: ``None``: an exact run (every boot takes ``boot_time_s``, trace drops hit at
            their probe); a number: seeded jitter of both (:mod:`ccc.simulate.jitter`). Equal
            inputs and seeds give equal results.
        on_demand: the reference ``onDemandCost`` prices the demand on (``None``: 0).
        prices: overrides of the catalog's prices.
    """

    classes: Sequence[Mapping[str, Any]]
    demand: Sequence[DemandModel]
    start: datetime
    duration_s: float
    region: str
    catalog: Catalog
    zones: tuple[str, ...] | None = None
    traces: TraceSet | None = None
    scenario: Scenario | None = None
    boot_time_s: float = DEFAULT_BOOT_TIME_S
    preemption: PreemptionConvention = "strict"
    seed: int | None = None
    on_demand: OnDemandReference | None = None
    prices: Mapping[OfferingKey, float] = field(default_factory=dict)
    config: ControllerConfig = SIMULATION_CONFIG

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)


class Simulation:
    """One run: the loop, the recorder and the hooks between them. :meth:`run` inside an event
    loop; :func:`simulate` outside one. :attr:`passes` counts the controller's passes."""

    def __init__(self, spec: SimulationSpec, progress: SimulationProgress | None) -> None:
        self.spec = spec
        self.progress = progress
        config = spec.config
        if spec.zones is not None:
            config = config.model_copy(update={"default_zones": spec.zones})
        self.loop = VirtualLoop.create(
            classes=spec.classes,
            config=config,
            boot_delay_s=spec.boot_time_s,
            start=spec.start,
            preemption=spec.preemption,
            catalog=spec.catalog,
        )
        if spec.zones or any(region_of(z) == spec.region for z in spec.catalog.zones()):
            # The cloud reports the simulated region as the cluster's (the one-region walk
            # plans only there), as GKE reports the cluster's own.
            self.loop.cloud.location = configured_location(
                spec.catalog,
                region=None if spec.zones else spec.region,
                zones=spec.zones,
                what="the simulated region",
            )
        self.loop.keep_reports = False
        self.loop.on_pass.append(self._on_pass)
        self.loop.on_serving.append(self._on_serving)
        self.jitter = Jitter(spec.seed) if spec.seed is not None else None
        if self.jitter is not None:
            jitter, boot = self.jitter, spec.boot_time_s
            self.loop.cluster.boot_delay_of = lambda name: jitter.boot_time(name, boot)
        self._groups = [d for d in spec.demand if isinstance(d, ServingGroupDemand)]
        self.recorder = Recorder(
            start=spec.start,
            region=spec.region,
            prices=PriceBook(spec.catalog.price, overrides=spec.prices),
        )
        self._dirty = True
        self._cloud_seen = -1
        self._nodes: dict[OfferingKey, int] = {}
        self._last_progress = spec.start
        self.passes = 0

    def _on_pass(self, report: PassReport) -> None:
        self.passes += 1
        rec = self.recorder
        for c in report.commands:
            if isinstance(c, WaitUntil):
                continue
            rec.decision(report.at, describe(c), c.reason, cause=c.cause.value)
            if isinstance(c, Provision):
                rec.count(Tally.PROVISIONING_REQUESTS)
            elif isinstance(c, Replace) and c.cause is Cause.MIGRATION:
                rec.count(Tally.MIGRATIONS)
        for done in report.outcomes:
            if done.error is not None and done.error.result in ("stockout", "quota"):
                rec.count(Tally.STOCKOUTS)

    def _on_serving(self, at: datetime, decisions: Sequence[GroupDecision]) -> None:
        """A ServingGroup pass: its /scale writes are decisions; a shift (capacity moved from
        one variant to another, as the controller's ``serving_shifts`` metric counts) is
        tallied."""
        rec = self.recorder
        for d in decisions:
            for c in d.commands:
                rec.decision(at, describe(c), c.reason, cause=c.cause.value)
            if d.shift is not None:
                rec.count(Tally.SHIFTS)

    def _on_change(self, kind: str, event: str, old: Any, new: Any) -> None:
        self._dirty = True
        for d in self.spec.demand:
            d.on_change(kind, event, old, new)

    def _on_instant(self, loop: VirtualLoop) -> None:
        now = loop.clock.now()
        if now >= self.spec.end:
            return
        cloud = loop.cloud
        if cloud.generation != self._cloud_seen:
            self._cloud_seen = cloud.generation
            nodes: dict[OfferingKey, int] = {}
            for vm in cloud.nodes(include_provisioning=True):
                key = OfferingKey(
                    machine_type=vm.machine_type, zone=vm.zone, capacity_type=vm.capacity_type
                )
                nodes[key] = nodes.get(key, 0) + 1
            if nodes != self._nodes:
                self._nodes = nodes
                self._dirty = True
        if self._dirty:
            self._dirty = False
            self.recorder.state(
                now,
                demand=sum(d.demand() for d in self.spec.demand),
                served=sum(d.served() for d in self.spec.demand),
                nodes=self._nodes,
                capacity={k: v for g in self._groups for k, v in g.capacity_by_variant().items()},
            )
        if self.progress is not None and now - self._last_progress >= timedelta(hours=1):
            self._last_progress = now
            self.progress.update(now)

    async def _script(self, events: Sequence[Demand | RestartController]) -> None:
        by_name = {(d.kind, d.name): d for d in self.spec.demand}
        for e in events:
            at = self.spec.start + timedelta(seconds=e.at_s)
            wait = (at - self.loop.clock.now()).total_seconds()
            if wait > 0:
                await self.loop.clock.sleep(wait)
            if isinstance(e, Demand):
                by_name[(e.kind, e.name)].scale(self.loop, e.amount)
            else:
                await self.loop.restart_controller()

    async def run(self) -> SimulationResult:
        spec, loop = self.spec, self.loop
        if spec.traces is not None:
            apply_traces(
                spec.traces, loop.cloud, start=spec.start, end=spec.end, jitter=self.jitter
            )
        script: list[Demand | RestartController] = []
        if spec.scenario is not None:
            apply_to_cloud(spec.scenario, loop.cloud, start=spec.start)
            script = [e for e in spec.scenario.events if isinstance(e, Demand | RestartController)]
        unsubscribe = loop.cluster.subscribe(self._on_change)
        for d in spec.demand:
            d.create(loop)
        await loop.start()
        scripted = asyncio.create_task(self._script(script))
        try:
            await loop.run_to(spec.end, on_instant=self._on_instant)
        finally:
            scripted.cancel()
            await asyncio.gather(scripted, return_exceptions=True)
            await loop.stop()
            unsubscribe()
        for notice in loop.cloud.disruptions_since(spec.start):
            if notice.at >= spec.end:
                continue
            kind = notice.kind
            self.recorder.count(
                Tally.PREEMPTIONS if kind is DisruptionKind.PREEMPTED else Tally.EXPIRIES
            )
        return self.recorder.finish(spec.end, on_demand=spec.on_demand)


def simulate(
    spec: SimulationSpec, *, progress: SimulationProgress | None = None
) -> SimulationResult:
    """Run one simulation (see the module docstring).

    Raises:
        MissingPriceError: the run held nodes on an offering without a price.
    """
    return asyncio.run(Simulation(spec, progress).run())


def with_replicas(model: WorkloadDemand, replicas: int) -> WorkloadDemand:
    """A copy of a workload model with another replica count (fresh state)."""
    return replace(model, replicas=replicas, _next=0, _mine=set(), _running=set())


__all__ = [
    "DEFAULT_BOOT_TIME_S",
    "DemandModel",
    "Simulation",
    "SimulationSpec",
    "WorkloadDemand",
    "simulate",
    "with_replicas",
]
