"""The controller's loop over the in-memory cluster, the simulated cloud and a virtual clock: a
harness for unit tests (and the shape ``ccc simulate`` runs).

Nothing is faked below the loop except what cannot run in a unit test: the API server and the
scheduler are the in-memory cluster (:mod:`ccc.controller.memcluster`), the cloud is the
simulated cloud; the loop, the decide step, the executor and the recorder are production code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.controller.config import ControllerConfig
from ccc.controller.memcluster import InMemoryCluster, wire
from ccc.controller.metrics import Metrics
from ccc.controller.reconciler import PassReport, Reconciler
from providers.clock import VirtualClock
from providers.simulated import SimulatedCloud

ZONES = ("us-central1-a", "us-central1-b")
#: Timings for tests: a short batching window, a resync so long it never drives the loop (the
#: loop must wake from its own wait times and from events).
CONFIG = ControllerConfig(batch_idle_s=1.0, batch_max_s=5.0, resync_s=24 * 3600.0)


def gpu_class(
    name: str = "gpu",
    *,
    zones: Sequence[str] = ZONES,
    machine_type: str = "a3-highgpu-8g",
    spot: bool = True,
    extra_rules: Sequence[Mapping[str, Any]] = (),
    **spec: Any,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"machineType": machine_type, "location": {"zones": list(zones)}}
    if spot:
        rule["spot"] = True
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": name, "generation": 1},
        "spec": {
            "priorities": [rule, *extra_rules],
            "nodePoolAutoCreation": {"enabled": True},
            **spec,
        },
    }


def gpu_pod(
    name: str, cls: str = "gpu", *, gpus: int = 8, owner: str | None = "ReplicaSet"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ml", "labels": {"app": "vllm"}}
    if owner:
        meta["ownerReferences"] = [
            {"kind": owner, "name": "vllm", "controller": True, "apiVersion": "apps/v1", "uid": "o"}
        ]
    return {
        "metadata": meta,
        "spec": {
            "nodeSelector": {L.CLASS_LABEL: cls},
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "c",
                    "resources": {
                        "requests": {"cpu": "8", "memory": "64Gi"},
                        "limits": {L.GPU_RESOURCE: str(gpus)},
                    },
                }
            ],
        },
        "status": {"phase": "Pending"},
    }


@dataclass
class Loop:
    """One controller over one in-memory cluster and one simulated cloud, on virtual time."""

    clock: VirtualClock
    cloud: SimulatedCloud
    cluster: InMemoryCluster
    config: ControllerConfig = CONFIG
    reconciler: Reconciler | None = None
    reports: list[PassReport] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        classes: Sequence[Mapping[str, Any]] = (),
        config: ControllerConfig = CONFIG,
        boot_delay_s: float = 0.0,
        provisioning_delay_s: float = 0.0,
    ) -> Loop:
        clock = VirtualClock()
        catalog = load_builtin_catalog()
        cloud = SimulatedCloud(
            clock=clock, catalog=catalog, provisioning_delay_s=provisioning_delay_s
        )
        cluster = InMemoryCluster(clock=clock, catalog=catalog, boot_delay_s=boot_delay_s)
        cluster.attach(cloud)
        for c in classes:
            cluster.add_class(c)
        return cls(clock=clock, cloud=cloud, cluster=cluster, config=config)

    def new_controller(self) -> Reconciler:
        """A fresh controller (as after a restart) over the same cluster and cloud."""
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
        wire(self.cluster, r)
        original = r.reconcile_once

        async def recorded() -> PassReport:
            report = await original()
            self.reports.append(report)
            return report

        r.reconcile_once = recorded  # type: ignore[method-assign]
        return r

    async def start(self) -> Reconciler:
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

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, jumping from event to event."""
        await self.clock.run(self.clock.sleep(seconds))

    async def until(
        self, what: str, predicate: Callable[[], bool], *, timeout_s: float = 3600.0
    ) -> float:
        """Advance until ``predicate()``; returns the virtual seconds it took."""
        start = self.clock.now()
        step = 1.0
        while not predicate():
            if (self.clock.now() - start).total_seconds() > timeout_s:
                raise AssertionError(f"not within {timeout_s:.0f}s of virtual time: {what}")
            await self.advance(step)
        return (self.clock.now() - start).total_seconds()

    def running(self, cls: str | None = None) -> list[Any]:
        return [
            p
            for p in self.cluster.pods()
            if p.phase == "Running" and (cls is None or p.compute_class == cls)
        ]

    def zones_of_running(self) -> set[str]:
        nodes = {n.name: n for n in self.cluster.nodes()}
        return {nodes[p.node_name].labels[L.ZONE_LABEL] for p in self.running() if p.node_name}

    def event_messages(self, reason: str | None = None) -> list[str]:
        return [e.message for e in self.cluster.events if reason is None or e.reason == reason]

    def status(self, cls: str = "gpu") -> dict[str, Any]:
        for c in self.cluster.classes():
            if c["metadata"]["name"] == cls:
                return dict(c.get("status") or {})
        raise KeyError(cls)
