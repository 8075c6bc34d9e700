"""Materialise the emulator's node pools as KWOK Nodes in a local cluster.

GKE turns a node pool into VMs and each VM registers a Node named after it. The emulator only
keeps the VM names (``GKEEmulatorState.instances``); this bridge closes the loop for end-to-end
tests: it subscribes to ``GKEEmulatorState.hooks`` and, for every :class:`PoolEvent`, makes the
pool's Nodes in the cluster match the pool's instances — created with the labels, taints and
capacity GKE would give them and the annotation ``kwok.x-k8s.io/node: fake`` (so kwok keeps them
Ready and runs their pods), deleted when the pool shrinks or goes away.

Hooks run on the emulator's request thread while it holds the state lock, so the hook only
records the pool's latest event (each event carries the pool's full instance list, so only the
latest matters) and wakes a dedicated thread that owns an asyncio loop and a
``kubernetes_asyncio`` client. That thread reconciles one pool at a time, level-triggered:
list the pool's Nodes, create the missing ones (409 = already there), delete the extra ones
(404 = already gone); a failed pass is retried after a short pause.

:func:`node_manifest` is pure (unit-tested without a cluster); :class:`KwokBridge` is the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog
from ccc.api.values import AcceleratorKind, region_of
from providers.kwok.model import node_allocatable
from tests.emulator.server import RunningEmulator
from tests.emulator.state import PoolEvent, duration_seconds

#: Marks the Nodes a bridge made, with the emulated cluster's name as value.
BRIDGE_LABEL = "emulator.ccc.dev/gke-cluster"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: GKE's provisioning model label on every node: ``spot`` | ``flex-start`` | ``standard``.
GKE_PROVISIONING_LABEL = "cloud.google.com/gke-provisioning"
#: container_v1.NodeTaint.Effect numbers (the emulator keeps enums as ints) and names.
_EFFECTS = {
    1: "NoSchedule",
    2: "PreferNoSchedule",
    3: "NoExecute",
    "NO_SCHEDULE": "NoSchedule",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
    "NO_EXECUTE": "NoExecute",
}
_RETRY_PAUSE_S = 0.5


def node_manifest(
    event: PoolEvent,
    instance: str,
    *,
    project: str,
    cluster: str,
    catalog: Catalog,
    kubelet_version: str = "v1.34.4",
) -> dict[str, Any]:
    """The Node GKE would register for VM ``instance`` of the pool in ``event``.

    Labels: the pool's ``config.labels`` (ccc's ``ccc.dev/*`` identity labels among them) plus
    what GKE sets itself — ``cloud.google.com/gke-nodepool``, zone and region, instance type,
    machine family, ``cloud.google.com/gke-spot`` / ``gke-flex-start`` / ``gke-provisioning``,
    and the accelerator labels. A pool with ``config.maxRunDuration`` gets GKE's
    ``cloud.google.com/gke-max-run-duration-seconds`` label and, when the VM's creation time is
    known, the ``node.gke.io/machine-termination-datetime`` annotation (creation + duration).
    Taints: the pool's ``config.taints`` plus GKE's own ``nvidia.com/gpu=present`` /
    ``google.com/tpu=present`` on accelerator nodes. Capacity from the built-in catalog, the GPU
    count from the pool's accelerator config when it has one.
    """
    pool = event.node_pool
    cfg: Mapping[str, Any] = pool.get("config") or {}
    machine_type = str(cfg.get("machineType", ""))
    machine = catalog.machine_type(machine_type)
    labels: dict[str, str] = {str(k): str(v) for k, v in (cfg.get("labels") or {}).items()}
    labels.update(
        {
            "kubernetes.io/hostname": instance,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "cloud.google.com/gke-os-distribution": "cos",
            "cloud.google.com/machine-family": machine_type.split("-", 1)[0],
            L.GKE_NODE_POOL_LABEL: event.pool,
            L.ZONE_LABEL: event.zone,
            L.REGION_LABEL: region_of(event.zone),
            L.MACHINE_TYPE_LABEL: machine_type,
            BRIDGE_LABEL: cluster,
        }
    )
    if cfg.get("spot"):
        labels[L.GKE_SPOT_LABEL] = "true"
    if cfg.get("flexStart"):
        labels[L.GKE_FLEX_START_LABEL] = "true"
    labels[GKE_PROVISIONING_LABEL] = (
        "spot" if cfg.get("spot") else "flex-start" if cfg.get("flexStart") else "standard"
    )
    annotations = {KWOK_NODE_ANNOTATION: "fake"}
    created = event.created.get(instance)
    if "maxRunDuration" in cfg:
        seconds = duration_seconds(cfg["maxRunDuration"])
        labels[L.GKE_MAX_RUN_DURATION_LABEL] = str(seconds)
        if created is not None:
            deadline = created + timedelta(seconds=seconds)
            annotations[L.GKE_TERMINATION_ANNOTATION] = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
    taints = [
        {"key": str(t["key"]), "value": str(t.get("value", "")), "effect": _effect(t)}
        for t in cfg.get("taints") or ()
    ]
    capacity = {
        "cpu": str(machine.vcpus if machine else 2),
        "memory": f"{int((machine.memory_gb if machine else 8.0) * 1024)}Mi",
        "pods": str(_max_pods(pool, machine.max_pods if machine else 110)),
        "ephemeral-storage": f"{int(cfg.get('diskSizeGb') or 100)}Gi",
    }
    gpus = _gpu_count(cfg)
    accelerator = machine.accelerator if machine else None
    if gpus is None and accelerator is not None and accelerator.kind is AcceleratorKind.GPU:
        gpus = accelerator.count
    if gpus:
        capacity[L.GPU_RESOURCE] = str(gpus)
        gpu_type = (cfg.get("accelerators") or [{}])[0].get("acceleratorType")
        labels[L.GKE_ACCELERATOR_LABEL] = str(gpu_type or (accelerator and accelerator.type))
        taints.append({"key": L.GPU_RESOURCE, "value": "present", "effect": "NoSchedule"})
    elif accelerator is not None and accelerator.kind is AcceleratorKind.TPU:
        capacity[L.TPU_RESOURCE] = str(accelerator.count)
        labels[L.GKE_TPU_ACCELERATOR_LABEL] = accelerator.type
        topology = (pool.get("placementPolicy") or {}).get("tpuTopology")
        if topology:
            labels[L.GKE_TPU_TOPOLOGY_LABEL] = str(topology)
        taints.append({"key": L.TPU_RESOURCE, "value": "present", "effect": "NoSchedule"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": instance,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {"taints": taints, "providerID": f"gce://{project}/{event.zone}/{instance}"},
        "status": {
            "capacity": capacity,
            "allocatable": node_allocatable(capacity, machine),
            "nodeInfo": {
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "kwok",
            },
        },
    }


def _effect(taint: Mapping[str, Any]) -> str:
    return _EFFECTS.get(taint.get("effect", 1), "NoSchedule")


def _gpu_count(cfg: Mapping[str, Any]) -> int | None:
    accelerators = cfg.get("accelerators") or []
    if not accelerators:
        return None
    first = accelerators[0]
    count = int(first.get("acceleratorCount") or 0)
    sharing = first.get("gpuSharingConfig") or {}
    return count * int(sharing.get("maxSharedClientsPerGpu") or 1)


def _max_pods(pool: Mapping[str, Any], default: int) -> int:
    constraint = pool.get("maxPodsConstraint") or {}
    return int(constraint.get("maxPodsPerNode") or default)


class KwokBridge:
    """Keeps the cluster's Nodes equal to the emulator's pools' instances (module docstring).

    Use :func:`kwok_bridge` (a context manager) rather than calling :meth:`start`/:meth:`stop`.

    Args:
        kubeconfig: admin kubeconfig of the local cluster.
        project: the emulated project (for ``spec.providerID``).
        cluster: the emulated cluster; Nodes carry it as :data:`BRIDGE_LABEL`, so several
            bridges (or tests) can share one local cluster.
        catalog: machine shapes (default: the built-in catalog).
    """

    def __init__(
        self,
        kubeconfig: Path,
        *,
        project: str,
        cluster: str,
        catalog: Catalog | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.project = project
        self.cluster = cluster
        self.catalog = catalog or load_builtin_catalog()
        #: Failures of sync passes (each retried), newest last, for test diagnostics.
        self.errors: list[str] = []
        self._latest: dict[str, PoolEvent] = {}
        self._dirty: set[str] = set()
        self._busy = False
        self._stopping = False
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kwok-bridge", daemon=True)

    # -- the hook (emulator thread) ---------------------------------------------------------

    def __call__(self, event: PoolEvent) -> None:
        """Record ``event`` and wake the bridge thread; never blocks, never raises."""
        with self._cond:
            self._latest[event.pool] = event
            self._dirty.add(event.pool)
        self._poke()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> KwokBridge:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError(f"kwok bridge did not start: {self.errors}")
        return self

    def stop(self, *, delete_nodes: bool = True) -> None:
        """Stop the thread; with ``delete_nodes``, first delete every Node it made."""
        if delete_nodes:
            with self._cond:
                for pool, event in self._latest.items():
                    self._latest[pool] = PoolEvent(
                        "deleted", pool, event.zone, 0, event.node_pool, ()
                    )
                    self._dirty.add(pool)
            self._poke()
            self.wait_synced(timeout_s=30)
        with self._cond:
            self._stopping = True
        self._poke()
        self._thread.join(timeout=30)

    def wait_synced(self, timeout_s: float = 30.0) -> bool:
        """Block until every recorded event has been applied; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._dirty or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(timeout=left)
        return True

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(wake.set)

    # -- the bridge thread ------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        except Exception as exc:
            self.errors.append(f"bridge thread died: {exc!r}")
        finally:
            self._loop = None
            loop.close()
            with self._cond:
                self._cond.notify_all()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        self._wake = asyncio.Event()
        self._loop = loop
        api = await config.new_client_from_config(config_file=str(self.kubeconfig))
        core = client.CoreV1Api(api)
        self._ready.set()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while (item := self._next()) is not None:
                    try:
                        await self._sync(core, item)
                    except Exception as exc:  # keep going: retry this pool after a pause
                        self.errors.append(f"{item.pool}: {exc!r}"[:500])
                        with self._cond:
                            self._dirty.add(item.pool)
                        loop.call_later(_RETRY_PAUSE_S, self._wake.set)
                        break
                    finally:
                        with self._cond:
                            self._busy = False
                            self._cond.notify_all()
                with self._cond:
                    if self._stopping:
                        return
        finally:
            await api.close()

    def _next(self) -> PoolEvent | None:
        with self._cond:
            if not self._dirty or self._stopping:
                return None
            pool = self._dirty.pop()
            self._busy = True
            return self._latest[pool]

    async def _sync(self, core: client.CoreV1Api, event: PoolEvent) -> None:
        selector = f"{BRIDGE_LABEL}={self.cluster},{L.GKE_NODE_POOL_LABEL}={event.pool}"
        listed = await core.list_node(label_selector=selector)
        present = {n.metadata.name for n in listed.items if n.metadata.deletion_timestamp is None}
        wanted = set(event.instances) if event.kind != "deleted" else set()
        await asyncio.gather(
            *(self._create(core, event, name) for name in sorted(wanted - present)),
            *(self._delete(core, name) for name in sorted(present - wanted)),
        )

    async def _create(self, core: client.CoreV1Api, event: PoolEvent, name: str) -> None:
        body = node_manifest(
            event, name, project=self.project, cluster=self.cluster, catalog=self.catalog
        )
        try:
            await core.create_node(body)  # type: ignore[arg-type]  # a dict is accepted
        except client.ApiException as exc:
            if exc.status != 409:
                raise

    async def _delete(self, core: client.CoreV1Api, name: str) -> None:
        try:
            await core.delete_node(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


@contextlib.contextmanager
def kwok_bridge(emulator: RunningEmulator, kubeconfig: Path) -> Iterator[KwokBridge]:
    """Run a :class:`KwokBridge` subscribed to ``emulator`` until exit, then delete its Nodes."""
    state = emulator.state
    bridge = KwokBridge(kubeconfig, project=state.project, cluster=state.cluster).start()
    with state.lock:
        state.hooks.append(bridge)
    try:
        yield bridge
    finally:
        with state.lock:
            state.hooks.remove(bridge)
        bridge.stop()
