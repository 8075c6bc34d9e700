"""Pure mapping between ccc's :class:`NodePoolSpec` / :class:`NodePool` and GKE's ``NodePool``.

No I/O: :func:`to_gke_node_pool` builds the ``container_v1.NodePool`` a create request carries;
:func:`from_gke_node_pool` reads one back. Every field a ComputeClass rule implies is set here
(machine type, accelerators and driver installation, spot, flex-start, max run duration,
reservation affinity, queued provisioning, TPU/compact placement, autoscaling, locations,
labels, taints, max pods, boot disk, local SSD), plus every pass-through node setting of the
class (:mod:`providers.gke.nodeconfig`), so the unit tests of these modules are the
specification of "what ccc asks GKE for".

Labels. Kubernetes node labels in the ``kubernetes.io`` / ``k8s.io`` namespaces (including
``app.kubernetes.io/managed-by``) cannot be set through kubelet's ``--node-labels`` and GKE
rejects them in ``NodeConfig.labels``; GKE also sets ``cloud.google.com/gke-*`` and the
topology/instance-type labels itself. Those keys are dropped from ``config.labels``; ccc's
ownership is written as GCE resource labels (``config.resource_labels``: ``managed-by=ccc``,
``ccc-class``, ``ccc-rule-index``, ``ccc-capacity-type``) and as the ``ccc.dev/*`` node labels.
A pool is *managed* when either the resource label or the ``app.kubernetes.io/managed-by`` node
label says ``ccc``.

Taints. GKE taints GPU and TPU nodes itself (``nvidia.com/gpu=present:NoSchedule``,
``google.com/tpu=present:NoSchedule``) in clusters that also have other pools; those two keys
are left to GKE rather than sent twice.
"""

from __future__ import annotations

import re

from google.cloud import container_v1
from google.protobuf import duration_pb2

from ccc.api import labels as L
from ccc.api.values import (
    MIN_PROVISION_NODES,
    Accelerator,
    AcceleratorKind,
    CapacityType,
    NodePool,
    NodePoolName,
    NodePoolSpec,
    NodePoolStatus,
    ReservationAffinity,
    Taint,
)
from providers.gke.nodeconfig import apply_settings

#: ``ReservationAffinity.key`` for a specific reservation (GCE's well-known key).
RESERVATION_KEY = "compute.googleapis.com/reservation-name"
#: GCE resource label keys ccc writes on its pools (lowercase, no slashes: GCE label rules).
RESOURCE_MANAGED_BY = "managed-by"
RESOURCE_CLASS = "ccc-class"
RESOURCE_RULE_INDEX = "ccc-rule-index"
RESOURCE_CAPACITY_TYPE = "ccc-capacity-type"

_DRIVER = {
    "default": container_v1.GPUDriverInstallationConfig.GPUDriverVersion.DEFAULT,
    "latest": container_v1.GPUDriverInstallationConfig.GPUDriverVersion.LATEST,
    "disabled": container_v1.GPUDriverInstallationConfig.GPUDriverVersion.INSTALLATION_DISABLED,
}
_SHARING = {
    "MPS": container_v1.GPUSharingConfig.GPUSharingStrategy.MPS,
    "TIME_SHARING": container_v1.GPUSharingConfig.GPUSharingStrategy.TIME_SHARING,
}
_EFFECT_TO_GKE = {
    "NoSchedule": container_v1.NodeTaint.Effect.NO_SCHEDULE,
    "PreferNoSchedule": container_v1.NodeTaint.Effect.PREFER_NO_SCHEDULE,
    "NoExecute": container_v1.NodeTaint.Effect.NO_EXECUTE,
}
_EFFECT_FROM_GKE = {v: k for k, v in _EFFECT_TO_GKE.items()}
_AFFINITY = container_v1.ReservationAffinity.Type
#: TPU machine type prefix -> GKE TPU accelerator name (``ct5lp-hightpu-4t`` -> v5e, 4 chips).
_TPU_FAMILIES = {
    "ct4p": "tpu-v4-podslice",
    "ct5l": "tpu-v5-lite-device",
    "ct5lp": "tpu-v5-lite-podslice",
    "ct5p": "tpu-v5p-slice",
    "ct6e": "tpu-v6e-slice",
    "tpu7x": "tpu7x",
}
_TPU_CHIPS_RE = re.compile(r"-(\d+)t$")
_GCE_LABEL_RE = re.compile(r"[^a-z0-9_-]+")
#: Taints GKE puts on accelerator nodes by itself.
GKE_OWNED_TAINT_KEYS = frozenset({L.GPU_RESOURCE, L.TPU_RESOURCE})


def is_reserved_label(key: str) -> bool:
    """True for node label keys GKE sets itself or refuses in ``NodeConfig.labels``."""
    prefix, _, _ = key.rpartition("/")
    restricted = (
        prefix in ("kubernetes.io", "k8s.io")
        or prefix.endswith(".kubernetes.io")
        or prefix.endswith(".k8s.io")
    )
    gke_owned = key.startswith("cloud.google.com/gke-") or key == "cloud.google.com/machine-family"
    return restricted or gke_owned


def reservation_values(affinity: ReservationAffinity) -> list[str]:
    """``ReservationAffinity.values`` for a specific affinity.

    ``name`` for a reservation of the cluster's project, ``projects/P/reservations/NAME`` for a
    shared one, with ``/reservationBlocks/B`` and ``/reservationSubBlocks/S`` appended when
    the rule names a block or sub-block (the forms ``gcloud --reservation`` accepts).
    """
    values: list[str] = []
    for ref in affinity.reservations:
        value = f"projects/{ref.project}/reservations/{ref.name}" if ref.project else ref.name
        if ref.block:
            value += f"/reservationBlocks/{ref.block}"
            if ref.sub_block:
                value += f"/reservationSubBlocks/{ref.sub_block}"
        values.append(value)
    return values


def _reservation_affinity(spec: NodePoolSpec) -> container_v1.ReservationAffinity | None:
    affinity = spec.reservation
    if affinity is None:
        if spec.capacity_type is CapacityType.RESERVATION:
            affinity = ReservationAffinity(type="any")
        elif spec.capacity_type is CapacityType.FLEX_START or spec.queued_provisioning:
            # gcloud: "--flex-start" and "--enable-queued-provisioning" require
            # "--reservation-affinity=none".
            affinity = ReservationAffinity(type="none")
        else:
            return None  # GKE's default
    if affinity.type == "specific":
        return container_v1.ReservationAffinity(
            consume_reservation_type=_AFFINITY.SPECIFIC_RESERVATION,
            key=RESERVATION_KEY,
            values=reservation_values(affinity),
        )
    kind = _AFFINITY.ANY_RESERVATION if affinity.type == "any" else _AFFINITY.NO_RESERVATION
    return container_v1.ReservationAffinity(consume_reservation_type=kind)


def _accelerators(spec: NodePoolSpec) -> list[container_v1.AcceleratorConfig]:
    acc = spec.accelerator
    # TPUs are not "accelerators" on GKE: the TPU machine type carries them.
    if acc is None or acc.kind is not AcceleratorKind.GPU or acc.count == 0:
        return []
    config = container_v1.AcceleratorConfig(
        accelerator_count=acc.count,
        accelerator_type=acc.type,
        gpu_driver_installation_config=container_v1.GPUDriverInstallationConfig(
            gpu_driver_version=_DRIVER[spec.gpu_driver_version or "default"]
        ),
    )
    if spec.gpu_partition_size:
        config.gpu_partition_size = spec.gpu_partition_size
    if spec.gpu_sharing_strategy:
        config.gpu_sharing_config = container_v1.GPUSharingConfig(
            gpu_sharing_strategy=_SHARING[spec.gpu_sharing_strategy],
            max_shared_clients_per_gpu=spec.gpu_max_shared_clients or 2,
        )
    return [config]


def resource_labels(spec: NodePoolSpec) -> dict[str, str]:
    """GCE resource labels recording ccc's ownership (values sanitised to GCE's rules)."""
    return {
        RESOURCE_MANAGED_BY: L.MANAGED_BY_VALUE,
        RESOURCE_CLASS: _gce_label_value(spec.class_name),
        RESOURCE_RULE_INDEX: str(spec.rule_index),
        RESOURCE_CAPACITY_TYPE: spec.capacity_type.value,
    }


def node_labels(spec: NodePoolSpec) -> dict[str, str]:
    """Kubernetes labels for the pool's nodes: the spec's labels plus ccc's identity labels,
    minus the keys GKE owns or refuses (see the module docstring)."""
    wanted = dict(spec.labels)
    wanted.update(
        {
            L.CLASS_LABEL: spec.class_name,
            L.RULE_INDEX_LABEL: str(spec.rule_index),
            L.CAPACITY_TYPE_LABEL: spec.capacity_type.value,
            L.NODE_POOL_LABEL: spec.name,
        }
    )
    return {k: v for k, v in wanted.items() if not is_reserved_label(k)}


def to_gke_node_pool(spec: NodePoolSpec) -> container_v1.NodePool:
    """The ``NodePool`` of a create request for ``spec`` (pure; raises nothing)."""
    config = container_v1.NodeConfig(
        machine_type=spec.machine_type,
        labels=node_labels(spec),
        resource_labels=resource_labels(spec),
        taints=[
            container_v1.NodeTaint(key=t.key, value=t.value, effect=_EFFECT_TO_GKE[t.effect])
            for t in spec.taints
            if t.key not in GKE_OWNED_TAINT_KEYS
        ],
        accelerators=_accelerators(spec),
    )
    if spec.capacity_type is CapacityType.SPOT:
        config.spot = True
    if spec.capacity_type is CapacityType.FLEX_START:
        config.flex_start = True
    if spec.max_run_duration_s is not None:
        config.max_run_duration = duration_pb2.Duration(seconds=spec.max_run_duration_s)
    affinity = _reservation_affinity(spec)
    if affinity is not None:
        config.reservation_affinity = affinity
    if spec.boot_disk_size_gb is not None:
        config.disk_size_gb = spec.boot_disk_size_gb
    if spec.boot_disk_type:
        config.disk_type = spec.boot_disk_type
    if spec.local_ssd_count is not None:
        config.local_ssd_count = spec.local_ssd_count

    pool = container_v1.NodePool(
        name=spec.name,
        config=config,
        locations=[spec.zone],
        initial_node_count=0 if spec.queued_provisioning else spec.node_count,
    )
    if spec.autoscaling or spec.queued_provisioning:
        pool.autoscaling = container_v1.NodePoolAutoscaling(
            enabled=True,
            min_node_count=spec.min_node_count,
            max_node_count=max(spec.max_node_count, spec.min_node_count),
        )
        policy = spec.location_policy or ("ANY" if spec.queued_provisioning else None)
        if policy is not None:
            policies = container_v1.NodePoolAutoscaling.LocationPolicy
            pool.autoscaling.location_policy = getattr(policies, policy)
    if spec.best_effort:
        pool.best_effort_provisioning = container_v1.BestEffortProvisioning(
            enabled=True, min_provision_nodes=MIN_PROVISION_NODES
        )
    if spec.queued_provisioning:
        pool.queued_provisioning = container_v1.NodePool.QueuedProvisioning(enabled=True)
        # gcloud's documented queued-provisioning pool uses "--no-enable-autorepair".
        pool.management = container_v1.NodeManagement(auto_repair=False, auto_upgrade=True)
    multi_host_tpu = spec.tpu_topology is not None and spec.hosts_per_slice > 1
    if multi_host_tpu or spec.placement_policy:
        placement = container_v1.NodePool.PlacementPolicy(
            type_=container_v1.NodePool.PlacementPolicy.Type.COMPACT
        )
        if multi_host_tpu and spec.tpu_topology:
            placement.tpu_topology = spec.tpu_topology
        if spec.placement_policy:
            placement.policy_name = spec.placement_policy
        pool.placement_policy = placement
    if spec.max_pods_per_node is not None:
        pool.max_pods_constraint = container_v1.MaxPodsConstraint(
            max_pods_per_node=spec.max_pods_per_node
        )
    if spec.settings is not None:
        apply_settings(pool, spec.settings)
    return pool


def is_managed(pool: container_v1.NodePool) -> bool:
    """True when ccc created the pool (resource label or node label ``managed-by=ccc``)."""
    config = pool.config
    return (
        config.resource_labels.get(RESOURCE_MANAGED_BY) == L.MANAGED_BY_VALUE
        or config.labels.get(L.MANAGED_BY_LABEL) == L.MANAGED_BY_VALUE
    )


def _capacity_type(pool: container_v1.NodePool) -> CapacityType:
    config = pool.config
    recorded = config.labels.get(L.CAPACITY_TYPE_LABEL) or config.resource_labels.get(
        RESOURCE_CAPACITY_TYPE
    )
    if recorded in {c.value for c in CapacityType}:
        return CapacityType(recorded)
    if config.spot or config.preemptible:
        return CapacityType.SPOT
    if config.flex_start:
        return CapacityType.FLEX_START
    if config.reservation_affinity.consume_reservation_type == _AFFINITY.SPECIFIC_RESERVATION:
        return CapacityType.RESERVATION
    return CapacityType.ON_DEMAND


def _accelerator(pool: container_v1.NodePool) -> Accelerator | None:
    config = pool.config
    if config.accelerators:
        first = config.accelerators[0]
        return Accelerator(
            kind=AcceleratorKind.GPU, type=first.accelerator_type, count=first.accelerator_count
        )
    family = config.machine_type.split("-", 1)[0]
    chips = _TPU_CHIPS_RE.search(config.machine_type)
    if family in _TPU_FAMILIES and chips:
        return Accelerator(
            kind=AcceleratorKind.TPU, type=_TPU_FAMILIES[family], count=int(chips.group(1))
        )
    return None


def from_gke_node_pool(pool: container_v1.NodePool, *, node_count: int | None = None) -> NodePool:
    """ccc's view of a GKE pool.

    Args:
        pool: the pool as ``get_node_pool``/``list_node_pools`` return it.
        node_count: the current size when known (sum of the instance groups' target sizes);
            GKE's ``NodePool`` has no current-size field, so ``initial_node_count`` is the
            fallback.
    """
    config = pool.config
    labels = dict(config.labels)
    managed = is_managed(pool)
    if managed:
        # Kept as a GCE resource label on GKE (kubelet may not set it); reported as a label so
        # every provider describes a managed pool the same way.
        labels.setdefault(L.MANAGED_BY_LABEL, L.MANAGED_BY_VALUE)
    rule = labels.get(L.RULE_INDEX_LABEL) or config.resource_labels.get(RESOURCE_RULE_INDEX)
    status_name = container_v1.NodePool.Status(pool.status).name
    status = (
        NodePoolStatus(status_name)
        if status_name in NodePoolStatus.__members__
        else NodePoolStatus.PROVISIONING
    )
    return NodePool(
        name=NodePoolName(pool.name),
        machine_type=config.machine_type,
        zones=tuple(pool.locations),
        node_count=pool.initial_node_count if node_count is None else node_count,
        capacity_type=_capacity_type(pool),
        labels=labels,
        taints=tuple(
            Taint(key=t.key, value=t.value, effect=_EFFECT_FROM_GKE.get(t.effect, "NoSchedule"))
            for t in config.taints
        ),
        accelerator=_accelerator(pool),
        status=status,
        managed=managed,
        class_name=labels.get(L.CLASS_LABEL) or None,
        rule_index=int(rule) if rule and rule.isdigit() else None,
    )


def same_shape(spec: NodePoolSpec, pool: container_v1.NodePool) -> bool:
    """Whether an existing pool is the one ``spec`` would create (machine type, zone, capacity
    type): the test for treating ALREADY_EXISTS as success."""
    return (
        pool.config.machine_type == spec.machine_type
        and list(pool.locations) in ([spec.zone], [])
        and _capacity_type(pool) is spec.capacity_type
    )


def _gce_label_value(text: str) -> str:
    return _GCE_LABEL_RE.sub("-", text.lower())[:63]
