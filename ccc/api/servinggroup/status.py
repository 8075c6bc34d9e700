"""``ServingGroupStatus``: what the group serves now, per variant and in total.

The per-variant entries are also the split policy's memory across passes (and controller
restarts): the Ready replicas seen last time (to notice lost replicas), the replicas being
replaced, and since when a variant has been unobtainable or obtainable again
(:mod:`policies.serving` reads and writes them).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import Field

from ccc.api.computeclass import ApiModel, Condition
from ccc.api.computeclass._base import ListType
from ccc.api.computeclass.meta import CONDITIONS_LIST


class VariantState(StrEnum):
    """What a variant is doing for the group."""

    #: Carries its share in preference order.
    PREFERRED = "Preferred"
    #: Carries capacity that belongs to a more preferred variant that cannot provide it now.
    SUBSTITUTING = "Substituting"
    #: Cannot obtain new replicas (its class reports every offering unavailable, or new
    #: replicas stayed Pending past obtainTimeoutSeconds), or waits out stabilization.
    UNOBTAINABLE = "Unobtainable"
    #: Being scaled down, or has replicas on nodes about to be disrupted that are being replaced.
    DRAINING = "Draining"
    #: Not needed: more preferred variants cover the capacity.
    IDLE = "Idle"


#: Condition types of a ServingGroup.
CAPACITY_MET: Final = "CapacityMet"
DEGRADED: Final = "Degraded"
CONFLICTING: Final = "Conflicting"


class VariantStatus(ApiModel):
    """Observed state of one variant."""

    name: str = Field(max_length=63, description="Name of the variant.")
    desired_replicas: int = Field(0, ge=0, description="Replicas ccc sets on the workload.")
    ready_replicas: int = Field(0, ge=0, description="Ready replicas of the workload.")
    disrupted_replicas: int = Field(
        0,
        ge=0,
        description=(
            "Ready replicas on nodes with a planned disruption (flex-start end, migration,"
            " consolidation); covered by new replicas before those nodes drain."
        ),
    )
    replacing_replicas: int = Field(
        0,
        ge=0,
        description=(
            "Replicas lost without notice (preemption, node loss) whose replacements are not"
            " Ready yet; the next variants cover them meanwhile."
        ),
    )
    ready_capacity: float = Field(
        0, ge=0, description="Capacity of the Ready replicas (readyReplicas x capacityPerReplica)."
    )
    state: VariantState = Field(
        VariantState.IDLE,
        strict=False,
        description="Preferred, Substituting, Unobtainable, Draining or Idle.",
    )
    reason: str = Field(
        "", max_length=1024, description="Why the variant is in its state, in a sentence."
    )
    unobtainable_since: datetime | None = Field(
        strict=False,
        default=None,
        description="When the variant last became unobtainable (unset while it can grow).",
    )
    obtainable_since: datetime | None = Field(
        strict=False,
        default=None,
        description=(
            "When an unobtainable variant became obtainable again; capacity moves back"
            " stabilizationSeconds later."
        ),
    )


class ServingGroupStatus(ApiModel):
    """Observed state of the group, written by the controller."""

    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation the status was computed from."
    )
    capacity: int = Field(
        0,
        ge=0,
        description=("Ready capacity rounded down: the scale subresource's status replicas."),
    )
    ready_capacity: float = Field(0, ge=0, description="Capacity of all Ready replicas.")
    desired_capacity: float = Field(
        0,
        ge=0,
        description="Capacity the desired replicas serve once Ready (spare capacity included).",
    )
    selector: str = Field(
        "",
        max_length=4096,
        description=(
            "Label selector (string form) of the pods that serve the group, for the scale"
            " subresource and HPA: the pods labelled ccc.dev/serving-group=NAME, without"
            " LeaderWorkerSet workers (leaders only)."
        ),
    )
    variants: list[VariantStatus] | None = Field(
        None,
        max_length=16,
        json_schema_extra=ListType.map("name"),
        description="State of each variant.",
    )
    conditions: list[Condition] | None = Field(
        None,
        max_length=8,
        json_schema_extra=CONDITIONS_LIST,
        description=(
            "CapacityMet (Ready capacity >= spec.capacity), Degraded (the variants cannot"
            " cover the capacity), Conflicting (another owner, e.g. an HPA, scales a variant's"
            " workload)."
        ),
    )
