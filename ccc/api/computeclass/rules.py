"""Priority rules (``spec.priorities[]``): one way to obtain capacity, tried in order.

A rule either describes nodes (machine family/type, accelerators, capacity type, zones...) that
ccc may create, or lists existing node pools (``nodepools``). The cross-field rules at the end
are GKE's rule-level CEL rules plus ccc's own; each says how to fix a violation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ccc.api.computeclass._base import ApiModel, CrossFieldRule, ListType, register_rules
from ccc.api.computeclass.hardware import (
    GCE_NAME,
    RESERVED_LABEL_DOMAINS,
    GpuSpec,
    HostMaintenancePolicy,
    Placement,
    Reservations,
    Storage,
    TaintSpec,
    TpuSpec,
)
from ccc.api.computeclass.nodesystem import NodeSystemConfig, sets_shutdown_grace

AllocationStrategy = Literal["lowest-cost", "fleet-efficiency"]

MIN_CPU_PLATFORMS = (
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
)
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
        json_schema_extra=ListType.SET,
        description=(
            "Kinds of zones to use: STANDARD, AI, CLUSTER_DEFAULT (the cluster's autoprovisioning"
            " locations)."
        ),
    )


register_rules(
    Location,
    [
        CrossFieldRule(
            id="zone-types-unique",
            cel=(
                "!has(self.zoneTypes) ||"
                " self.zoneTypes.all(t, self.zoneTypes.exists_one(u, u == t))"
            ),
            message=(
                "zoneTypes lists a zone type twice; list each of STANDARD, AI, CLUSTER_DEFAULT once"
            ),
            check=lambda loc: (
                loc.zone_types is None or len(set(loc.zone_types)) == len(loc.zone_types)
            ),
            field_path=".zoneTypes",
            reason="FieldValueDuplicate",
        )
    ],
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
        min_length=1,
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
        pattern=r"^auto(-[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$",
        description='Automatic accelerator network profile: "auto" or "auto-<suffix>".',
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


NODEPOOLS_RULE_FIELDS = frozenset({"nodepools", "priority_score", "allocation_strategy"})
_OTHER_FIELDS = [n for n in PriorityRule.model_fields if n not in NODEPOOLS_RULE_FIELDS]
_OTHER_ALIASES = [PriorityRule.model_fields[n].alias or n for n in _OTHER_FIELDS]


def _only_nodepools(rule: PriorityRule) -> bool:
    return all(getattr(rule, name) is None for name in _OTHER_FIELDS)


def _set_fields(rule: PriorityRule) -> bool:
    return any(getattr(rule, name) is not None for name in PriorityRule.model_fields)


def _has_spot(rule: PriorityRule) -> bool:
    return rule.spot is True


register_rules(
    PriorityRule,
    [
        CrossFieldRule(
            id="rule-not-empty",
            cel=" || ".join(
                f"has(self.{a})"
                for a in [*_OTHER_ALIASES, "nodepools", "priorityScore", "allocationStrategy"]
            ),
            message=(
                "a priority rule needs at least one field; add machineFamily, machineType, gpu,"
                " tpu or nodepools, or remove the empty rule"
            ),
            check=_set_fields,
            reason="FieldValueRequired",
        ),
        CrossFieldRule(
            id="nodepools-rule-exclusive",
            cel="!has(self.nodepools) || !("
            + " || ".join(f"has(self.{a})" for a in _OTHER_ALIASES)
            + ")",
            message=(
                "a nodepools rule may only set nodepools, priorityScore and allocationStrategy;"
                " move the other fields into a separate rule"
            ),
            check=lambda r: r.nodepools is None or _only_nodepools(r),
            field_path=".nodepools",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="machine-family-xor-type",
            cel="!(has(self.machineFamily) && has(self.machineType))",
            message=(
                "set either machineType or machineFamily, not both; machineType already implies"
                " its family"
            ),
            check=lambda r: not (r.machine_family is not None and r.machine_type is not None),
            field_path=".machineType",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="machine-type-excludes-min-shape",
            cel="!(has(self.machineType) && (has(self.minCores) || has(self.minMemoryGb)))",
            message=(
                "minCores and minMemoryGb only apply with machineFamily; remove them or replace"
                " machineType with machineFamily"
            ),
            check=lambda r: (
                not (
                    r.machine_type is not None
                    and (r.min_cores is not None or r.min_memory_gb is not None)
                )
            ),
            field_path=".machineType",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="machine-family-not-ek",
            cel="!has(self.machineFamily) || self.machineFamily != 'ek'",
            message="machineFamily ek is not supported by compute classes; choose another family",
            check=lambda r: r.machine_family != "ek",
            field_path=".machineFamily",
        ),
        CrossFieldRule(
            id="machine-type-not-ek",
            cel=(
                "!has(self.machineType) || !(self.machineType.startsWith('ek') ||"
                " self.machineType.startsWith('e4a'))"
            ),
            message=(
                "machine types ek-* and e4a-* are not supported by compute classes; choose"
                " another type"
            ),
            check=lambda r: r.machine_type is None or not r.machine_type.startswith(("ek", "e4a")),
            field_path=".machineType",
        ),
        CrossFieldRule(
            id="non-tpu-reservations-need-machine",
            cel=(
                "!has(self.reservations) || has(self.tpu) || has(self.machineFamily) ||"
                " has(self.machineType)"
            ),
            message=(
                "reservations on a non-TPU rule need machineType or machineFamily; add the"
                " machine type of the reservation"
            ),
            check=lambda r: (
                r.reservations is None
                or r.tpu is not None
                or r.machine_family is not None
                or r.machine_type is not None
            ),
            field_path=".reservations",
        ),
        CrossFieldRule(
            id="flex-start-excludes-spot",
            cel=(
                "!(has(self.spot) && self.spot && has(self.flexStart) &&"
                " has(self.flexStart.enabled) && self.flexStart.enabled)"
            ),
            message=(
                "flexStart cannot be combined with spot: true; move flex-start and Spot into"
                " separate rules"
            ),
            check=lambda r: not (_has_spot(r) and r.is_flex_start),
            field_path=".spot",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="capacity-check-wait-needs-flex-start-or-tpu",
            cel=(
                "!has(self.capacityCheckWaitTimeSeconds) || has(self.tpu) || (has(self.flexStart)"
                " && has(self.flexStart.enabled) && self.flexStart.enabled)"
            ),
            message=(
                "capacityCheckWaitTimeSeconds only applies to flex-start or TPU rules; set"
                " flexStart.enabled: true or remove it (other rules fall through at once)"
            ),
            check=lambda r: (
                r.capacity_check_wait_time_seconds is None or r.tpu is not None or r.is_flex_start
            ),
            field_path=".capacityCheckWaitTimeSeconds",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="node-recycling-needs-flex-start",
            cel=(
                "!has(self.flexStart) || !has(self.flexStart.nodeRecycling) ||"
                " (has(self.flexStart.enabled) && self.flexStart.enabled)"
            ),
            message=(
                "flexStart.nodeRecycling only applies when flexStart.enabled is true; set"
                " enabled: true or remove nodeRecycling"
            ),
            check=lambda r: (
                r.flex_start is None or r.flex_start.node_recycling is None or r.flex_start.enabled
            ),
            field_path=".flexStart",
        ),
        CrossFieldRule(
            id="shutdown-grace-only-for-spot",
            cel=(
                "(has(self.spot) && self.spot) || !has(self.nodeSystemConfig) ||"
                " !has(self.nodeSystemConfig.kubeletConfig) ||"
                " !has(self.nodeSystemConfig.kubeletConfig.shutdownGracePeriodSeconds)"
            ),
            message=(
                "kubeletConfig.shutdownGracePeriodSeconds is only supported for Spot; set spot:"
                " true or remove it"
            ),
            check=lambda r: _has_spot(r) or not sets_shutdown_grace(r.node_system_config),
            field_path=".nodeSystemConfig",
        ),
        CrossFieldRule(
            id="gpu-direct-needs-network-profile",
            cel="!has(self.gpuDirect) || has(self.acceleratorNetworkProfile)",
            message="gpuDirect: rdma needs acceleratorNetworkProfile (e.g. auto); add it",
            check=lambda r: r.gpu_direct is None or r.accelerator_network_profile is not None,
            field_path=".acceleratorNetworkProfile",
            reason="FieldValueRequired",
        ),
        CrossFieldRule(
            id="rule-minimum-capacity-needs-shape",
            cel=(
                "!has(self.minimumCapacity) || !has(self.minimumCapacity.targetNodeCount) ||"
                " has(self.machineType) || has(self.gpu) || has(self.tpu) ||"
                " (has(self.reservations) && self.reservations.affinity == 'Specific')"
            ),
            message=(
                "minimumCapacity on a rule needs machineType, gpu, tpu or a Specific"
                " reservation so the node shape is known; add one"
            ),
            check=lambda r: (
                r.minimum_capacity is None
                or r.minimum_capacity.target_node_count is None
                or r.machine_type is not None
                or r.gpu is not None
                or r.tpu is not None
                or (r.reservations is not None and r.reservations.affinity == "Specific")
            ),
            field_path=".minimumCapacity",
        ),
        CrossFieldRule(
            id="gpu-topology-needs-gb200-and-placement",
            cel=(
                "!has(self.gpu) || !has(self.gpu.topology) || (((has(self.machineFamily) &&"
                " self.machineFamily == 'a4x') || (has(self.gpu.type) && self.gpu.type =="
                " 'nvidia-gb200')) && has(self.placement))"
            ),
            message=(
                "gpu.topology is only for machine family a4x or gpu type nvidia-gb200 and needs"
                " placement.policyName; remove it or add both"
            ),
            check=lambda r: (
                r.gpu is None
                or r.gpu.topology is None
                or (
                    (r.machine_family == "a4x" or r.gpu.type == "nvidia-gb200")
                    and r.placement is not None
                )
            ),
            field_path=".gpu.topology",
        ),
        CrossFieldRule(
            id="pod-family-only-with-spot",
            cel=(
                "!has(self.podFamily) || !("
                + " || ".join(
                    f"has(self.{a})" for a in _OTHER_ALIASES if a not in ("podFamily", "spot")
                )
                + ")"
            ),
            message=(
                "a podFamily rule may only also set spot (and priorityScore); remove the other"
                " fields"
            ),
            check=lambda r: (
                r.pod_family is None
                or all(
                    getattr(r, n) is None for n in _OTHER_FIELDS if n not in ("pod_family", "spot")
                )
            ),
            field_path=".podFamily",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="node-labels-not-reserved",
            cel=(
                "!has(self.nodeLabels) || self.nodeLabels.all(k, "
                + " && ".join(f"!k.contains('{d}')" for d in RESERVED_LABEL_DOMAINS)
                + ")"
            ),
            message=(
                "nodeLabels keys may not contain the reserved domains cloud.google.com,"
                " kubernetes.io, gke.io or k8s.io; use your own prefix"
            ),
            check=lambda r: (
                r.node_labels is None
                or not any(d in k for k in r.node_labels for d in RESERVED_LABEL_DOMAINS)
            ),
            field_path=".nodeLabels",
        ),
    ],
)

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
