"""ComputeClass API models (pydantic v2), compatible with GKE's ``cloud.google.com/v1`` schema.

Import from here: ``from ccc.api.computeclass import ComputeClass, PriorityRule, ...``.
Attributes are snake_case, the wire form camelCase; dump with ``model_dump(by_alias=True,
exclude_none=True)`` (aliases are the default on output). Cross-field rules live next to the
models (:class:`CrossFieldRule`) and feed both validation and the CRD (:mod:`ccc.api.crd`).
"""

# The *_checks modules register the cross-field rules of PriorityRule and ComputeClassSpec.
from ccc.api.computeclass import rule_checks as _rule_checks  # noqa: F401
from ccc.api.computeclass import spec_checks as _spec_checks  # noqa: F401
from ccc.api.computeclass._base import (
    CROSS_FIELD_ERROR,
    ApiModel,
    CrossFieldRule,
    cross_field_rules,
)
from ccc.api.computeclass.hardware import (
    GpuSharing,
    GpuSpec,
    HostMaintenancePolicy,
    Placement,
    ReservationBlock,
    Reservations,
    ReservationSubBlock,
    SecondaryBootDisk,
    SpecificReservation,
    Storage,
    TaintSpec,
    TpuSpec,
)
from ccc.api.computeclass.meta import Condition, ManagedFieldsEntry, ObjectMeta, OwnerReference
from ccc.api.computeclass.nodepool import NodePoolConfig, NodePoolGroup
from ccc.api.computeclass.nodesystem import (
    HugepageConfig,
    KubeletConfig,
    LinuxNodeConfig,
    NodeSystemConfig,
)
from ccc.api.computeclass.resource import (
    API_VERSION,
    API_VERSIONS,
    GKE_API_VERSION,
    GROUP,
    KIND,
    VERSION,
    ComputeClass,
)
from ccc.api.computeclass.rules import (
    FlexStart,
    Location,
    MinimumCapacity,
    NodeRecycling,
    PriorityRule,
)
from ccc.api.computeclass.spec import (
    ActiveMigration,
    AllocationStrategyDefaults,
    Autopilot,
    AutoscalingPolicy,
    Buffer,
    ComputeClassSpec,
    NetworkConfig,
    NodePoolAutoCreation,
    PriorityDefaults,
)
from ccc.api.computeclass.status import (
    BlockedNodesInfo,
    ComputeClassStatus,
    MigrationStatus,
    PriorityStatus,
    ResourceInfo,
    RulePriorityMigrationStatus,
    ScalingEventsHistory,
    UnavailableOffering,
)

__all__ = [
    "API_VERSION",
    "API_VERSIONS",
    "CROSS_FIELD_ERROR",
    "GKE_API_VERSION",
    "GROUP",
    "KIND",
    "VERSION",
    "ActiveMigration",
    "AllocationStrategyDefaults",
    "ApiModel",
    "Autopilot",
    "AutoscalingPolicy",
    "BlockedNodesInfo",
    "Buffer",
    "ComputeClass",
    "ComputeClassSpec",
    "ComputeClassStatus",
    "Condition",
    "CrossFieldRule",
    "FlexStart",
    "GpuSharing",
    "GpuSpec",
    "HostMaintenancePolicy",
    "HugepageConfig",
    "KubeletConfig",
    "LinuxNodeConfig",
    "Location",
    "ManagedFieldsEntry",
    "MigrationStatus",
    "MinimumCapacity",
    "NetworkConfig",
    "NodePoolAutoCreation",
    "NodePoolConfig",
    "NodePoolGroup",
    "NodeRecycling",
    "NodeSystemConfig",
    "ObjectMeta",
    "OwnerReference",
    "Placement",
    "PriorityDefaults",
    "PriorityRule",
    "PriorityStatus",
    "ReservationBlock",
    "ReservationSubBlock",
    "Reservations",
    "ResourceInfo",
    "RulePriorityMigrationStatus",
    "ScalingEventsHistory",
    "SecondaryBootDisk",
    "SpecificReservation",
    "Storage",
    "TaintSpec",
    "TpuSpec",
    "UnavailableOffering",
    "cross_field_rules",
]
