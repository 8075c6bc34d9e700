"""``ComputeClassSpec``: the ordered priority rules plus class-wide settings, and the
spec-level cross-field rules (GKE's CEL rules that span several rules or sections)."""

from typing import Literal

from pydantic import Field

from ccc.api.computeclass._base import ApiModel, ListType, empty_list
from ccc.api.computeclass.hardware import HostMaintenancePolicy
from ccc.api.computeclass.nodepool import NodePoolConfig, NodePoolGroup
from ccc.api.computeclass.nodesystem import NodeSystemConfig
from ccc.api.computeclass.rules import (
    AllocationStrategy,
    Location,
    MinimumCapacity,
    PriorityRule,
)

MAX_RULES = 500
"""GKE allows 1000 rules; ccc allows 500 so that the API server's CEL cost estimate of the
quadratic "at most 3 rules per priorityScore" rule stays within budget (GKE recommends ~10)."""
MAX_RULES_PER_SCORE = 3


class ShieldedInstanceConfig(ApiModel):
    """Shielded VM settings of node pools created for the class."""

    enable_secure_boot: bool | None = Field(None, description="Secure boot (default false).")
    enable_integrity_monitoring: bool | None = Field(None, description="Integrity monitoring.")


class NodePoolAutoCreation(ApiModel):
    """Whether ccc (GKE: the autoscaler) may create node pools for the class."""

    enabled: bool = Field(
        False,
        description=(
            "Create node pools for rules that describe nodes. Unset spec.nodePoolAutoCreation"
            " means false, except in Autopilot classes."
        ),
    )
    dynamic_max_pods_per_node: bool | None = Field(
        None,
        description="Pick max pods per node by bin-packing; ignored if a rule sets maxPodsPerNode.",
    )
    dynamic_boot_disk_size: bool | None = Field(
        None, description="Pick the boot disk size; ignored if a rule sets storage.bootDiskSize."
    )
    shielded_instance_config: ShieldedInstanceConfig | None = Field(
        None, description="Shielded VM settings of created pools."
    )


class ReconciliationPolicy(ApiModel):
    """How nodes are replaced during active migration."""

    strategy: Literal["CreateBeforeDelete", "DeleteBeforeCreate"] | None = Field(
        None,
        description="CreateBeforeDelete (default) or DeleteBeforeCreate (config drift only).",
    )
    max_node_disruption: int | None = Field(None, ge=1, description="Nodes replaced at a time.")
    atomic_group_labels: list[str] | None = Field(
        None,
        max_length=10,
        json_schema_extra=ListType.ATOMIC,
        description="Node labels whose nodes are replaced together.",
    )


class ActiveMigration(ApiModel):
    """Moving workloads to better nodes after they have been scheduled."""

    optimize_rule_priority: bool = Field(
        False,
        description=(
            "Move workloads to nodes of a higher rule when its capacity becomes obtainable"
            " (create the new node, then drain the old one, respecting PDBs)."
        ),
    )
    ensure_all_daemon_set_pods_running: bool | None = Field(
        None, description="Replace nodes that cannot fit every DaemonSet pod with larger ones."
    )
    config_drift: bool | None = Field(
        None, description="Replace nodes whose configuration drifted from nodePoolConfig."
    )
    reconciliation_policy: ReconciliationPolicy | None = Field(
        None, description="How nodes are replaced."
    )


class AutoscalingPolicy(ApiModel):
    """Scale-down (consolidation) settings of the class."""

    consolidation_delay_minutes: int | None = Field(
        None,
        ge=1,
        le=1440,
        description="Minutes a node must be unneeded before it is removed (1..1440).",
    )
    consolidation_threshold: int | None = Field(
        None,
        ge=0,
        le=100,
        description="CPU and memory utilisation percent below which a node may be consolidated.",
    )
    gpu_consolidation_threshold: int | None = Field(
        None,
        ge=0,
        le=100,
        description="GPU utilisation percent below which an accelerator node may be consolidated.",
    )


class Autopilot(ApiModel):
    """Autopilot management of the class's nodes (immutable once set)."""

    enabled: bool = Field(False, description="Nodes are Autopilot-managed. Cannot change once set.")


class PriorityDefaults(ApiModel):
    """Settings copied into every rule that lacks them (never into nodepools rules)."""

    location: Location | None = Field(None, description="Default zones of every rule.")
    node_system_config: NodeSystemConfig | None = Field(
        None, description="Default kernel and kubelet settings of every rule."
    )
    enable_nested_virtualization: bool | None = Field(
        None, description="Default nested virtualization of every rule."
    )
    host_maintenance_policy: HostMaintenancePolicy | None = Field(
        None, description="Default host maintenance policy of every rule."
    )


class AllocationStrategyDefaults(ApiModel):
    """Default allocationStrategy per provisioning model."""

    on_demand: AllocationStrategy | None = Field(None, description="For on-demand rules.")
    spot: AllocationStrategy | None = Field(None, description="For Spot rules.")
    flex_start: AllocationStrategy | None = Field(None, description="For flex-start rules.")


class SubnetPriority(ApiModel):
    """A subnet (and pod range) new node pools use."""

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
        description="Subnet name.",
    )
    pod_range: str | None = Field(
        None,
        max_length=63,
        pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
        description="Secondary range for pods.",
    )


class NetworkConfig(ApiModel):
    """Networks of node pools created for the class."""

    subnet_priorities: list[SubnetPriority] | None = Field(
        None,
        min_length=1,
        max_length=1,
        json_schema_extra=ListType.ATOMIC,
        description="Subnets (one for now).",
    )


class Buffer(ApiModel):
    """Spare capacity kept ready for the class."""

    provisioning_strategy: str | None = Field(
        None,
        max_length=253,
        description="buffer.x-k8s.io/active-capacity (default) or buffer.gke.io/standby-capacity.",
    )
    limits: dict[str, int | str] | None = Field(
        None,
        max_length=16,
        description="Resource quantities of the buffer, e.g. cpu: 8, memory: 32Gi.",
    )


class ComputeClassSpec(ApiModel):
    """What capacity a class may use, in which order, and how ccc manages it."""

    priorities: list[PriorityRule] = Field(
        default_factory=empty_list,
        max_length=MAX_RULES,
        json_schema_extra={"default": [], **ListType.ATOMIC},
        description=(
            "Ways to obtain capacity, tried top to bottom (or by descending priorityScore)."
            " Empty means the cluster defaults."
        ),
    )
    priority_defaults: PriorityDefaults | None = Field(
        None, description="Defaults for rules that do not set a field (not for nodepools rules)."
    )
    when_unsatisfiable: Literal["ScaleUpAnyway", "DoNotScaleUp"] = Field(
        "DoNotScaleUp",
        description=(
            "When no rule can be satisfied: DoNotScaleUp leaves pods Pending; ScaleUpAnyway"
            " creates a default node."
        ),
    )
    node_pool_auto_creation: NodePoolAutoCreation | None = Field(
        None, description="Whether node pools may be created for the class (unset: disabled)."
    )
    active_migration: ActiveMigration | None = Field(
        None, description="Moving workloads to better nodes."
    )
    autoscaling_policy: AutoscalingPolicy | None = Field(None, description="Scale-down settings.")
    autopilot: Autopilot | None = Field(
        None, description="Autopilot management; immutable once set."
    )
    node_pool_config: NodePoolConfig | None = Field(
        None, description="Configuration of every node pool of the class."
    )
    node_pool_group: NodePoolGroup | None = Field(None, description="Group the class's node pools.")
    description: str | None = Field(
        None, max_length=4096, description="Free text: when to use this class."
    )
    minimum_capacity: MinimumCapacity | None = Field(
        None, description="Nodes of the class kept provisioned."
    )
    allocation_strategy_defaults: AllocationStrategyDefaults | None = Field(
        None, description="Default allocationStrategy per provisioning model."
    )
    network_config: NetworkConfig | None = Field(
        None, description="Networks of created node pools."
    )
    buffers: list[Buffer] | None = Field(
        None,
        max_length=10,
        json_schema_extra=ListType.ATOMIC,
        description="Spare capacity to keep.",
    )

    @property
    def autopilot_enabled(self) -> bool:
        """True when the class's nodes are Autopilot-managed."""
        return self.autopilot is not None and self.autopilot.enabled
