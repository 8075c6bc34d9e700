"""The capacity split of a ServingGroup: how many replicas each variant gets, and why. Pure.

Given the group's spec, what each variant's workload looks like now, the policy's own memory from
the last pass (kept in the group's status, so it survives restarts), prices and ``now``, it
returns one replica target per variant with a state, a cause and a reason. The controller writes
the targets through each workload's ``/scale`` (a ScaleTarget command) and the memory back into
``status.variants``.

The rules (docs/serving-groups.md, design record 014):

1. **Fill the preferred variant first.** Variants are taken in preference order (list order, or
   price per unit of capacity with ``preference: Cost``); each takes what the earlier ones do not
   cover, within its ``minReplicas``/``maxReplicas``. New replicas of an obtainable variant are
   trusted to arrive: later variants do not cover them.
2. **Shift at once what a variant cannot obtain.** A variant is unobtainable when its class
   reports every offering unavailable, or when new replicas stayed Pending for
   ``obtainTimeoutSeconds``. It keeps its Ready replicas, its Pending ones are cancelled, and its
   share goes to the next variants in the same pass.
3. **Compensate lost replicas at once.** Ready replicas that disappear without us scaling down
   (preemption, node loss) are *replacing*: their replacements are not trusted, so the next
   variants cover them until they are Ready.
4. **Move back surge-first.** An unobtainable variant must stay obtainable for
   ``stabilizationSeconds`` before it may grow again. Then it is scaled up, and a substitute is
   scaled down only as far as the Ready capacity of the variants before it allows. A variant is
   never scaled below what Ready capacity elsewhere covers.
5. **Cover planned disruptions first.** Ready replicas on nodes about to be disrupted (flex-start
   end, migration, consolidation) do not count as covering: the variant keeps them and adds as
   many new replicas (surge before drain); if it cannot grow, the next variants cover them.
   ``disruption_covered`` tells the drain when Ready capacity without those replicas still meets
   ``spec.capacity`` (:mod:`policies.serving_drain` holds drains until then).
6. ``spareCapacity.capacity`` is added to ``spec.capacity`` and split like the rest.

Level-triggered and idempotent: under the same observations the targets are the same, and a
variant's target only moves when the capacity that covers it moves (a hold band between what
trusted replicas cover and what Ready replicas cover).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from ccc.api.servinggroup import ServingGroupSpec, Variant, VariantState, VariantStatus

_EPS = 1e-9


class Cause(StrEnum):
    """Why a variant's target is what it is (stable names for Events and metrics)."""

    FILL = "fill"
    STOCKOUT = "stockout"
    PENDING_TIMEOUT = "pending-timeout"
    LOST_REPLICAS = "lost-replicas"
    PLANNED_DISRUPTION = "planned-disruption"
    STABILIZING = "stabilizing"
    MOVE_BACK = "move-back"
    SCALE_DOWN = "scale-down"
    MIN_REPLICAS = "min-replicas"
    STEADY = "steady"


@dataclass(frozen=True, slots=True)
class VariantObservation:
    """What one variant's workload looks like now.

    Attributes:
        replicas: the workload's ``spec.replicas`` (what was last set).
        ready: Ready replicas, terminating ones excluded (an LWS replica is Ready when its
            whole group is).
        pending: replicas created but not Ready yet, terminating ones excluded.
        terminating: replicas being deleted.
        pending_since: creation time of the oldest pending replica (None: none pending).
        offerings_unavailable: the variant's ComputeClass reports every offering unavailable.
        disrupted: Ready replicas on nodes with a planned disruption (flex-start deadline within
            its lead time, migration, consolidation).
        class_name: the variant's ComputeClass, for reasons.
    """

    replicas: int = 0
    ready: int = 0
    pending: int = 0
    terminating: int = 0
    pending_since: datetime | None = None
    offerings_unavailable: bool = False
    disrupted: int = 0
    class_name: str | None = None


@dataclass(frozen=True, slots=True)
class VariantMemory:
    """What the policy remembers of a variant between passes (``status.variants[]``)."""

    ready: int = 0
    disrupted: int = 0
    replacing: int = 0
    unobtainable_since: datetime | None = None
    obtainable_since: datetime | None = None

    @classmethod
    def from_status(cls, status: VariantStatus) -> VariantMemory:
        return cls(
            ready=status.ready_replicas,
            disrupted=status.disrupted_replicas,
            replacing=status.replacing_replicas,
            unobtainable_since=status.unobtainable_since,
            obtainable_since=status.obtainable_since,
        )


@dataclass(frozen=True, slots=True)
class VariantTarget:
    """The decision for one variant: set ``replicas`` on its workload (``previous`` is the
    workload's current value)."""

    name: str
    replicas: int
    previous: int
    state: VariantState
    cause: Cause
    reason: str
    ready_capacity: float
    #: capacity of the replicas that remain once planned disruptions are drained
    desired_capacity: float
    memory: VariantMemory

    @property
    def changed(self) -> bool:
        return self.replicas != self.previous


@dataclass(frozen=True, slots=True)
class Split:
    """The split of a group's capacity over its variants."""

    variants: tuple[VariantTarget, ...]
    #: variant names, most preferred first
    order: tuple[str, ...]
    #: spec.capacity + spare capacity
    target_capacity: float
    desired_capacity: float
    ready_capacity: float
    capacity_met: bool
    degraded: bool
    degraded_reason: str
    disruption_covered: bool
    #: the earliest time at which the split may change without a new observation
    next_check_at: datetime | None = None
    by_name: Mapping[str, VariantTarget] = field(default_factory=dict, compare=False)

    def __getitem__(self, name: str) -> VariantTarget:
        return self.by_name[name]


def preference_order(
    spec: ServingGroupSpec, prices: Mapping[str, float | None] | None = None
) -> list[Variant]:
    """Variants most preferred first: list order, or price per unit of capacity for ``Cost``
    (variants without a price last, ties in list order)."""
    if spec.preference != "Cost":
        return list(spec.variants)
    prices = prices or {}

    def key(indexed: tuple[int, Variant]) -> tuple[bool, float, int]:
        index, variant = indexed
        price = prices.get(variant.name)
        per_unit = price / variant.capacity_per_replica if price is not None else math.inf
        return (price is None, per_unit, index)

    return [v for _, v in sorted(enumerate(spec.variants), key=key)]


def _replicas_for(capacity: float, per_replica: float) -> int:
    return max(0, math.ceil(capacity / per_replica - _EPS)) if capacity > _EPS else 0


def _fmt(capacity: float) -> str:
    return f"{capacity:g}"


@dataclass(slots=True)
class _Shortfall:
    """Capacity an earlier variant could not provide, and why (for the substitutes' reasons)."""

    variant: str
    cause: Cause
    capacity: float


@dataclass(slots=True)
class _Pass:
    spec: ServingGroupSpec
    now: datetime
    target: float
    covered_expected: float = 0.0
    covered_ready: float = 0.0
    ideal_covered: float = 0.0
    shortfalls: list[_Shortfall] = field(default_factory=list)
    wakeups: list[datetime] = field(default_factory=list)


def split(
    spec: ServingGroupSpec,
    observed: Mapping[str, VariantObservation],
    *,
    now: datetime,
    memory: Mapping[str, VariantMemory] | None = None,
    prices: Mapping[str, float | None] | None = None,
) -> Split:
    """Split the group's capacity over its variants.

    Args:
        spec: the group's spec.
        observed: per variant name; a missing variant is observed as empty.
        now: the current time (deadlines and stabilization are measured against it).
        memory: per variant name, from the last pass (``VariantMemory.from_status``).
        prices: price per replica-hour per variant name, for ``preference: Cost``.

    Returns:
        Targets in spec order, with the group's totals and conditions.
    """
    memory = memory or {}
    order = preference_order(spec, prices)
    state = _Pass(spec=spec, now=now, target=float(spec.capacity + spec.spare))
    decided: dict[str, VariantTarget] = {}
    for variant in order:
        obs = observed.get(variant.name, VariantObservation())
        decided[variant.name] = _decide(variant, obs, memory.get(variant.name), state)
    targets = tuple(decided[v.name] for v in spec.variants)
    ready = sum(
        observed.get(v.name, VariantObservation()).ready * v.capacity_per_replica
        for v in spec.variants
    )
    desired = sum(t.desired_capacity for t in targets)
    degraded = desired + _EPS < state.target
    degraded_reason = ""
    if degraded:
        unit = f" {spec.capacity_unit}" if spec.capacity_unit else ""
        degraded_reason = (
            f"the variants can provide {_fmt(desired)} of"
            f" {_fmt(state.target)}{unit}: every other variant is unobtainable or at maxReplicas;"
            " add a variant or raise maxReplicas"
        )
    return Split(
        variants=targets,
        order=tuple(v.name for v in order),
        target_capacity=state.target,
        desired_capacity=desired,
        ready_capacity=ready,
        capacity_met=ready + _EPS >= spec.capacity,
        degraded=degraded,
        degraded_reason=degraded_reason,
        disruption_covered=state.covered_ready + _EPS >= spec.capacity,
        next_check_at=min(state.wakeups) if state.wakeups else None,
        by_name=decided,
    )


def _obtainability(
    obs: VariantObservation, mem: VariantMemory, state: _Pass
) -> tuple[bool, Cause | None, VariantMemory]:
    """Whether the variant may get new replicas now; the cause when it may not."""
    spec, now = state.spec, state.now
    timeout = timedelta(seconds=spec.obtain_timeout_s)
    timed_out = False
    if obs.pending > 0 and obs.pending_since is not None:
        deadline = obs.pending_since + timeout
        timed_out = now >= deadline
        if not timed_out:
            state.wakeups.append(deadline)
    if obs.offerings_unavailable or timed_out:
        cause = Cause.STOCKOUT if obs.offerings_unavailable else Cause.PENDING_TIMEOUT
        since = mem.unobtainable_since or now
        return False, cause, replace(mem, unobtainable_since=since, obtainable_since=None)
    if mem.unobtainable_since is None:
        return True, None, mem
    obtainable_since = mem.obtainable_since or now
    ends = obtainable_since + timedelta(seconds=spec.stabilization_s)
    if now >= ends:
        return True, Cause.MOVE_BACK, replace(mem, unobtainable_since=None, obtainable_since=None)
    state.wakeups.append(ends)
    return False, Cause.STABILIZING, replace(mem, obtainable_since=obtainable_since)


def _decide(
    variant: Variant, obs: VariantObservation, previous: VariantMemory | None, state: _Pass
) -> VariantTarget:
    mem = previous or VariantMemory()
    per = variant.capacity_per_replica
    may_grow, blocked_cause, mem = _obtainability(obs, mem, state)
    safe_ready = max(0, obs.ready - obs.disrupted)

    # Rule 3: Ready replicas that vanished while the workload kept its replicas were lost.
    kept = max(0, obs.replicas - obs.disrupted)
    lost = max(0, min(previous.ready - previous.disrupted, kept) - safe_ready) if previous else 0

    # Rules 1, 2, 4: grow to what trusted capacity leaves uncovered; keep what Ready capacity
    # elsewhere does not cover yet (the hold band that makes moving back surge-first).
    grow_to = _replicas_for(state.target - state.covered_expected, per)
    keep_to = _replicas_for(state.target - state.covered_ready, per)
    needed = max(grow_to, min(kept, keep_to))
    base = needed if may_grow else min(needed, safe_ready)
    base = max(base, variant.min_replicas)
    # Rule 5: keep replicas on disrupted nodes until they drain, on top of the base (surge).
    total = base + obs.disrupted
    if variant.max_replicas is not None:
        base = min(base, variant.max_replicas)
        total = min(total, variant.max_replicas)
    safe_target = max(0, min(base, total - obs.disrupted))

    replacing = min(mem.replacing + lost, max(0, safe_target - safe_ready))
    trusted_new = max(0, safe_target - safe_ready - replacing) if may_grow else 0
    ready_part = min(safe_target, safe_ready)
    # The share this variant would carry if every variant before it were healthy.
    unclamped = _replicas_for(state.target - state.ideal_covered, per)
    ideal = max(variant.min_replicas, unclamped)
    if variant.max_replicas is not None:
        ideal = min(ideal, variant.max_replicas)
    state.ideal_covered += per * ideal
    state.covered_expected += per * (ready_part + trusted_new)
    state.covered_ready += per * ready_part
    missing = per * max(0, ideal - ready_part - trusted_new)
    if missing > _EPS:
        why = blocked_cause if blocked_cause not in (None, Cause.MOVE_BACK) else None
        why = why or (Cause.LOST_REPLICAS if replacing else Cause.PLANNED_DISRUPTION)
        state.shortfalls.append(_Shortfall(variant.name, why, missing))

    mem = replace(mem, ready=obs.ready, disrupted=obs.disrupted, replacing=replacing)
    vstate, cause, reason = _explain(
        variant,
        obs,
        state,
        total=total,
        safe_target=safe_target,
        ideal=ideal,
        blocked_cause=blocked_cause,
        replacing=replacing,
        mem=mem,
        at_min=unclamped < variant.min_replicas,
    )
    return VariantTarget(
        name=variant.name,
        replicas=total,
        previous=obs.replicas,
        state=vstate,
        cause=cause,
        reason=reason,
        ready_capacity=per * obs.ready,
        desired_capacity=per * safe_target,
        memory=mem,
    )


def _explain(
    variant: Variant,
    obs: VariantObservation,
    state: _Pass,
    *,
    total: int,
    safe_target: int,
    ideal: int,
    blocked_cause: Cause | None,
    replacing: int,
    mem: VariantMemory,
    at_min: bool,
) -> tuple[VariantState, Cause, str]:
    """State, cause and a one-sentence reason for one variant's target."""
    kept = min(total, obs.ready)
    keeps = "its share moves to the next variants"
    if kept:
        keeps = (
            f"keeps its {kept} Ready replica(s), the rest of its share moves to the next variants"
        )
    if blocked_cause is Cause.STOCKOUT:
        of_class = f" of ComputeClass {obs.class_name}" if obs.class_name else ""
        return (
            VariantState.UNOBTAINABLE,
            blocked_cause,
            f"every offering{of_class} is unavailable; {keeps}",
        )
    if blocked_cause is Cause.PENDING_TIMEOUT:
        return (
            VariantState.UNOBTAINABLE,
            blocked_cause,
            f"new replicas stayed Pending for {state.spec.obtain_timeout_s}s; {keeps}",
        )
    if blocked_cause is Cause.STABILIZING and mem.obtainable_since is not None:
        at = mem.obtainable_since + timedelta(seconds=state.spec.stabilization_s)
        return (
            VariantState.UNOBTAINABLE,
            blocked_cause,
            f"obtainable again since {_iso(mem.obtainable_since)}; capacity moves back at"
            f" {_iso(at)}",
        )
    if obs.disrupted:
        return (
            VariantState.DRAINING,
            Cause.PLANNED_DISRUPTION,
            f"{obs.disrupted} Ready replica(s) on nodes with a planned disruption; new replicas"
            " come up before those nodes drain",
        )
    if total < obs.replicas:
        return (
            VariantState.DRAINING,
            Cause.SCALE_DOWN,
            f"scaled down {obs.replicas} → {total}: Ready replicas of the variants before it"
            " cover the rest",
        )
    if safe_target > ideal:
        carried = _fmt(variant.capacity_per_replica * (safe_target - ideal))
        first = next(iter(state.shortfalls), None)
        if first is None:
            return (
                VariantState.SUBSTITUTING,
                Cause.STEADY,
                f"holds {carried} of capacity until the new replicas of the variants before it"
                " are Ready (surge-first)",
            )
        grew = total > obs.replicas
        return (
            VariantState.SUBSTITUTING,
            first.cause if grew else Cause.STEADY,
            f"carries {carried} of capacity for {first.variant} ({first.cause.value})",
        )
    if replacing:
        return (
            VariantState.PREFERRED,
            Cause.LOST_REPLICAS,
            f"{replacing} replica(s) lost without notice are being replaced; the next variants"
            " cover them meanwhile",
        )
    if obs.terminating and total <= obs.replicas:
        return (
            VariantState.DRAINING,
            Cause.STEADY,
            f"{obs.terminating} replica(s) terminating; keeps {total} replica(s)",
        )
    if safe_target == 0:
        return VariantState.IDLE, Cause.STEADY, "not needed: the variants before it cover it"
    if at_min and safe_target == variant.min_replicas:
        return VariantState.PREFERRED, Cause.MIN_REPLICAS, f"kept at minReplicas {safe_target}"
    if total > obs.replicas:
        cause = Cause.MOVE_BACK if blocked_cause is Cause.MOVE_BACK else Cause.FILL
        return VariantState.PREFERRED, cause, f"scaled up {obs.replicas} → {total} for its share"
    return VariantState.PREFERRED, Cause.STEADY, f"serves its share with {safe_target} replica(s)"


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def memories(statuses: Sequence[VariantStatus] | None) -> dict[str, VariantMemory]:
    """The policy's memory from ``status.variants`` (empty on a new group)."""
    return {s.name: VariantMemory.from_status(s) for s in statuses or ()}
