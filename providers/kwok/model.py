"""The kwok cloud's records in the API server: pool ConfigMaps and the Node manifests of a pool.

A node pool is a ConfigMap in the cloud's namespace (name = pool name) holding the
:class:`~ccc.api.values.NodePoolSpec` as JSON, the desired ``nodeCount``, its creation time and
the reservation VMs it booked. Its Nodes are named ``<pool>-<index>`` and carry the cloud's
namespace and the ConfigMap's uid as labels, so a Node left behind by a pool that was deleted (and
perhaps re-created under the same name) is recognised as an orphan. Everything here is pure:
building and parsing objects, no API calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ccc.api import labels as well_known
from ccc.api.allocatable import reserved_cpu_m, reserved_memory_bytes
from ccc.api.catalog import MachineType
from ccc.api.values import (
    AcceleratorKind,
    CapacityType,
    NodePool,
    NodePoolName,
    NodePoolSpec,
    NodePoolStatus,
    region_of,
)
from providers.errors import InvalidRequestError
from providers.simulated.model import DEFAULT_FLEX_START_MAX_RUN_S, PoolShape

DEFAULT_NAMESPACE = "ccc-kwok-cloud"
#: Marks a ConfigMap as a node pool of the kwok cloud.
POOL_MARKER_LABEL = "ccc.dev/kwok-pool"
#: On every Node of the cloud: the namespace holding its pool (one cloud per namespace).
CLOUD_LABEL = "ccc.dev/kwok-cloud"
#: On every Node: the uid of its pool's ConfigMap (tells a pool's Nodes from orphans).
POOL_UID_LABEL = "ccc.dev/kwok-pool-uid"
#: kwok manages Nodes carrying this annotation (``--manage-nodes-with-annotation-selector``).
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: GKE's spot preemption notice taint (set when the VM gets its ACPI G2 soft-off signal).
IMPENDING_TERMINATION_TAINT = well_known.IMPENDING_TERMINATION_TAINT

_SPEC_KEY, _COUNT_KEY, _CREATED_KEY, _RESERVATIONS_KEY, _DELETING_KEY, _REMOVING_KEY = (
    "spec",
    "nodeCount",
    "createdAt",
    "reservations",
    "deleting",
    "removing",
)
_GIB = 2**30


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """One pool as stored in its ConfigMap.

    Attributes:
        spec: the spec the pool was created with (its ``node_count`` is the initial size).
        node_count: the desired size now (what resizes, preemptions and expiries change).
        reservations: ``project/name`` of each reservation -> VMs of it this pool booked.
        uid, resource_version: of the ConfigMap (the uid links Nodes; the version guards writes).
        deleting: a delete began (desired size 0); the ConfigMap goes once the Nodes are gone.
        removing: uids of Nodes already subtracted from ``node_count`` by ``delete_nodes`` or a
            disruption: the next sync deletes them, whatever the count.
    """

    spec: NodePoolSpec
    node_count: int
    created_at: datetime
    uid: str
    resource_version: str
    reservations: Mapping[str, int] = field(default_factory=dict)
    deleting: bool = False
    removing: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return str(self.spec.name)

    @property
    def managed(self) -> bool:
        return self.spec.labels.get(well_known.MANAGED_BY_LABEL) == well_known.MANAGED_BY_VALUE

    @classmethod
    def from_configmap(cls, cm: Any) -> PoolRecord:
        """Parse a pool ConfigMap (a ``kubernetes_asyncio`` ``V1ConfigMap``).

        Raises:
            InvalidRequestError: the ConfigMap was edited into something unreadable; the message
                names it and the key.
        """
        name = f"{cm.metadata.namespace}/{cm.metadata.name}"
        data: Mapping[str, str] = cm.data or {}
        try:
            spec = NodePoolSpec.model_validate_json(data.get(_SPEC_KEY, ""))
            count = int(data.get(_COUNT_KEY, ""))
            created = datetime.fromisoformat(data.get(_CREATED_KEY, ""))
            booked = json.loads(data.get(_RESERVATIONS_KEY) or "{}")
            removing = json.loads(data.get(_REMOVING_KEY) or "[]")
        except (ValidationError, ValueError) as exc:
            raise InvalidRequestError(
                f"pool ConfigMap {name} is corrupt ({exc.__class__.__name__}: {exc}); it needs "
                f"data.{_SPEC_KEY} (NodePoolSpec JSON), data.{_COUNT_KEY} (an integer) and "
                f"data.{_CREATED_KEY} (ISO 8601). Delete it to drop the pool.",
                scope="global",
                reason="CORRUPT_POOL_RECORD",
            ) from exc
        return cls(
            spec=spec,
            node_count=count,
            created_at=created,
            uid=str(cm.metadata.uid),
            resource_version=str(cm.metadata.resource_version),
            reservations={str(k): int(v) for k, v in booked.items()},
            deleting=data.get(_DELETING_KEY) == "true",
            removing=frozenset(str(uid) for uid in removing),
        )


def pool_configmap(
    spec: NodePoolSpec,
    *,
    node_count: int,
    created_at: datetime,
    reservations: Mapping[str, int],
    resource_version: str | None = None,
    deleting: bool = False,
    removing: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The ConfigMap body recording a pool (``resource_version`` guards a replace)."""
    labels = {POOL_MARKER_LABEL: "true"}
    managed_by = spec.labels.get(well_known.MANAGED_BY_LABEL)
    if managed_by is not None:
        labels[well_known.MANAGED_BY_LABEL] = managed_by
    metadata: dict[str, Any] = {"name": str(spec.name), "labels": labels}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {
            _SPEC_KEY: spec.model_dump_json(),
            _COUNT_KEY: str(node_count),
            _CREATED_KEY: created_at.isoformat(),
            _RESERVATIONS_KEY: json.dumps(dict(reservations), sort_keys=True),
            _DELETING_KEY: "true" if deleting else "false",
            _REMOVING_KEY: json.dumps(sorted(removing)),
        },
    }


def shape_of(spec: NodePoolSpec, machine: MachineType | None) -> PoolShape:
    """What the capacity ledger books for one node of ``spec``."""
    accelerator = spec.accelerator or (machine.accelerator if machine is not None else None)
    return PoolShape(
        spec.machine_type, spec.zone, spec.capacity_type, accelerator, spec.reservation
    )


def pool_view(record: PoolRecord, *, ready_nodes: int) -> NodePool:
    """The pool as the provider reports it.

    ``node_count`` is the desired size (the cloud's target size, as a GKE managed instance
    group reports it); ``status`` is ``PROVISIONING`` until the first Nodes exist and
    ``RECONCILING`` while the Nodes do not match the desired size, ``STOPPING`` once a delete
    began.
    """
    spec, managed = record.spec, record.managed
    if record.deleting:
        status = NodePoolStatus.STOPPING
    elif ready_nodes == record.node_count:
        status = NodePoolStatus.RUNNING
    elif ready_nodes == 0:
        status = NodePoolStatus.PROVISIONING
    else:
        status = NodePoolStatus.RECONCILING
    return NodePool(
        name=NodePoolName(record.name),
        machine_type=spec.machine_type,
        zones=(spec.zone,),
        node_count=record.node_count,
        capacity_type=spec.capacity_type,
        labels=dict(spec.labels),
        taints=spec.taints,
        accelerator=spec.accelerator,
        status=status,
        managed=managed,
        class_name=spec.class_name if managed else None,
        rule_index=spec.rule_index if managed else None,
    )


def node_name(pool: str, index: int) -> str:
    return f"{pool}-{index}"


def node_index(pool: str, name: str) -> int:
    """Index of ``<pool>-<index>``; ``-1`` for a name that does not follow the pattern."""
    prefix = f"{pool}-"
    tail = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else -1


def flex_start_deadline(spec: NodePoolSpec, created_at: datetime) -> datetime | None:
    """When a flex-start node created at ``created_at`` is removed (``None`` for others)."""
    if spec.capacity_type is not CapacityType.FLEX_START:
        return None
    return created_at + timedelta(seconds=spec.max_run_duration_s or DEFAULT_FLEX_START_MAX_RUN_S)


def node_manifest(
    record: PoolRecord,
    *,
    index: int,
    machine: MachineType | None,
    namespace: str,
    created_at: datetime,
    kubelet_version: str,
) -> dict[str, Any]:
    """The Node of pool ``record`` at ``index``, with its status (the API server accepts a Node
    created with status; kwok then keeps it Ready and runs its pods)."""
    spec, name = record.spec, node_name(record.name, index)
    labels: dict[str, str] = {
        **spec.labels,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        well_known.GKE_NODE_POOL_LABEL: record.name,
        well_known.NODE_POOL_LABEL: record.name,
        well_known.MACHINE_TYPE_LABEL: spec.machine_type,
        well_known.ZONE_LABEL: spec.zone,
        well_known.REGION_LABEL: region_of(spec.zone),
        CLOUD_LABEL: namespace,
        POOL_UID_LABEL: record.uid,
    }
    annotations = {KWOK_NODE_ANNOTATION: "fake"}
    if spec.capacity_type is CapacityType.SPOT:
        labels[well_known.GKE_SPOT_LABEL] = "true"
    deadline = flex_start_deadline(spec, created_at)
    if deadline is not None:
        labels[well_known.GKE_FLEX_START_LABEL] = "true"
        labels[well_known.FLEX_START_DEADLINE_LABEL] = str(int(deadline.timestamp()))
        annotations[well_known.FLEX_START_DEADLINE_ANNOTATION] = deadline.isoformat()
    capacity = node_capacity(spec, machine)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {"taints": [t.model_dump() for t in spec.taints]},
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


def node_capacity(spec: NodePoolSpec, machine: MachineType | None) -> dict[str, str]:
    """cpu, memory, pods, ephemeral-storage and accelerators of one node of ``spec``.

    GPU time-sharing/MPS multiplies the advertised ``nvidia.com/gpu`` by the clients per GPU,
    as GKE's device plugin does. An unknown machine type gets a small default shape.
    """
    vcpus = machine.vcpus if machine is not None else 2
    memory_gb = machine.memory_gb if machine is not None else 8.0
    pods = spec.max_pods_per_node or (machine.max_pods if machine is not None else 110)
    out = {
        "cpu": str(vcpus),
        "memory": f"{int(memory_gb * 1024)}Mi",
        "pods": str(pods),
        "ephemeral-storage": f"{spec.boot_disk_size_gb or 100}Gi",
    }
    acc = spec.accelerator or (machine.accelerator if machine is not None else None)
    if acc is not None and acc.count > 0:
        if acc.kind is AcceleratorKind.GPU:
            clients = spec.gpu_max_shared_clients if spec.gpu_sharing_strategy else None
            out[well_known.GPU_RESOURCE] = str(acc.count * (clients or 1))
        else:
            out[well_known.TPU_RESOURCE] = str(acc.count)
    return out


def node_allocatable(capacity: Mapping[str, str], machine: MachineType | None) -> dict[str, str]:
    """Capacity minus GKE's published system reservations for cpu and memory
    (:mod:`ccc.api.allocatable`, the formula the policies size nodes with)."""
    out = dict(capacity)
    if machine is None:
        return out
    out["cpu"] = f"{machine.vcpus * 1000 - reserved_cpu_m(machine.vcpus)}m"
    total = int(machine.memory_gb * _GIB)
    out["memory"] = str(total - reserved_memory_bytes(machine.memory_gb))
    return out
