"""``ServingGroupSpec``: the serving capacity to keep Ready and the interchangeable variants that
provide it, with the spec-level cross-field rules.

One model, several ways to serve it: each variant points at a workload with a ``/scale``
subresource (a Deployment, StatefulSet or LeaderWorkerSet in the group's namespace) and says how
much capacity one of its replicas serves. Capacity is in the group's own unit (for example
requests/s at the latency SLO); ``spec.capacity`` is an integer because it is the scale
subresource's replica count, so an HPA or ``kubectl scale`` can drive it.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from ccc.api.computeclass import ApiModel, CrossFieldRule
from ccc.api.computeclass._base import ListType, register_rules

MAX_VARIANTS: Final = 16
DNS_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DEFAULT_OBTAIN_TIMEOUT_S: Final = 600
DEFAULT_STABILIZATION_S: Final = 300

Preference = Literal["Order", "Cost"]


class TargetRef(ApiModel):
    """The workload a variant scales, in the group's namespace (like an HPA's
    ``scaleTargetRef``). Any kind with a ``/scale`` subresource works."""

    api_version: str = Field(
        min_length=1,
        max_length=253,
        description="API version of the workload, e.g. apps/v1 or leaderworkerset.x-k8s.io/v1.",
    )
    kind: str = Field(
        min_length=1,
        max_length=63,
        description="Kind of the workload, e.g. Deployment, StatefulSet or LeaderWorkerSet.",
    )
    name: str = Field(
        min_length=1, max_length=253, description="Name of the workload in the group's namespace."
    )


class Variant(ApiModel):
    """One way to serve the model: a workload and what one of its replicas serves."""

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL,
        description="Name of the variant (a DNS label, unique in the group), e.g. v6e or h100.",
    )
    target_ref: TargetRef = Field(description="The workload whose replicas ccc sets via /scale.")
    capacity_per_replica: float = Field(
        gt=0,
        description=(
            "Capacity one Ready replica serves, in the group's unit (one LeaderWorkerSet replica"
            " is one group of pods). Measure it; see docs/serving-groups.md."
        ),
    )
    min_replicas: int = Field(
        0, ge=0, description="Replicas kept even when other variants cover the capacity."
    )
    max_replicas: int | None = Field(
        None,
        ge=0,
        description="Most replicas ccc sets (unset: no limit); capacity beyond moves on.",
    )


class SpareCapacity(ApiModel):
    """Capacity kept Ready on top of ``spec.capacity`` as a hedge against sudden loss."""

    capacity: int = Field(
        ge=0,
        description=(
            "Extra capacity, in the group's unit, split over the variants like the rest."
            " Give the variants' pods a topology spread over zones so that one zone's"
            " preemption cannot take the hedge with it."
        ),
    )


class Rebalance(ApiModel):
    """How fast capacity moves between variants."""

    obtain_timeout_seconds: int = Field(
        DEFAULT_OBTAIN_TIMEOUT_S,
        ge=1,
        le=86400,
        description=(
            "How long new replicas of a variant may stay Pending before their share moves to"
            " the next variant. The share moves at once when the variant's ComputeClass"
            " reports all its offerings unavailable."
        ),
    )
    stabilization_seconds: int = Field(
        DEFAULT_STABILIZATION_S,
        ge=0,
        le=86400,
        description=(
            "How long a more preferred variant must stay obtainable before capacity moves back"
            " to it (surge-first: it is scaled up, and the substitute scaled down only as its"
            " replicas become Ready)."
        ),
    )


class ServingGroupSpec(ApiModel):
    """The capacity to serve and the variants that may serve it, in preference order."""

    capacity: int = Field(
        ge=0,
        description=(
            "Serving capacity to keep Ready, in the group's unit (e.g. requests/s at the SLO)."
            " The scale subresource's replicas: kubectl scale and an HPA set it."
        ),
    )
    capacity_unit: str | None = Field(
        None,
        max_length=64,
        description="Name of the unit, for people and printer columns, e.g. requests/s.",
    )
    variants: list[Variant] = Field(
        min_length=1,
        max_length=MAX_VARIANTS,
        json_schema_extra=ListType.map("name"),
        description="The interchangeable workloads, most preferred first (see preference).",
    )
    preference: Preference = Field(
        "Order",
        description=(
            "Order: variants are preferred in list order. Cost: by lowest price per unit of"
            " capacity (the catalog price of the nodes one replica needs in its class's first"
            " obtainable offering, divided by capacityPerReplica); ties keep list order."
        ),
    )
    spare_capacity: SpareCapacity | None = Field(
        None, description="A hedge kept Ready on top of capacity."
    )
    rebalance: Rebalance | None = Field(
        None, description="Timeouts of shifting and moving back (defaults when unset)."
    )

    @property
    def obtain_timeout_s(self) -> int:
        """``rebalance.obtainTimeoutSeconds`` or its default."""
        return (self.rebalance or Rebalance()).obtain_timeout_seconds

    @property
    def stabilization_s(self) -> int:
        """``rebalance.stabilizationSeconds`` or its default."""
        return (self.rebalance or Rebalance()).stabilization_seconds

    @property
    def spare(self) -> int:
        """``spareCapacity.capacity`` or 0."""
        return self.spare_capacity.capacity if self.spare_capacity else 0


def _unique_targets(spec: ServingGroupSpec) -> bool:
    refs = [(v.target_ref.kind, v.target_ref.name) for v in spec.variants]
    return len(refs) == len(set(refs))


register_rules(
    Variant,
    [
        CrossFieldRule(
            id="min-replicas-within-max",
            cel="!has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
            message="minReplicas is above maxReplicas; set minReplicas at or below maxReplicas",
            check=lambda v: v.max_replicas is None or v.min_replicas <= v.max_replicas,
            field_path=".minReplicas",
        ),
    ],
)

register_rules(
    ServingGroupSpec,
    [
        CrossFieldRule(
            id="variant-names-unique",
            cel="self.variants.all(v, self.variants.exists_one(w, w.name == v.name))",
            message="two variants have the same name; give each variant its own name",
            check=lambda s: len({v.name for v in s.variants}) == len(s.variants),
            field_path=".variants",
            reason="FieldValueDuplicate",
        ),
        CrossFieldRule(
            id="variant-targets-unique",
            cel=(
                "self.variants.all(v, self.variants.exists_one(w,"
                " w.targetRef.kind == v.targetRef.kind && w.targetRef.name == v.targetRef.name))"
            ),
            message=(
                "two variants scale the same workload, so they would fight over its replicas;"
                " give each variant its own workload"
            ),
            check=_unique_targets,
            field_path=".variants",
            reason="FieldValueDuplicate",
        ),
    ],
)
