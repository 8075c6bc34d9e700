"""``ComputeClassStatus``: GKE's status fields plus ccc's obtainability memory.

``unavailableOfferings`` is a ccc extension: the offerings (machine type, zone, capacity type)
that recently failed with a stockout or quota error, until when ccc skips them, and why. The
controller keeps it here so the memory survives restarts and users can see it
(``kubectl get computeclass NAME -o yaml``).
"""

from datetime import datetime

from pydantic import Field

from ccc.api.capacity import CapacityType
from ccc.api.computeclass._base import ApiModel, ListType, empty_list
from ccc.api.computeclass.meta import CONDITIONS_LIST, Condition


class ResourceInfo(ApiModel):
    """Capacity of one resource provided by the nodes of a rule."""

    name: str = Field(
        max_length=63,
        description="cpu, memory, ephemeral-storage, nvidia.com/gpu or google.com/tpu.",
    )
    unit: str | None = Field(None, max_length=16, description="Cores, GiB or Cards.")
    target_count: int | None = Field(None, ge=0, description="Amount the rule aims for.")
    current_count: int | None = Field(None, ge=0, description="Amount provided now.")
    current_utilization_percentage: int | None = Field(
        None, ge=0, le=100, description="Share of the current amount requested by pods."
    )
    measured_at: datetime | None = Field(
        strict=False, default=None, description="When this was measured."
    )


class ScalingEventsHistory(ApiModel):
    """Node counts changed by a rule over a recent window."""

    consolidated_nodes_count: int | None = Field(None, ge=0, description="Nodes removed.")
    provisioned_nodes_count: int | None = Field(None, ge=0, description="Nodes created.")
    migrated_nodes_count: int | None = Field(None, ge=0, description="Nodes replaced by migration.")
    measured_at: datetime | None = Field(
        strict=False, default=None, description="End of the window."
    )
    measured_since: datetime | None = Field(
        strict=False, default=None, description="Start of the window."
    )


class PriorityStatus(ApiModel):
    """Observed state of one rule."""

    identifier: str = Field(
        max_length=32,
        description='0-based index of the rule as a string, or "ScaleUpAnyway".',
    )
    conditions: list[Condition] | None = Field(
        None,
        max_length=32,
        json_schema_extra=CONDITIONS_LIST,
        description=(
            "Conditions of the rule, e.g. ProvisioningSuspended, ProvisioningConstrained,"
            " RuleMisconfigured."
        ),
    )
    resource_info: list[ResourceInfo] | None = Field(
        None,
        max_length=16,
        json_schema_extra=ListType.ATOMIC,
        description="Resources of the rule's nodes.",
    )
    scaling_events_history: ScalingEventsHistory | None = Field(
        None, description="Recent scaling of the rule."
    )
    config_hash: str | None = Field(
        None, max_length=128, description="Hash of the rule's configuration."
    )


class UnavailableOffering(ApiModel):
    """ccc's memory of one offering that recently could not be obtained."""

    machine_type: str = Field(max_length=100, description="Machine type, e.g. a3-highgpu-8g.")
    zone: str = Field(
        max_length=63,
        description=(
            "Zone; a region when a regional quota blocked the whole region; global when a quota"
            " of all regions (e.g. GPUS_ALL_REGIONS) blocked every region."
        ),
    )
    capacity_type: CapacityType = Field(
        strict=False, description="reservation, flex-start, spot or on-demand."
    )
    reason: str = Field(
        max_length=128,
        description="Provider error code, e.g. ZONE_RESOURCE_POOL_EXHAUSTED, QUOTA_EXCEEDED.",
    )
    message: str = Field("", max_length=1024, description="Provider message, truncated.")
    failures: int = Field(ge=1, description="Consecutive failures; the backoff grows with it.")
    since: datetime = Field(strict=False, description="First failure of the current streak.")
    until: datetime = Field(
        strict=False, description="ccc skips the offering until this time, then retries it."
    )


class ProvisioningRequest(ApiModel):
    """A node pool create or scale-up ccc asked for whose nodes have not all registered yet."""

    node_pool: str = Field(max_length=100, description="The node pool asked for.")
    machine_type: str = Field(max_length=100, description="Machine type, e.g. a3-highgpu-8g.")
    zone: str = Field(max_length=63, description="Zone of the pool.")
    capacity_type: CapacityType = Field(
        strict=False, description="reservation, flex-start, spot or on-demand."
    )
    rule: int = Field(ge=-1, description="Index of the rule the request serves.")
    nodes: int = Field(ge=0, description="Nodes the request adds.")
    target_nodes: int = Field(ge=0, description="Size of the pool once the request is done.")
    cause: str = Field(
        max_length=32, description="Why: pending, repair, expiry, preemption, migration, ..."
    )
    started_at: datetime = Field(strict=False, description="When ccc sent the request.")
    accepted_at: datetime | None = Field(
        strict=False,
        default=None,
        description="When the provider accepted it (unset while the call runs).",
    )


class CapacityCheck(ApiModel):
    """A capacityCheckWaitTimeSeconds window: the pool's offering is retried, not skipped,
    until it ends."""

    node_pool: str = Field(max_length=100, description="The node pool being retried.")
    since: datetime = Field(strict=False, description="First failure of the window.")
    ends_at: datetime = Field(
        strict=False, description="After this, a failure marks the offering unavailable."
    )


class BlockedNodesInfo(ApiModel):
    """Nodes that cannot migrate now, for one reason."""

    reason: str = Field(
        max_length=64,
        description=(
            "GKE's reason: PodDisruptionBudget, ReplacementUnavailable, MaxNodeDisruptionReached"
            " or RecentMigrationFailure."
        ),
    )
    count: int = Field(ge=0, description="Nodes blocked for this reason.")


class RulePriorityMigrationStatus(ApiModel):
    """``activeMigration.optimizeRulePriority`` progress: every node of the class is counted
    once, as current, migrating or blocked."""

    current_nodes: int = Field(
        ge=0,
        description=(
            "Nodes not subject to migration: on their best priority group, with nothing to move,"
            " or being replaced because of a preemption or flex-start expiry."
        ),
    )
    migrating_nodes: int = Field(
        ge=0, description="Lower-rule nodes moving to a higher rule now (replacement, drain)."
    )
    blocked_nodes: list[BlockedNodesInfo] = Field(
        default_factory=empty_list,
        max_length=16,
        json_schema_extra=ListType.ATOMIC,
        description="Lower-rule nodes that cannot move now, counted by reason.",
    )
    measured_at: datetime | None = Field(
        strict=False, default=None, description="When the counts were taken."
    )


class MigrationStatus(ApiModel):
    """Active migration of the class's nodes (GKE's ``status.migration``; its ``configDrift``
    section is not produced by ccc)."""

    optimize_rule_priority: RulePriorityMigrationStatus | None = Field(
        None, description="Moves of lower-rule nodes to higher rules (ccc extension)."
    )


class ComputeClassStatus(ApiModel):
    """Observed state of the class, written by the controller."""

    conditions: list[Condition] = Field(
        default_factory=empty_list,
        max_length=32,
        json_schema_extra=CONDITIONS_LIST,
        description="Conditions of the class, e.g. Ready; configuration errors surface here.",
    )
    priority_statuses: list[PriorityStatus] | None = Field(
        None,
        max_length=1001,
        json_schema_extra=ListType.ATOMIC,
        description="State of each rule.",
    )
    migration: MigrationStatus | None = Field(
        None,
        description=(
            "Active migration (activeMigration.optimizeRulePriority): current, migrating and"
            " blocked nodes."
        ),
    )
    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation the status was computed from."
    )
    unavailable_offerings: list[UnavailableOffering] | None = Field(
        None,
        max_length=10000,
        json_schema_extra=ListType.ATOMIC,
        description=(
            "ccc extension, the obtainability memory: offerings that recently failed (stockout,"
            " quota) and until when they are skipped."
        ),
    )
    provisioning_requests: list[ProvisioningRequest] | None = Field(
        None,
        max_length=1000,
        json_schema_extra=ListType.ATOMIC,
        description=(
            "ccc extension: node pool requests in flight (sent, or accepted with nodes still to"
            " register). A new leader reads them back, so it neither asks twice nor restarts the"
            " registration timeout."
        ),
    )
    capacity_checks: list[CapacityCheck] | None = Field(
        None,
        max_length=1000,
        json_schema_extra=ListType.ATOMIC,
        description=(
            "ccc extension: open capacityCheckWaitTimeSeconds windows, kept across controller"
            " restarts."
        ),
    )
