"""Shared value types: capacity types, accelerators, offerings and node pool specs.

All values are immutable. They are what crosses layer boundaries: policies produce
:class:`NodePoolSpec` values, providers consume them and report :class:`NodePool` records.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, NewType

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from ccc.api.node_settings import NodeSettings

from ccc.api.capacity import CapacityType

__all__ = ["CapacityType"]  # re-exported: ccc.api.capacity holds it so models import less

NodePoolName = NewType("NodePoolName", str)
ClassName = NewType("ClassName", str)
Zone = NewType("Zone", str)


class AcceleratorKind(StrEnum):
    GPU = "gpu"
    TPU = "tpu"


#: The location of an offering blocked everywhere (a quota of all regions, e.g.
#: ``GPUS_ALL_REGIONS``), in place of a zone or region.
GLOBAL_LOCATION = "global"


def region_of(zone: str) -> str:
    """``us-central1-a`` -> ``us-central1``; ``us-central1-ai1`` -> ``us-central1``."""
    head, _, _ = zone.rpartition("-")
    return head or zone


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Accelerator(_Frozen):
    """Accelerators attached to one node: ``nvidia-h100-80gb`` x 8, ``tpu-v6e-slice`` x 4."""

    kind: AcceleratorKind
    type: str
    count: int = Field(ge=0)


class OfferingKey(_Frozen):
    """What the obtainability memory remembers: one machine type in one zone at one price model.

    ``zone`` may be a region name when a regional quota error blocked the whole region, or
    :data:`GLOBAL_LOCATION` when a quota of all regions did.
    """

    machine_type: str
    zone: str
    capacity_type: CapacityType

    def __str__(self) -> str:
        return f"{self.machine_type}:{self.zone}:{self.capacity_type.value}"


class Taint(_Frozen):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class ReservationRef(_Frozen):
    """A specific reservation (optionally shared from ``project``, optionally one block)."""

    name: str
    project: str | None = None
    block: str | None = None
    sub_block: str | None = None


class ReservationAffinity(_Frozen):
    """How a node pool consumes reservations (GKE ``ReservationAffinity``)."""

    type: Literal["none", "any", "specific"]
    reservations: tuple[ReservationRef, ...] = ()


MIN_PROVISION_NODES = 1
"""``bestEffortProvisioning.minProvisionNodes`` of a best-effort pool
(:func:`creates_best_effort`): its create succeeds once this many nodes exist."""


def creates_best_effort(
    capacity_type: CapacityType,
    *,
    hosts_per_slice: int,
    reservation: ReservationAffinity | None,
    queued_provisioning: bool,
) -> bool:
    """Whether a pool is created with ``bestEffortProvisioning`` (docs/design/029): Spot and
    on-demand pools of single-host machines. The create then succeeds once
    :data:`MIN_PROVISION_NODES` nodes exist and the rest are the instance group's to create
    (VMs GCE cannot create are reported by ``instanceGroupManagers.listErrors``; the controller
    gives them up and walks on). Multi-host TPU slices and queued provisioning are atomic, and a
    reservation is a fixed block, so those creates stay all-or-nothing. Every provider (GKE's
    request, the simulated cloud's admission) asks this one predicate."""
    return (
        capacity_type in (CapacityType.SPOT, CapacityType.ON_DEMAND)
        and hosts_per_slice <= 1
        and reservation is None
        and not queued_provisioning
    )


class NodePoolSpec(_Frozen):
    """Everything a provider needs to create one node pool for one offering.

    Pools are zonal: one pool per (class, rule, machine type, zone, capacity type); the name is
    deterministic (see :func:`policies.naming.node_pool_name`) so creation is idempotent across
    controller restarts.
    """

    name: NodePoolName
    class_name: str
    rule_index: int
    machine_type: str
    zone: str
    capacity_type: CapacityType
    node_count: int = Field(ge=0, description="Nodes wanted in the pool (per zone).")
    accelerator: Accelerator | None = None
    gpu_driver_version: Literal["default", "latest", "disabled"] | None = None
    gpu_partition_size: str | None = None
    gpu_sharing_strategy: Literal["MPS", "TIME_SHARING"] | None = None
    gpu_max_shared_clients: int | None = None
    tpu_topology: str | None = None
    #: Hosts (VMs) per multi-host TPU slice; node_count is a multiple of it.
    hosts_per_slice: int = 1
    placement_policy: str | None = None
    reservation: ReservationAffinity | None = None
    max_run_duration_s: int | None = None
    queued_provisioning: bool = False
    min_node_count: int = 0
    max_node_count: int = 1000
    #: Let the cloud's own autoscaler scale the pool between min/max_node_count (per zone).
    #: Off by default: ccc sizes its pools itself. Queued provisioning turns it on (GKE needs it).
    autoscaling: bool = False
    #: GKE ``NodePoolAutoscaling.location_policy``; ``None`` = the cloud's default.
    location_policy: Literal["ANY", "BALANCED"] | None = None
    max_pods_per_node: int | None = None
    boot_disk_size_gb: int | None = None
    boot_disk_type: str | None = None
    local_ssd_count: int | None = None
    labels: Mapping[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    #: Node configuration passed through to the cloud (GKE); see :mod:`ccc.api.node_settings`.
    settings: NodeSettings | None = None

    @property
    def offering(self) -> OfferingKey:
        return OfferingKey(
            machine_type=self.machine_type, zone=self.zone, capacity_type=self.capacity_type
        )

    @property
    def best_effort(self) -> bool:
        """Whether this pool is created best effort (:func:`creates_best_effort`)."""
        return creates_best_effort(
            self.capacity_type,
            hosts_per_slice=self.hosts_per_slice,
            reservation=self.reservation,
            queued_provisioning=self.queued_provisioning,
        )

    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Mapping[str, Any] | None = None,
    ) -> bool | None:
        """Complete the model with :class:`~ccc.api.node_settings.NodeSettings` (the type of
        ``settings``), imported here rather than with this module: node settings reuse the
        ComputeClass models, which commands that never build a pool spec (``ccc catalog``)
        should not pay for at start-up. Pydantic calls this the first time the model
        validates, serialises or gives its schema, so the contract is unchanged."""
        if _types_namespace is None:
            from ccc.api.node_settings import NodeSettings

            _types_namespace = {"NodeSettings": NodeSettings}
        return super().model_rebuild(
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth,
            _types_namespace=_types_namespace,
        )


class NodePoolStatus(StrEnum):
    PROVISIONING = "PROVISIONING"
    RUNNING = "RUNNING"
    RUNNING_WITH_ERROR = "RUNNING_WITH_ERROR"
    RECONCILING = "RECONCILING"
    STOPPING = "STOPPING"
    ERROR = "ERROR"


class NodePool(_Frozen):
    """A node pool as a provider reports it.

    ``managed`` is true only for pools ccc created (it carries the ccc managed-by label); ccc
    never resizes down or deletes a pool that is not managed.
    """

    name: NodePoolName
    machine_type: str
    zones: tuple[str, ...]
    node_count: int
    capacity_type: CapacityType
    labels: Mapping[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    accelerator: Accelerator | None = None
    status: NodePoolStatus = NodePoolStatus.RUNNING
    managed: bool = False
    class_name: str | None = None
    rule_index: int | None = None


class ReservationCapacity(_Frozen):
    """Unused capacity of one reservation, as the cloud reports it."""

    name: str
    project: str | None = None
    zone: str
    machine_type: str
    count: int
    in_use: int
    specific_only: bool = True

    @property
    def remaining(self) -> int:
        return max(0, self.count - self.in_use)
