"""An in-memory Kubernetes cluster for the controller's loop: unit tests and ``ccc simulate``.

It holds pods, nodes, ComputeClasses and PodDisruptionBudgets as the same projections the
informers keep, and plays the parts of the cluster the controller relies on:

* a **first-fit binder** standing in for kube-scheduler: pending, ungated pods in creation order
  go to the first Ready, schedulable node whose labels match the pod's node selector, whose
  NoSchedule/NoExecute taints the pod tolerates (the class taint is tolerated by pods that select
  the class, as GKE's admission adds that toleration) and that has the cpu, memory, GPUs, TPUs
  and pod slots left;
* **nodes from the simulated cloud**: every VM of a :class:`~providers.simulated.SimulatedCloud`
  pool registers as a Node when the cloud reports it provisioned, NotReady for ``boot_delay_s``,
  then Ready; a VM the cloud removes (scale-down, preemption, expiry) takes its Node away, and
  its pods go back to Pending as their controller would recreate them (bare pods fail);
* **sinks**: ComputeClass status written by the loop lands in the class objects (so a restarted
  loop reads it back), Events are kept in :attr:`InMemoryCluster.events`;
* **evictions** that honour PodDisruptionBudgets (``minAvailable``/``maxUnavailable`` as
  counts), for drains.

It is a fake of the API server and the scheduler (nothing real can run inside ``ccc
simulate``), kept deliberately small; the real ones are exercised by the end-to-end tests.
Everything waits on the injected clock, so over a virtual clock it jumps from event to event.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ccc.api import labels as L
from ccc.api.allocatable import allocatable
from ccc.api.catalog import Catalog
from ccc.api.cluster import NodeInfo, PodInfo, pod_info
from ccc.api.values import CapacityType, region_of
from ccc.controller.events import EventType, ObjectRef
from ccc.controller.waiting import first_of
from providers.clock import Clock
from providers.simulated.model import SimNode
from providers.simulated.timeline import Timeline

if TYPE_CHECKING:
    from ccc.controller.reconciler import Reconciler

#: ``(kind, event, old, new)`` with kind ``Pod`` | ``Node`` | ``ComputeClass`` and event
#: ``ADDED`` | ``MODIFIED`` | ``DELETED``, as the informers report changes.
ChangeHandler = Callable[[str, str, Any, Any], None]


@dataclass(frozen=True, slots=True)
class PodDisruptionBudget:
    """A PDB over the pods whose labels include ``selector`` (counts, not percentages)."""

    namespace: str
    name: str
    selector: Mapping[str, str]
    min_available: int | None = None
    max_unavailable: int | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    at: datetime
    kind: str
    name: str
    type: EventType
    reason: str
    message: str


@dataclass
class _Booting:
    ready_at: datetime
    sim: SimNode


@dataclass
class InMemoryCluster:
    """See the module docstring. Implements :class:`~ccc.controller.view.ClusterView`,
    :class:`~ccc.controller.sinks.StatusSink` and :class:`~ccc.controller.sinks.EventSink`."""

    clock: Clock
    catalog: Catalog
    boot_delay_s: float = 0.0
    #: A VM name -> its boot delay (``ccc simulate --seed`` jitters it); ``None``: boot_delay_s.
    boot_delay_of: Callable[[str], float] | None = None
    #: Which cloud VMs ever register as Nodes (all by default; tests of nodes that never come,
    #: as when GCE cannot create the VMs of an accepted resize, return False).
    registers: Callable[[SimNode], bool] = lambda vm: True
    events: list[RecordedEvent] = field(default_factory=list)
    max_events: int = 10_000
    _pods: dict[str, PodInfo] = field(default_factory=dict)
    _nodes: dict[str, NodeInfo] = field(default_factory=dict)
    _classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _pdbs: dict[str, PodDisruptionBudget] = field(default_factory=dict)
    #: every label of each pod (the projections keep only a few; PDBs select by any)
    _pod_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    _booting: dict[str, _Booting] = field(default_factory=dict)
    _handlers: list[ChangeHandler] = field(default_factory=list)
    _cloud: Timeline | None = None
    _cloud_seen: int = -1
    _kick: asyncio.Event | None = None
    _serial: int = 0

    # -- ClusterView -----------------------------------------------------------------------
    def pods(self) -> Sequence[PodInfo]:
        return list(self._pods.values())

    def nodes(self) -> Sequence[NodeInfo]:
        return list(self._nodes.values())

    def classes(self) -> Sequence[Mapping[str, Any]]:
        return list(self._classes.values())

    async def count_nodes(self, pool: str) -> int | None:
        return sum(
            1
            for n in self._nodes.values()
            if pool in (n.labels.get(L.NODE_POOL_LABEL), n.labels.get(L.GKE_NODE_POOL_LABEL))
        )

    def subscribe(self, handler: ChangeHandler) -> Callable[[], None]:
        """Call ``handler`` on every change (as an informer's ``on_change`` would)."""
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler)

    def _changed(self, kind: str, event: str, old: Any, new: Any) -> None:
        for handler in list(self._handlers):
            handler(kind, event, old, new)

    # -- StatusSink and EventSink ----------------------------------------------------------
    async def write(self, name: str, status: Mapping[str, Any]) -> bool:
        old = self._classes.get(name)
        if old is None or old.get("status") == status:
            return False
        new = {**old, "status": copy.deepcopy(dict(status))}
        self._classes[name] = new
        return True

    def forget(self, name: str) -> None:
        del name

    async def emit(
        self, ref: ObjectRef, *, type_: EventType, reason: str, message: str, now: datetime
    ) -> None:
        self.events.append(RecordedEvent(now, ref.kind, ref.name, type_, reason, message))
        if len(self.events) > self.max_events:
            del self.events[: len(self.events) - self.max_events]

    # -- what users do ---------------------------------------------------------------------
    def add_class(self, body: Mapping[str, Any]) -> None:
        """Create or replace a ComputeClass (raw object; its status is kept on replace)."""
        new: dict[str, Any] = copy.deepcopy(dict(body))
        meta = new.setdefault("metadata", {})
        name = str(meta["name"])
        old = self._classes.get(name)
        meta.setdefault("generation", 1)
        meta.setdefault("uid", f"uid-class-{name}")
        if old is not None and "status" in old and "status" not in new:
            new["status"] = old["status"]
        self._classes[name] = new
        self._changed("ComputeClass", "MODIFIED" if old else "ADDED", old, new)

    def delete_class(self, name: str) -> None:
        old = self._classes.pop(name, None)
        if old is not None:
            self._changed("ComputeClass", "DELETED", old, None)

    def add_pod(self, pod: PodInfo | Mapping[str, Any]) -> PodInfo:
        """Create a pod (a projection, or a Pod manifest); it gets a uid and creation time."""
        labels: dict[str, str] | None = None
        if not isinstance(pod, PodInfo):
            manifest = copy.deepcopy(dict(pod))
            meta = manifest.setdefault("metadata", {})
            meta.setdefault("namespace", "default")
            self._serial += 1
            meta.setdefault("uid", f"uid-pod-{self._serial}")
            meta.setdefault("creationTimestamp", _stamp(self.clock.now()))
            labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
            pod = pod_info(manifest)
        if pod.creation_timestamp is None:
            pod = replace(pod, creation_timestamp=self.clock.now())
        self._pods[pod.key] = pod
        self._pod_labels[pod.key] = labels if labels is not None else dict(pod.labels)
        self._changed("Pod", "ADDED", None, pod)
        self._request_sync()
        return pod

    def delete_pod(self, namespace: str, name: str) -> None:
        old = self._pods.pop(f"{namespace}/{name}", None)
        self._pod_labels.pop(f"{namespace}/{name}", None)
        if old is not None:
            self._changed("Pod", "DELETED", old, None)
            self._request_sync()

    def add_node(self, node: NodeInfo) -> None:
        """Register a node by hand (not from the cloud)."""
        old = self._nodes.get(node.name)
        self._nodes[node.name] = node
        self._changed("Node", "MODIFIED" if old else "ADDED", old, node)
        self._request_sync()

    def add_pdb(self, pdb: PodDisruptionBudget) -> None:
        self._pdbs[f"{pdb.namespace}/{pdb.name}"] = pdb

    def pdbs(self) -> Sequence[PodDisruptionBudget]:
        return list(self._pdbs.values())

    def set_node(self, name: str, **changes: Any) -> None:
        """Change fields of a node (``unschedulable=True``, ``annotations={...}``, ``taints``)."""
        old = self._nodes[name]
        new = replace(old, **changes)
        self._nodes[name] = new
        self._changed("Node", "MODIFIED", old, new)

    def evict(self, namespace: str, name: str, *, recreate: bool = False) -> bool:
        """Evict a pod unless a PodDisruptionBudget forbids it (the API answers 429 then).
        Returns True when the pod was evicted (deleted; with ``recreate``, a pod with an owner
        comes back Pending under a new uid, as its controller would recreate it)."""
        pod = self._pods.get(f"{namespace}/{name}")
        if pod is None:
            return True
        for pdb in self._pdbs.values():
            if pdb.namespace != namespace or not self._selects(pdb, pod):
                continue
            covered = [p for p in self._pods.values() if self._selects(pdb, p)]
            healthy = sum(1 for p in covered if p.phase == "Running")
            if pdb.min_available is not None and healthy - 1 < pdb.min_available:
                return False
            unavailable = len(covered) - (healthy - 1)
            if pdb.max_unavailable is not None and unavailable > pdb.max_unavailable:
                return False
        if recreate and pod.owner_kind:
            self._serial += 1
            new = replace(
                pod,
                node_name=None,
                phase="Pending",
                uid=f"{pod.uid}-e{self._serial}",
                creation_timestamp=self.clock.now(),
            )
            self._pods[pod.key] = new
            self._changed("Pod", "MODIFIED", pod, new)
            self._request_sync()
            return True
        self.delete_pod(namespace, name)
        return True

    def _selects(self, pdb: PodDisruptionBudget, pod: PodInfo) -> bool:
        labels = self._pod_labels.get(pod.key, {})
        return pod.namespace == pdb.namespace and all(
            labels.get(k) == v for k, v in pdb.selector.items()
        )

    # -- the simulated cloud ---------------------------------------------------------------
    def attach(self, cloud: Timeline) -> Callable[[], None]:
        """Mirror ``cloud``'s VMs as Nodes from now on. Returns a detach."""
        self._cloud = cloud
        self._cloud_seen = -1
        unsubscribe = cloud.on_change(self._request_sync)
        self.sync()
        return unsubscribe

    def _request_sync(self) -> None:
        if self._kick is not None:
            self._kick.set()

    def sync(self) -> bool:
        """Bring nodes in line with the cloud and the clock, then bind what fits. Returns True
        when anything changed."""
        changed = self._sync_cloud()
        changed |= self._finish_booting()
        changed |= self.bind()
        return changed

    def next_event_at(self) -> datetime | None:
        """When something here changes by itself next (a node finishes booting, a VM finishes
        provisioning, a scripted cloud change)."""
        times = [b.ready_at for b in self._booting.values()]
        cloud = self._cloud
        if cloud is not None:
            now = self.clock.now()
            times.extend(
                n.ready_at for n in cloud.nodes(include_provisioning=True) if n.ready_at > now
            )
            scripted = cloud.next_event_at()
            if scripted is not None:
                times.append(scripted)
        return min(times) if times else None

    async def run(self) -> None:
        """Keep the cluster in line with the cloud and the clock until cancelled."""
        self._kick = asyncio.Event()
        while True:
            self._kick.clear()
            self.sync()
            due = self.next_event_at()
            if due is None:
                await self._kick.wait()
            else:
                wait = max(0.0, (due - self.clock.now()).total_seconds())
                await first_of(self._kick.wait(), self.clock.sleep(wait))

    def _sync_cloud(self) -> bool:
        cloud = self._cloud
        if cloud is None:
            return False
        vms = {n.name: n for n in cloud.nodes() if self.registers(n)}
        if cloud.generation == self._cloud_seen and vms.keys() == self._mirrored():
            return False
        self._cloud_seen = cloud.generation
        changed = False
        now = self.clock.now()
        for name in self._mirrored() - vms.keys():
            self._booting.pop(name, None)
            old = self._nodes.pop(name, None)
            if old is not None:
                self._changed("Node", "DELETED", old, None)
                self._evacuate(name)
                changed = True
        for name, vm in vms.items():
            if name in self._nodes or name in self._booting:
                continue
            boot = self.boot_delay_s if self.boot_delay_of is None else self.boot_delay_of(name)
            ready_at = vm.ready_at + timedelta(seconds=boot)
            node = self._node_of(vm, ready=ready_at <= now)
            self._nodes[name] = node
            if not node.ready:
                self._booting[name] = _Booting(ready_at, vm)
            self._changed("Node", "ADDED", None, node)
            changed = True
        return changed

    def _mirrored(self) -> set[str]:
        return {n for n, node in self._nodes.items() if node.labels.get(_SIM_LABEL) == "true"}

    def _finish_booting(self) -> bool:
        now = self.clock.now()
        done = [name for name, b in self._booting.items() if b.ready_at <= now]
        for name in done:
            del self._booting[name]
            old = self._nodes.get(name)
            if old is None:
                continue
            new = replace(old, ready=True)
            self._nodes[name] = new
            self._changed("Node", "MODIFIED", old, new)
        return bool(done)

    def _evacuate(self, node: str) -> None:
        """Pods of a vanished node: owned ones come back Pending (their controller recreates
        them), bare ones fail."""
        for key, pod in list(self._pods.items()):
            if pod.node_name != node:
                continue
            if pod.owner_kind:
                new = replace(pod, node_name=None, phase="Pending", uid=f"{pod.uid}-r")
                new = replace(new, creation_timestamp=self.clock.now())
            else:
                new = replace(pod, phase="Failed")
            self._pods[key] = new
            self._changed("Pod", "MODIFIED", pod, new)

    def _node_of(self, vm: SimNode, *, ready: bool) -> NodeInfo:
        machine = self.catalog.machine_type(vm.machine_type)
        labels = {
            **vm.labels,
            _SIM_LABEL: "true",
            "kubernetes.io/hostname": vm.name,
            L.NODE_POOL_LABEL: vm.pool,
            L.GKE_NODE_POOL_LABEL: vm.pool,
            L.MACHINE_TYPE_LABEL: vm.machine_type,
            L.ZONE_LABEL: vm.zone,
            L.REGION_LABEL: region_of(vm.zone),
        }
        annotations: dict[str, str] = {}
        if vm.capacity_type is CapacityType.SPOT:
            labels[L.GKE_SPOT_LABEL] = "true"
        if vm.deadline is not None:
            labels[L.GKE_FLEX_START_LABEL] = "true"
            labels[L.FLEX_START_DEADLINE_LABEL] = str(int(vm.deadline.timestamp()))
            annotations[L.FLEX_START_DEADLINE_ANNOTATION] = _stamp(vm.deadline)
        room = allocatable(machine) if machine is not None else None
        return NodeInfo(
            name=vm.name,
            uid=f"uid-node-{vm.serial}",
            labels=labels,
            taints=tuple(vm.taints),
            cpu_m=room.cpu_m if room else 2000,
            memory_bytes=room.memory_bytes if room else 8 * 2**30,
            gpus=room.gpus if room else 0,
            tpus=room.tpus if room else 0,
            pods=room.pods if room else 110,
            ready=ready,
            unschedulable=False,
            creation_timestamp=vm.ready_at,
            deletion_timestamp=None,
            provider_id=f"sim://{vm.zone}/{vm.name}",
            annotations=annotations,
        )

    # -- the binder ------------------------------------------------------------------------
    def bind(self) -> bool:
        """First-fit binding of pending pods (module docstring). Returns True if any bound."""
        pending = sorted(
            (p for p in self._pods.values() if p.pending and not p.scheduling_gated),
            key=lambda p: (p.creation_timestamp or datetime.min, p.key),
        )
        if not pending:
            return False
        free: dict[str, list[int]] = {}
        for n in self._nodes.values():
            if n.ready and not n.unschedulable and n.deletion_timestamp is None:
                free[n.name] = [n.cpu_m, n.memory_bytes, n.gpus, n.tpus, n.pods]
        for p in self._pods.values():
            if p.node_name in free and p.phase not in ("Succeeded", "Failed"):
                used = free[p.node_name]
                for i, v in enumerate((p.cpu_m, p.memory_bytes, p.gpus, p.tpus, 1)):
                    used[i] -= v
        bound = False
        for pod in pending:
            need = (pod.cpu_m, pod.memory_bytes, pod.gpus, pod.tpus, 1)
            for name, room in free.items():
                if all(r >= n for r, n in zip(room, need, strict=True)) and _admits(
                    self._nodes[name], pod
                ):
                    for i, v in enumerate(need):
                        room[i] -= v
                    new = replace(pod, node_name=name, phase="Running", unschedulable=False)
                    self._pods[pod.key] = new
                    self._changed("Pod", "MODIFIED", pod, new)
                    bound = True
                    break
        return bound


#: Marks the Nodes mirrored from the simulated cloud.
_SIM_LABEL = "ccc.dev/simulated"


def _admits(node: NodeInfo, pod: PodInfo) -> bool:
    if any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        return False
    for t in node.taints:
        if t.effect == "PreferNoSchedule":
            continue
        if t.key == L.CLASS_LABEL and pod.compute_class == t.value:
            continue
        if not any(tol.tolerates(t.key, t.value, t.effect) for tol in pod.tolerations):
            return False
    return True


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def wire(cluster: InMemoryCluster, loop: Reconciler) -> Callable[[], None]:
    """Send the cluster's changes to a :class:`~ccc.controller.reconciler.Reconciler` the way
    ``ccc run`` sends its informers' (pods through ``on_pod``, nodes through ``on_node``,
    everything else ``notify``)."""

    def on_change(kind: str, event: str, old: Any, new: Any) -> None:
        if kind == "Pod":
            loop.on_pod(event, old, new)
        elif kind == "Node":
            loop.on_node(event, old, new)
        else:
            loop.notify()

    return cluster.subscribe(on_change)
