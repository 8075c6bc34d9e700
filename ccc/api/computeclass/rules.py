"""Priority rules (``spec.priorities[]``): one way to obtain capacity, tried in order.

A rule either describes nodes (machine family/type, accelerators, capacity type, zones...) that
ccc may create, or lists existing node pools (``nodepools``). The cross-field rules at the end
are GKE's rule-level CEL rules plus ccc's own; each says how to fix a violation.
"""

import typing
from typing import Literal

from pydantic import Field

from ccc.api.computeclass._base import ApiModel, ListType
from ccc.api.computeclass.hardware import (
    GCE_NAME,
    GpuSpec,
    HostMaintenancePolicy,
    Placement,
    Reservations,
    Storage,
    TaintSpec,
    TpuSpec,
)
from ccc.api.computeclass.nodesystem import NodeSystemConfig

AllocationStrategy = Literal["lowest-cost", "fleet-efficiency"]

MinCpuPlatform = Literal[
    "Intel Sandy Bridge",
    "Intel Ivy Bridge",
    "Intel Haswell",
    "Intel Broadwell",
    "Intel Skylake",
    "Intel Cascade Lake",
    "Intel Ice Lake",
    "Intel Sapphire Rapids",
    "Intel Emerald Rapids",
    "Intel Granite Rapids",
    "AMD Rome",
    "AMD Milan",
    "AMD Genoa",
    "AMD Turin",
    "Ampere Altra",
    "Google Axion",
    "Nvidia Grace",
]
MIN_CPU_PLATFORMS: tuple[str, ...] = typing.get_args(MinCpuPlatform)


class NodeRecycling(ApiModel):
    """Replace flex-start nodes before their maximum run duration ends."""

    lead_time_seconds: int = Field(
        ge=1,
        le=604800,
        description=(
            "Seconds before a node's termination time at which a replacement node is requested"
            " (1..604800)."
        ),
    )


class FlexStart(ApiModel):
    """DWS flex-start provisioning: queued, discounted capacity for up to 7 days."""

    enabled: bool = Field(False, description="Provision nodes of this rule with flex-start.")
    node_recycling: NodeRecycling | None = Field(
        None, description="Request replacement nodes before the current ones expire."
    )


class Location(ApiModel):
    """Zones considered for new nodes of a rule (or of every rule, in priorityDefaults)."""

    zones: list[str] | None = Field(
        None,
        min_length=1,
        max_length=50,
        json_schema_extra=ListType.ATOMIC,
        description="Zones to create nodes in, e.g. [us-central1-a, us-central1-b].",
    )
    location_policy: Literal["ANY", "BALANCED"] | None = Field(
        None,
        description=(
            "ANY packs new nodes where capacity is (obtainability, reservations first); BALANCED"
            " spreads them across zones."
        ),
    )
    zone_types: list[Literal["STANDARD", "AI", "CLUSTER_DEFAULT"]] | None = Field(
        None,
        min_length=1,
        max_length=3,
        json_schema_extra=ListType.ATOMIC,
        description=(
            "Kinds of zones to use: STANDARD, AI, CLUSTER_DEFAULT (the cluster's autoprovisioning"
            " locations)."
        ),
    )


class MinimumCapacity(ApiModel):
    """Nodes kept provisioned even without pending pods."""

    target_node_count: int | None = Field(
        None, ge=0, description="Keep at least this many nodes of the class (or rule)."
    )


class PriorityRule(ApiModel):
    """One entry of ``spec.priorities``: a way to obtain nodes, or a list of existing pools."""

    machine_family: str | None = Field(
        None,
        max_length=10,
        description="Machine family, e.g. n4, c3, a3, g2. Not with machineType.",
    )
    machine_type: str | None = Field(
        None,
        max_length=100,
        description=(
            "Machine type, e.g. a3-highgpu-8g. Not with machineFamily, minCores or minMemoryGb."
        ),
    )
    min_cores: int | None = Field(None, ge=0, description="Minimum vCPUs per node.")
    min_memory_gb: int | None = Field(
        None, ge=0, alias="minMemoryGb", description="Minimum memory per node in GB."
    )
    spot: bool | None = Field(
        None, description="true: Spot VMs; false or unset: on-demand. Not with flexStart."
    )
    gpu: GpuSpec | None = Field(None, description="GPUs per node.")
    tpu: TpuSpec | None = Field(None, description="TPU chips per node or slice.")
    reservations: Reservations | None = Field(None, description="Reservations to consume.")
    flex_start: FlexStart | None = Field(None, description="DWS flex-start provisioning.")
    max_run_duration_seconds: int | None = Field(
        None, ge=1, description="Maximum node lifetime in seconds; unset means unlimited."
    )
    capacity_check_wait_time_seconds: int | None = Field(
        None,
        ge=1,
        le=86400,
        description=(
            "How long this rule is tried before the next one (1..86400); only with flexStart"
            " enabled or a tpu rule."
        ),
    )
    max_pods_per_node: int | None = Field(
        None, ge=8, le=256, description="Maximum pods per node (8..256)."
    )
    location: Location | None = Field(
        None, description="Zones for this rule; overrides priorityDefaults.location."
    )
    placement: Placement | None = Field(None, description="Placement (workload) policy.")
    storage: Storage | None = Field(None, description="Boot disk and local SSDs.")
    nodepools: list[str] | None = Field(
        None,
        max_length=50,
        json_schema_extra=ListType.ATOMIC,
        description=(
            "Existing node pools to scale, in order. Such a rule may hold only nodepools,"
            " priorityScore and allocationStrategy; priorityDefaults do not apply to it."
        ),
    )
    node_system_config: NodeSystemConfig | None = Field(
        None,
        description="Kernel and kubelet settings; overrides priorityDefaults.nodeSystemConfig.",
    )
    pod_family: Literal["general-purpose", "general-purpose-arm"] | None = Field(
        None, description="Autopilot pod-based billing family; only in Autopilot classes."
    )
    min_cpu_platform: MinCpuPlatform | None = Field(
        None, description="Minimum CPU platform, e.g. Intel Sapphire Rapids, AMD Genoa."
    )
    node_labels: dict[str, str] | None = Field(
        None, max_length=100, description="Extra Kubernetes labels on the nodes (at most 100)."
    )
    taints: list[TaintSpec] | None = Field(
        None,
        max_length=100,
        json_schema_extra=ListType.ATOMIC,
        description="Extra Kubernetes taints on the nodes (at most 100).",
    )
    priority_score: int | None = Field(
        None,
        ge=1,
        le=1000,
        description=(
            "1..1000, higher is preferred; rules with equal scores form one tier (cheapest first),"
            " at most 3 per score. Set on every rule or on none."
        ),
    )
    accelerator_network_profile: str | None = Field(
        None,
        max_length=63,
        pattern=r"^[a-z]([a-z0-9-]*[a-z0-9])?$",
        description=(
            'Accelerator network profile: "auto", "auto-<suffix>" or the name of a network'
            " profile (a lowercase resource id of at most 63 characters)."
        ),
    )
    gpu_direct: Literal["rdma"] | None = Field(
        None, description="GPUDirect strategy, only rdma; needs acceleratorNetworkProfile."
    )
    minimum_capacity: MinimumCapacity | None = Field(
        None, description="Nodes of this rule kept provisioned."
    )
    instance_metadata: dict[str, str] | None = Field(
        None,
        max_length=32,
        description="GCE instance metadata (reserved keys are rejected by GKE).",
    )
    allocation_strategy: AllocationStrategy | None = Field(
        None, description="lowest-cost or fleet-efficiency."
    )
    enable_nested_virtualization: bool | None = Field(
        None, description="Allow nested virtualization on the nodes."
    )
    host_maintenance_policy: HostMaintenancePolicy | None = Field(
        None, description="Planned maintenance frequency of the hosts."
    )
    performance_monitoring_unit: Literal["ARCHITECTURAL", "ENHANCED", "STANDARD"] | None = Field(
        None, description="Virtual PMU level: ARCHITECTURAL, ENHANCED or STANDARD."
    )

    @property
    def is_nodepools_rule(self) -> bool:
        """True when the rule names existing node pools instead of describing nodes."""
        return self.nodepools is not None

    @property
    def is_flex_start(self) -> bool:
        """True when the rule provisions with DWS flex-start."""
        return self.flex_start is not None and self.flex_start.enabled


__all__ = [
    "GCE_NAME",
    "MIN_CPU_PLATFORMS",
    "AllocationStrategy",
    "FlexStart",
    "Location",
    "MinimumCapacity",
    "NodeRecycling",
    "PriorityRule",
]
