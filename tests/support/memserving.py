"""The ServingGroup controller beside the provisioning loop, over the in-memory cluster, the
simulated cloud and a virtual clock (:mod:`tests.support.memloop`), with in-memory Deployments
(:mod:`ccc.controller.memworkloads`).

Below the two loops only the API server, kube-controller-manager and the scheduler are stood in
for (nothing real can run in a unit test); the policies, executors and recorders are production
code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ccc.api import labels as L
from ccc.api.values import CapacityType, OfferingKey
from ccc.controller.memworkloads import InMemoryWorkloads
from ccc.controller.serving import ServingController
from tests.support.memloop import Loop

NS = "serving"
#: One region, as a GKE cluster's node pools are: ct6e-standard-1t is in us-central1-b alone there.
TPU_ZONES = ("us-central1-b",)
GPU_ZONES = ("us-central1-a", "us-central1-b")


def tpu_class(name: str = "tpu-v6e-1", *, spot: bool = True) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "tpu": {"type": "tpu-v6e-slice", "count": 1, "topology": "1x1"},
        "location": {"zones": list(TPU_ZONES)},
    }
    if spot:
        rule["spot"] = True
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": name, "generation": 1},
        "spec": {"nodePoolAutoCreation": {"enabled": True}, "priorities": [rule]},
    }


def gpu_class(name: str = "h100-1g") -> dict[str, Any]:
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": name, "generation": 1},
        "spec": {
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {
                    "machineType": "a3-highgpu-1g",
                    "gpu": {"type": "nvidia-h100-80gb", "count": 1},
                    "location": {"zones": list(GPU_ZONES)},
                }
            ],
        },
    }


def template(cls: str, *, tpu: bool, group: str = "llama") -> dict[str, Any]:
    limits = {"google.com/tpu": "1"} if tpu else {L.GPU_RESOURCE: "1"}
    return {
        "metadata": {"labels": {"ccc.dev/serving-group": group}},
        "spec": {
            "nodeSelector": {L.CLASS_LABEL: cls},
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "vllm",
                    "resources": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": limits},
                }
            ],
        },
    }


def group(
    capacity: int = 32, *, obtain_timeout_s: int = 120, stabilization_s: int = 60
) -> dict[str, Any]:
    return {
        "apiVersion": "ccc.dev/v1alpha1",
        "kind": "ServingGroup",
        "metadata": {"name": "llama", "namespace": NS},
        "spec": {
            "capacity": capacity,
            "capacityUnit": "requests/s",
            "rebalance": {
                "obtainTimeoutSeconds": obtain_timeout_s,
                "stabilizationSeconds": stabilization_s,
            },
            "variants": [
                {
                    "name": "v6e",
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "v6e"},
                    "capacityPerReplica": 8,
                },
                {
                    "name": "h100",
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "h100"},
                    "capacityPerReplica": 13,
                },
            ],
        },
    }


def tpu_offerings() -> list[OfferingKey]:
    return [
        OfferingKey(machine_type="ct6e-standard-1t", zone=z, capacity_type=CapacityType.SPOT)
        for z in TPU_ZONES
    ]


@dataclass
class ServingLoop:
    """Both loops over one in-memory cluster (see the module docstring)."""

    loop: Loop
    workloads: InMemoryWorkloads
    serving: ServingController | None = None
    #: (virtual seconds since start, ready capacity) after every serving pass
    ready_log: list[tuple[float, float]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    @classmethod
    def create(
        cls,
        *,
        group_body: Mapping[str, Any] | None = None,
        classes: Sequence[Mapping[str, Any]] | None = None,
        provisioning_delay_s: float = 0.0,
    ) -> ServingLoop:
        loop = Loop.create(
            classes=classes if classes is not None else (tpu_class(), gpu_class()),
            provisioning_delay_s=provisioning_delay_s,
        )
        workloads = InMemoryWorkloads(loop.cluster)
        workloads.add_deployment(NS, "v6e", template("tpu-v6e-1", tpu=True))
        workloads.add_deployment(NS, "h100", template("h100-1g", tpu=False))
        workloads.add_group(group_body or group())
        return cls(loop=loop, workloads=workloads)

    def new_serving(self) -> ServingController:
        reconciler = self.loop.reconciler
        assert reconciler is not None
        sc = ServingController(
            groups=self.workloads,
            workloads=self.workloads,
            view=self.loop.cluster,
            catalog=self.loop.cluster.catalog,
            clock=self.loop.clock,
            metrics=reconciler.metrics,
            executor=reconciler.executor,
            memory_of=lambda name: reconciler.state.memory_of(name),
            events=self.loop.cluster,
            status=self.workloads,
        )

        def changed(kind: str, event: str, old: Any, new: Any) -> None:
            # as ``ccc run`` routes its informers: nodes through ``node_changed``
            if kind == "Node":
                sc.node_changed(event, old, new)
            else:
                sc.notify()

        self.loop.cluster.subscribe(changed)
        reconciler.serving_covers = lambda: sc.covers
        sc.on_covers = reconciler.notify
        self.workloads.subscribe(sc.notify)
        original = sc.reconcile_once
        start = self.loop.clock.now()

        async def recorded() -> Any:
            out = await original()
            t = (self.loop.clock.now() - start).total_seconds()
            self.ready_log.append((t, self.ready_capacity()))
            return out

        sc.reconcile_once = recorded  # type: ignore[method-assign]
        return sc

    async def start(self) -> ServingController:
        await self.loop.start()
        self.serving = self.new_serving()
        self._task = asyncio.create_task(self.serving.run())
        await self.loop.clock.settle()
        return self.serving

    async def crash(self) -> None:
        """Both controllers die at once (nothing is flushed); the cluster keeps running."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.loop.stop()

    async def restart(self) -> ServingController:
        return await self.start()

    async def stop(self) -> None:
        await self.crash()

    def running(self, deployment: str) -> int:
        return sum(
            1
            for p in self.workloads.pods_of(NS, deployment)
            if p.phase == "Running" and p.node_name
        )

    def ready_capacity(self) -> float:
        return 8.0 * self.running("v6e") + 13.0 * self.running("h100")

    def status(self) -> dict[str, Any]:
        return dict(self.workloads.group(NS, "llama").get("status") or {})

    def variant(self, name: str) -> dict[str, Any]:
        for v in self.status().get("variants") or []:
            if v["name"] == name:
                return dict(v)
        raise KeyError(name)

    def history(self, deployment: str) -> list[int]:
        return list(self.workloads.deployments[(NS, deployment)].history)
