"""Walk a compiled class for pending pods: which offerings to try, in order, and why others
are skipped.

The result is a :class:`Plan`: for each group of identical pending pods, the ordered list of
:class:`Attempt` values. The first attempt of a group whose decision is not ``skip`` is what the
controller executes now; later ones are the fallbacks it will reach if earlier ones stock out
(each stockout lands in the obtainability memory and the next walk skips that offering). ``ccc
plan`` prints the same list. Pure: no I/O, no clock (``now`` is an argument).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from ccc.api import labels as L
from ccc.api.catalog import Catalog, MachineType
from ccc.api.computeclass import ComputeClass
from ccc.api.values import (
    CapacityType,
    NodePool,
    NodePoolSpec,
    ReservationCapacity,
    region_of,
)
from ccc.api.workload import PodRequest
from policies.naming import node_pool_name
from policies.nodepool import build_node_pool_spec, node_labels, node_taints
from policies.obtainability import ObtainabilityMemory
from policies.packing import fits, nodes_needed
from policies.plan import Attempt, Decision, GroupPlan, Plan
from policies.tiers import CompiledClass, Tier

SCALE_UP_ANYWAY_RULE = -1
#: Node labels that differ between offerings of one tier (checked per offering).
_VARYING_KEYS = (
    L.ZONE_LABEL,
    L.REGION_LABEL,
    L.CAPACITY_TYPE_LABEL,
    L.GKE_SPOT_LABEL,
    L.GKE_FLEX_START_LABEL,
)


@dataclass(frozen=True, slots=True)
class WalkContext:
    """Everything the walk reads besides the class and the pods."""

    catalog: Catalog
    now: datetime
    memory: ObtainabilityMemory = field(default_factory=ObtainabilityMemory)
    node_pools: Sequence[NodePool] = ()
    #: ``None`` = unknown (dry run without a cloud): reservations are assumed to have room.
    reservations: Sequence[ReservationCapacity] | None = None
    #: Offerings (pool names) whose capacity check is still running: created/queued at time T.
    waiting_since: Mapping[str, datetime] = field(default_factory=dict)


def _price(
    catalog: Catalog, machine: MachineType, zone: str, ct: CapacityType, n: int
) -> float | None:
    if ct is CapacityType.RESERVATION:
        return 0.0 if n else None  # prepaid: no marginal list price
    p = catalog.price(machine, zone, ct)
    return None if p is None else round(p * n, 4)


def _reservation_room(
    tier: Tier, machine: MachineType, zone: str, reservations: Sequence[ReservationCapacity]
) -> tuple[int, str]:
    aff = tier.reservation
    named = {r.name for r in aff.reservations} if aff is not None else set()
    matching = [
        r
        for r in reservations
        if r.zone == zone
        and r.machine_type == machine.name
        and ((r.name in named) if named else not r.specific_only)
    ]
    room = sum(r.remaining for r in matching)
    label = ", ".join(sorted({r.name for r in matching})) or (
        ", ".join(sorted(named)) if named else "any matching reservation"
    )
    return room, label


def _skip(
    rule: int,
    reason: str,
    pods: PodRequest,
    group: str,
    *,
    zone: str = "",
    capacity_type: CapacityType | None = None,
    machine: MachineType | None = None,
    machine_type: str | None = None,
    node_pool: str | None = None,
) -> Attempt:
    return Attempt(
        rule=rule,
        zone=zone,
        capacity_type=capacity_type,
        machine_type=machine.name if machine is not None else machine_type,
        node_pool=node_pool,
        accelerator=machine.accelerator if machine is not None else None,
        nodes=0,
        price_per_hour=None,
        decision="skip",
        reason=reason,
        pods=pods.count,
        group=group,
    )


def _pool_attempts(tier: Tier, pods: PodRequest, ctx: WalkContext, group: str) -> list[Attempt]:
    """Attempts for a ``nodepools`` rule: scale the named existing pools, in order."""
    i = tier.rule_index
    out = [
        _skip(i, f"node pool {name} does not exist in the cluster", pods, group, node_pool=name)
        for name in tier.missing_pools
    ]
    for pool in tier.existing_pools:
        zone = pool.zones[0] if pool.zones else ""
        ct = pool.capacity_type
        machine = ctx.catalog.machine_type(pool.machine_type)
        if machine is None:
            reason = (
                f"machine type {pool.machine_type} of node pool {pool.name} is not in the "
                "catalog, so ccc cannot size it"
            )
            out.append(
                _skip(
                    i,
                    reason,
                    pods,
                    group,
                    zone=zone,
                    capacity_type=ct,
                    machine_type=pool.machine_type,
                    node_pool=pool.name,
                )
            )
            continue
        fit = fits(pods, machine, pool.labels, pool.taints)
        blocked = ctx.memory.lookup(machine.name, zone, ct, ctx.now)
        reason = fit.reason
        if fit.ok and blocked is not None:
            reason = (
                f"marked unavailable until {blocked.until:%Y-%m-%dT%H:%M:%SZ} after "
                f"{blocked.reason}"
            )
        if reason:
            out.append(
                _skip(
                    i,
                    reason,
                    pods,
                    group,
                    zone=zone,
                    capacity_type=ct,
                    machine=machine,
                    node_pool=pool.name,
                )
            )
            continue
        n = nodes_needed([(pods, fit.per_node)], machine)
        out.append(
            Attempt(
                rule=i,
                zone=zone,
                capacity_type=ct,
                machine_type=machine.name,
                node_pool=pool.name,
                accelerator=machine.accelerator,
                nodes=n,
                price_per_hour=_price(ctx.catalog, machine, zone, ct, n),
                decision="scale",
                reason=f"scale existing node pool {pool.name} from {pool.node_count} to "
                f"{pool.node_count + n} nodes (rule {i})",
                pods=pods.count,
                group=group,
                target_nodes=pool.node_count + n,
            )
        )
    return out


def _pick_machine(
    cc: ComputeClass, tier: Tier, pods: PodRequest
) -> tuple[MachineType | None, int, str]:
    """The first (smallest) machine type of the tier that fits one pod, with pods per node."""
    # Selector keys that vary by zone/capacity type are checked per offering instead.
    static = {k: v for k, v in pods.node_selector.items() if k not in _VARYING_KEYS}
    probe = pods.model_copy(update={"node_selector": static})
    first_reason = ""
    for m in tier.machines:
        z0 = tier.zones[0] if tier.zones else (m.zones[0] if m.zones else "")
        labels = node_labels(cc, tier, m, z0, tier.capacity_types[0])
        f = fits(probe, m, labels, node_taints(cc, tier, m))
        if f.ok:
            return m, f.per_node, ""
        first_reason = first_reason or f.reason
    return None, 0, first_reason or "no machine type fits"


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
    viable = 0

    def add(batch: Sequence[Attempt]) -> bool:
        nonlocal viable
        for a in batch:
            attempts.append(a)
            if a.decision != "skip":
                viable += 1
                if max_viable is not None and viable >= max_viable:
                    return True
        return False

    for rule_index in compiled.order:
        tier = tiers.get(rule_index)
        if tier is None:
            add(
                [
                    _skip(rule_index, f"{p.path}: {p.message}", pods, group)
                    for p in compiled.problems_for(rule_index)
                ]
            )
            continue
        if tier.rule.nodepools:
            if add(_pool_attempts(tier, pods, ctx, group)):
                break
            continue
        machine, per_node, why = _pick_machine(cc, tier, pods)
        if machine is None:
            add(
                [
                    _skip(
                        rule_index,
                        why,
                        pods,
                        group,
                        machine_type=tier.machines[0].name if tier.machines else None,
                    )
                ]
            )
            continue
        if not tier.zones:
            why = "; ".join(p.message for p in compiled.problems_for(rule_index))
            add(
                [
                    _skip(
                        rule_index,
                        why or "no zone offers this machine type",
                        pods,
                        group,
                        machine=machine,
                    )
                ]
            )
            continue
        n = nodes_needed(
            [(pods, per_node)],
            machine,
            hosts_per_slice=tier.hosts_per_slice,
            max_pods=tier.rule.max_pods_per_node,
        )
        done = False
        for zone in tier.zones:
            for ct in tier.capacity_types:
                if add(
                    [
                        _offering_attempt(
                            cc,
                            tier,
                            machine,
                            zone,
                            ct,
                            n,
                            pods,
                            ctx,
                            pools,
                            group,
                            with_spec=viable == 0,
                        )
                    ]
                ):
                    done = True
                    break
            if done:
                break
        if done:
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


def _offering_attempt(
    cc: ComputeClass,
    tier: Tier,
    machine: MachineType,
    zone: str,
    ct: CapacityType,
    n: int,
    pods: PodRequest,
    ctx: WalkContext,
    pools: Mapping[str, NodePool],
    group: str,
    *,
    with_spec: bool = True,
) -> Attempt:
    """One offering. The full :class:`NodePoolSpec` is built only when ``with_spec`` (the
    first viable attempt of a group: the one the controller executes); fallbacks carry the
    pool name and size only, which keeps a full plan of 100k pods cheap."""
    pool_name = node_pool_name(cc.metadata.name, tier.rule_index, machine.name, zone, ct)

    def mk(
        decision: Decision,
        reason: str,
        nodes: int = 0,
        price: float | None = None,
        final: NodePoolSpec | None = None,
        target: int | None = None,
    ) -> Attempt:
        return Attempt(
            rule=tier.rule_index,
            zone=zone,
            capacity_type=ct,
            machine_type=machine.name,
            node_pool=pool_name,
            accelerator=machine.accelerator,
            nodes=nodes,
            price_per_hour=price,
            decision=decision,
            reason=reason,
            pods=pods.count,
            group=group,
            spec=final,
            wait_s=tier.wait_s,
            target_nodes=target,
        )

    varying = _varying_labels(zone, ct)
    for k in _VARYING_KEYS:
        want = pods.node_selector.get(k)
        if want is not None and varying.get(k) != want:
            return mk(
                "skip", f"pod selects {k}={want}; this offering has {varying.get(k, 'unset')}"
            )
    blocked = ctx.memory.lookup(machine.name, zone, ct, ctx.now)
    if blocked is not None:
        plural = "s" if blocked.failures != 1 else ""
        return mk(
            "skip",
            f"marked unavailable until {blocked.until:%Y-%m-%dT%H:%M:%SZ} after "
            f"{blocked.reason} ({blocked.failures} failure{plural})",
        )
    if ct is CapacityType.RESERVATION and ctx.reservations is not None:
        room, label = _reservation_room(tier, machine, zone, ctx.reservations)
        if room <= 0:
            return mk("skip", f"{label} has no free {machine.name} capacity in {zone}")
        n = min(n, room)
    existing = pools.get(pool_name)
    price = _price(ctx.catalog, machine, zone, ct, n)
    what = f"{n} x {machine.name} {ct.value} in {zone} (rule {tier.rule_index})"
    target = n + (existing.node_count if existing is not None else 0)
    spec = None
    if with_spec:
        spec = build_node_pool_spec(cc, tier, machine, zone, ct, node_count=target)
    if existing is not None:
        return mk(
            "scale",
            f"scale {pool_name} from {existing.node_count} to {target}: {what}",
            n,
            price,
            spec,
            target,
        )
    return mk("create", f"create {what}", n, price, spec, target)


def _varying_labels(zone: str, ct: CapacityType) -> dict[str, str]:
    out = {
        L.ZONE_LABEL: zone,
        L.REGION_LABEL: region_of(zone),
        L.CAPACITY_TYPE_LABEL: ct.value,
    }
    if ct is CapacityType.SPOT:
        out[L.GKE_SPOT_LABEL] = "true"
    if ct is CapacityType.FLEX_START:
        out[L.GKE_FLEX_START_LABEL] = "true"
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
    return _skip(
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
    return Plan(class_name=cc.metadata.name, groups=groups, outcome=_outcome(cc, groups))


_SCALE_UP_ANYWAY_OUTCOME = (
    "whenUnsatisfiable=ScaleUpAnyway: GKE would add a default E2 node, but ccc creates no node"
    " outside the class's rules (docs/design/006), records an Unsatisfiable event, and the pods"
    " stay Pending"
)


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
            f"{g.pods} pod(s) of {g.example}: {verb} {chosen.nodes} x {chosen.machine_type} "
            f"{chosen.capacity_type.value if chosen.capacity_type else ''} in {chosen.zone} "
            f"(rule {chosen.rule}); {fallbacks} fallback(s) if that stocks out; if all fail, "
            + (
                _SCALE_UP_ANYWAY_OUTCOME
                if cc.spec.when_unsatisfiable == "ScaleUpAnyway"
                else "DoNotScaleUp: pods stay Pending"
            )
        )
    return "; ".join(parts)
