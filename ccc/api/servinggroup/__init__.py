"""ServingGroup API models (pydantic v2): one model served by interchangeable variants.

Import from here: ``from ccc.api.servinggroup import ServingGroup, Variant, ...``. Built like
the ComputeClass models (:mod:`ccc.api.computeclass`): snake_case attributes, camelCase wire
form, cross-field rules declared once for both ``ccc validate`` and the CRD's CEL
(:func:`ccc.api.crd.serving_group_crd`).
"""

from ccc.api.servinggroup.resource import (
    API_VERSION,
    KIND,
    LWS_WORKER_INDEX_LABEL,
    SERVING_GROUP_LABEL,
    ServingGroup,
    ServingGroupMeta,
    pod_selector,
)
from ccc.api.servinggroup.spec import (
    DEFAULT_OBTAIN_TIMEOUT_S,
    DEFAULT_STABILIZATION_S,
    Preference,
    Rebalance,
    ServingGroupSpec,
    SpareCapacity,
    TargetRef,
    Variant,
)
from ccc.api.servinggroup.status import (
    CAPACITY_MET,
    CONFLICTING,
    DEGRADED,
    ServingGroupStatus,
    VariantState,
    VariantStatus,
)

__all__ = [
    "API_VERSION",
    "CAPACITY_MET",
    "CONFLICTING",
    "DEFAULT_OBTAIN_TIMEOUT_S",
    "DEFAULT_STABILIZATION_S",
    "DEGRADED",
    "KIND",
    "LWS_WORKER_INDEX_LABEL",
    "SERVING_GROUP_LABEL",
    "Preference",
    "Rebalance",
    "ServingGroup",
    "ServingGroupMeta",
    "ServingGroupSpec",
    "ServingGroupStatus",
    "SpareCapacity",
    "TargetRef",
    "Variant",
    "VariantState",
    "VariantStatus",
    "pod_selector",
]
