"""Walk a compiled class for pending pods: which offerings to try, in order, and why others
are skipped.

The result is a :class:`Plan`: for each group of identical pending pods, the ordered list of
:class:`Attempt` values. The first attempt of a group whose decision is not ``skip`` is what the
controller executes now; later ones are the fallbacks it will reach if earlier ones stock out
(each stockout lands in the obtainability memory and the next walk skips that offering). ``ccc
plan`` prints the same list. Every attempt lies in the cluster's region
(:mod:`policies.location`). Per rule, the walk visits manual pools labelled for the class,
then its zones (each with the smallest fitting machine type offered there), then capacity
types (:mod:`policies.offering`). Pure: no I/O, no clock (``now`` is an argument).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from ccc.api.computeclass import ComputeClass
from ccc.api.values import CapacityType, NodePool
from ccc.api.workload import PodRequest
from policies.existing_pools import manual_pool_attempts, nodepools_attempts
from policies.offering import (
    VARYING_KEYS,
    Pick,
    WalkContext,
    balanced_attempts,
    pick_machine,
    skip,
    zone_attempt,
)
from policies.plan import Attempt, GroupPlan, Plan
from policies.tiers import CompiledClass, Tier
from policies.warnings import class_warnings

__all__ = ["SCALE_UP_ANYWAY_RULE", "VARYING_KEYS", "WalkContext", "plan_class", "walk_group"]

SCALE_UP_ANYWAY_RULE = -1


def _tier_zones(tier: Tier, ctx: WalkContext) -> tuple[tuple[str, ...], str]:
    """The zones to try: a Specific reservation without ``zones`` is tried where the cloud
    lists it (all candidate zones of the region when the listing is unknown)."""
    if not tier.reservation_zones_from_listing or ctx.reservations is None:
        return tier.zones, ""
    named = {r.name for r in tier.reservation.reservations} if tier.reservation else set()
    listed = [r for r in ctx.reservations if r.name in named]
    zones = tuple(dict.fromkeys(r.zone for r in listed if r.zone in tier.zones))
    if zones:
        return zones, ""
    where = ", ".join(sorted({r.zone for r in listed}))
    return (), (
        f"reservation {', '.join(sorted(named))} is not listed in the cluster's region"
        + (f" (it is in {where})" if where else "")
    )


def _rule_attempts(
    cc: ComputeClass,
    tier: Tier,
    pods: PodRequest,
    ctx: WalkContext,
    pools: dict[str, NodePool],
    group: str,
    first_viable: list[bool],
) -> Iterator[Attempt]:
    """Every attempt of one rule, in walk order (see the module docstring)."""
    i = tier.rule_index
    if tier.rule.nodepools:
        yield from nodepools_attempts(tier, pods, ctx, group)
        return
    yield from manual_pool_attempts(cc, tier, pods, ctx, group)
    zones, why = _tier_zones(tier, ctx)
    if not zones:
        name = tier.machines[0].name if tier.machines else None
        yield skip(
            i,
            why or "no zone of the cluster offers this machine type",
            pods,
            group,
            machine_type=name,
        )
        return
    picks: list[Pick] = []
    reasons: list[tuple[str, str]] = []
    cache: dict[tuple[str, ...], Pick | str] = {}
    for zone in zones:
        key = tuple(m.name for m in tier.machines_in(zone))
        hit = cache.get(key)
        if hit is None:
            pick, reason = pick_machine(cc, tier, pods, zone)
            hit = cache[key] = pick if pick is not None else reason
        if isinstance(hit, Pick):
            picks.append(replace(hit, zone=zone))
        else:
            reasons.append((zone, hit))
    if not picks:
        yield skip(i, reasons[0][1], pods, group, machine_type=tier.machines[0].name)
        return
    for zone, reason in reasons:
        yield skip(
            i,
            f"no candidate machine type offered in {zone} fits the pods: {reason}",
            pods,
            group,
            zone=zone,
        )
    if tier.balanced and len(picks) > 1:
        for ct in tier.capacity_types:
            yield from balanced_attempts(
                cc, tier, picks, ct, pods, ctx, pools, group, with_spec=lambda: first_viable[0]
            )
        return
    for pick in picks:
        for ct in tier.capacity_types:
            yield zone_attempt(
                cc, tier, pick, ct, pods, ctx, pools, group, with_spec=first_viable[0]
            )


def walk_group(
    cc: ComputeClass,
    compiled: CompiledClass,
    pods: PodRequest,
    ctx: WalkContext,
    *,
    max_viable: int | None = None,
) -> GroupPlan:
    """The ordered attempts for one group of identical pending pods.

    Args:
        max_viable: stop after this many non-skip attempts (the controller needs only the
            first; ``ccc plan`` lists every fallback with ``None``).
    """
    group = pods.group_id()
    attempts: list[Attempt] = []
    pools = {str(p.name): p for p in ctx.node_pools}
    tiers = {t.rule_index: t for t in compiled.tiers}
    first_viable = [True]
    viable = 0
    for rule_index in compiled.order:
        tier = tiers.get(rule_index)
        if tier is None:
            batch: Iterator[Attempt] = iter(
                [
                    skip(rule_index, f"{p.path}: {p.message}", pods, group)
                    for p in compiled.problems_for(rule_index)
                ]
            )
        else:
            batch = _rule_attempts(cc, tier, pods, ctx, pools, group, first_viable)
        for a in batch:
            attempts.append(a)
            if a.decision != "skip":
                viable += 1
                first_viable[0] = False
                if max_viable is not None and viable >= max_viable:
                    break
        if max_viable is not None and viable >= max_viable:
            break
    if viable == 0 and compiled.when_unsatisfiable == "ScaleUpAnyway":
        attempts.append(_scale_up_anyway(pods, group))
    return GroupPlan(
        key=group, pods=pods.count, example=pods.name, attempts=tuple(_label_fallbacks(attempts))
    )


def _label_fallbacks(attempts: Sequence[Attempt]) -> list[Attempt]:
    """Prefix reasons: the first viable attempt is what happens now, later ones are fallbacks."""
    out: list[Attempt] = []
    k = 0
    for a in attempts:
        if a.decision != "skip":
            prefix = "first choice: " if k == 0 else f"fallback {k}, if earlier attempts fail: "
            a = replace(a, reason=prefix + a.reason)
            k += 1
        out.append(a)
    return out


def _scale_up_anyway(pods: PodRequest, group: str) -> Attempt:
    """GKE's ScaleUpAnyway creates a default E2 node; ccc records the step but creates nothing
    outside the class's rules (docs/design/006-when-unsatisfiable.md)."""
    if pods.gpus or pods.tpus:
        reason = (
            "whenUnsatisfiable=ScaleUpAnyway: the default E2 shape has no accelerators, so "
            "it cannot run these pods; they stay Pending"
        )
    else:
        reason = (
            "whenUnsatisfiable=ScaleUpAnyway: GKE would create a default E2 node; ccc does "
            "not create nodes outside the class's rules, so the pods stay Pending"
        )
    return skip(
        SCALE_UP_ANYWAY_RULE,
        reason,
        pods,
        group,
        machine_type="e2-standard-4",
        capacity_type=CapacityType.ON_DEMAND,
    )


def plan_class(
    cc: ComputeClass,
    compiled: CompiledClass,
    pending: Sequence[PodRequest],
    ctx: WalkContext,
    *,
    max_viable: int | None = None,
) -> Plan:
    """Walk ``compiled`` for every group of ``pending`` pods (pods should select the class)."""
    groups = tuple(walk_group(cc, compiled, p, ctx, max_viable=max_viable) for p in pending)
    return Plan(
        class_name=cc.metadata.name,
        groups=groups,
        outcome=_outcome(cc, groups),
        warnings=class_warnings(cc, compiled),
        cluster=compiled.cluster,
    )


_SCALE_UP_ANYWAY_OUTCOME = (
    "whenUnsatisfiable=ScaleUpAnyway: GKE would add a default E2 node, but ccc creates no node"
    " outside the class's rules (docs/design/006), records an Unsatisfiable event, and the pods"
    " stay Pending"
)


def _shape(a: Attempt) -> str:
    """``N x MACHINE CAPACITY in ZONE``; for an attempt over several zones (BALANCED) every
    zone, and every machine type when its zones got different ones."""
    ps = a.all_placements()  # never empty: a chosen attempt has a pool
    zones = list(dict.fromkeys(p.zone for p in ps))
    shape = "/".join(dict.fromkeys(str(p.machine_type) for p in ps))
    where = f"in {zones[0]}" if len(zones) == 1 else "over " + ", ".join(zones)
    return f"{a.nodes} x {shape} {a.capacity_type} {where}"


def _outcome(cc: ComputeClass, groups: Sequence[GroupPlan]) -> str:
    if not groups:
        return "no pending pods select this class: nothing to do"
    parts: list[str] = []
    for g in groups:
        chosen = g.chosen
        fallbacks = sum(1 for a in g.attempts if a.decision != "skip") - (1 if chosen else 0)
        if chosen is None:
            if cc.spec.when_unsatisfiable == "ScaleUpAnyway":
                parts.append(
                    f"{g.pods} pod(s) of {g.example}: no rule can be satisfied; "
                    f"{_SCALE_UP_ANYWAY_OUTCOME}"
                )
            else:
                parts.append(
                    f"{g.pods} pod(s) of {g.example}: no rule can be satisfied; "
                    "whenUnsatisfiable=DoNotScaleUp leaves them Pending"
                )
            continue
        verb = "scale" if chosen.decision == "scale" else "create"
        parts.append(
            f"{g.pods} pod(s) of {g.example}: {verb} {_shape(chosen)} "
            f"(rule {chosen.rule}); {fallbacks} fallback(s) if that stocks out; if all fail, "
            + (
                _SCALE_UP_ANYWAY_OUTCOME
                if cc.spec.when_unsatisfiable == "ScaleUpAnyway"
                else "DoNotScaleUp: pods stay Pending"
            )
        )
    return "; ".join(parts)
