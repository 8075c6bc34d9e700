"""The attempts of one rule for one group of identical pending pods: new or ccc-created pools.

For a rule that describes nodes, the walk visits, in this order (reference gke-computeclass.md):

1. existing manual pools that carry the class's label **and** taint and match the rule (§3.1:
   GKE matches intent rules against labelled pools before auto-creating any;
   :mod:`policies.existing_pools`);
2. per zone of the rule (or, with ``locationPolicy: BALANCED``, all zones at once): the
   smallest candidate machine type offered in that zone that fits the pods, at the rule's
   capacity type. The pool is scaled when it exists; it is created only when
   ``nodePoolAutoCreation`` is enabled (§2.1). A multi-host TPU demand of ``N`` slices is ``N``
   pools of the topology's host count (§5: a slice pool is atomic).

Reservations (§2.3, §6): ``Specific`` is tried only in its own zones and skipped without a try
when the cloud reports it full; ``AnyBestEffort`` is the rule's own attempt with "a matching
reservation if any" (priced honestly: nodes a listed reservation covers are prepaid, the rest at
the rule's list price). Flex-start for TPUs (§4): single-host slices only, in the zones GKE
lists per TPU type. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ccc.api import labels as L
from ccc.api.catalog import Catalog, MachineType
from ccc.api.computeclass import ComputeClass
from ccc.api.values import CapacityType, NodePool, ReservationCapacity
from ccc.api.workload import PodRequest
from policies.admission import selector_mismatch
from policies.naming import node_pool_name
from policies.nodepool import build_node_pool_spec, node_labels, node_taints
from policies.obtainability import ObtainabilityMemory
from policies.packing import fits, node_allocatable, nodes_needed
from policies.plan import Attempt, Decision, Placement
from policies.tiers import Tier

#: Node labels that differ between offerings of one tier (checked per offering).
VARYING_KEYS = (
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


def price_of(
    catalog: Catalog, machine: MachineType, zone: str, ct: CapacityType, n: int
) -> float | None:
    """List price of ``n`` nodes per hour; a reservation is prepaid, so its marginal price is
    0.0 (docs/plan.md, "Prices")."""
    if ct is CapacityType.RESERVATION:
        return 0.0 if n else None
    p = catalog.price(machine, zone, ct)
    return None if p is None else round(p * n, 4)


def reservation_room(
    tier: Tier, machine: MachineType, zone: str, reservations: Sequence[ReservationCapacity]
) -> tuple[int, str]:
    """Free nodes of the reservations this tier may consume in ``zone``, and their names.

    ``Specific``: the named reservations only. ``Any*``: reservations that do not require
    specific targeting."""
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
        ", ".join(sorted(named)) if named else "any reservation this rule may consume"
    )
    return room, label


def skip(
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


def _nac_reason(cc: ComputeClass) -> str:
    return (
        f"nodePoolAutoCreation is not enabled for class {cc.metadata.name}, so ccc creates no "
        "node pool (it only scales existing ones); set spec.nodePoolAutoCreation.enabled: true"
    )


def blocked_reason(ctx: WalkContext, machine: str, zone: str, ct: CapacityType) -> str:
    entry = ctx.memory.lookup(machine, zone, ct, ctx.now)
    if entry is None:
        return ""
    plural = "s" if entry.failures != 1 else ""
    return (
        f"marked unavailable until {entry.until:%Y-%m-%dT%H:%M:%SZ} after {entry.reason} "
        f"({entry.failures} failure{plural})"
    )


# -- new or ccc-created pools ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pick:
    """The machine type a zone gets for the pods, and how many pods fit on one node."""

    zone: str
    machine: MachineType
    per_node: int


def pick_machine(
    cc: ComputeClass, tier: Tier, pods: PodRequest, zone: str
) -> tuple[Pick | None, str]:
    """The smallest candidate offered in ``zone`` that fits one pod (reason when none)."""
    reason = ""
    for m in tier.machines_in(zone):
        labels = node_labels(cc, tier, m, zone, tier.capacity_types[0])
        f = fits(
            pods,
            m,
            labels,
            node_taints(cc, tier, m),
            alloc=node_allocatable(m, tier.rule),
            ignore_labels=VARYING_KEYS,
        )
        if f.ok:
            return Pick(zone, m, f.per_node), ""
        reason = reason or f.reason
    return None, reason or f"no machine type of the rule is offered in {zone}"


def offering_block(
    cc: ComputeClass, tier: Tier, pick: Pick, ct: CapacityType, pods: PodRequest, ctx: WalkContext
) -> str:
    """Why this offering cannot serve the pods ('' when it can): node selector or affinity on
    zone/capacity labels, TPU flex-start limits, or the obtainability memory."""
    m, zone = pick.machine, pick.zone
    labels = node_labels(cc, tier, m, zone, ct)
    varying = {k: labels[k] for k in VARYING_KEYS if k in labels}
    for k in VARYING_KEYS:
        want = pods.node_selector.get(k)
        if want is not None and varying.get(k) != want:
            return f"pod selects {k}={want}; this offering has {varying.get(k, 'unset')}"
    why = selector_mismatch(pods, labels)
    if why:
        return why
    if ct is CapacityType.FLEX_START and m.is_tpu and m.accelerator is not None:
        if tier.multi_host and tier.tpu_topology is not None:
            return (
                f"flex-start is offered only for single-host TPU slices; topology "
                f"{tier.tpu_topology.topology} spans {tier.hosts_per_slice} hosts"
            )
        allowed = ctx.catalog.flex_start_zones(m.accelerator.type)
        if zone not in allowed:
            where = ", ".join(allowed) if allowed else "no zone"
            return f"GKE offers flex-start for {m.accelerator.type} only in {where}"
    return blocked_reason(ctx, m.name, zone, ct)


def _nodes_for(tier: Tier, pods: PodRequest, pick: Pick) -> int:
    return nodes_needed(
        [(pods, pick.per_node)],
        pick.machine,
        hosts_per_slice=tier.hosts_per_slice,
        alloc=node_allocatable(pick.machine, tier.rule),
    )


@dataclass(frozen=True, slots=True)
class _Sized:
    """Placements of one zone, their price, and a note for the reason."""

    placements: tuple[Placement, ...]
    price: float | None
    note: str = ""


def _placements(
    cc: ComputeClass,
    tier: Tier,
    pick: Pick,
    ct: CapacityType,
    n: int,
    pods: int,
    ctx: WalkContext,
    pools: Mapping[str, NodePool],
    with_spec: bool,
) -> _Sized | str:
    """The pools that add ``n`` nodes for ``pods`` pods in one zone, or why none can."""
    m, zone = pick.machine, pick.zone
    note = ""
    if ct is CapacityType.RESERVATION and ctx.reservations is not None:
        room, label = reservation_room(tier, m, zone, ctx.reservations)
        usable = room - room % tier.hosts_per_slice
        if usable <= 0:
            return f"{label} has no free {m.name} capacity in {zone}"
        if usable < n:
            pods = min(pods, usable * pods // n)
            n, note = usable, f"; {label} has room for {usable} node(s)"
    price = price_of(ctx.catalog, m, zone, ct, n)
    if tier.best_effort_reservation:
        covered = 0
        if ctx.reservations is not None:
            room, label = reservation_room(tier, m, zone, ctx.reservations)
            covered = min(n, room)
        if covered:
            note = f"; {covered} node(s) from reservation {label} (prepaid), the rest {ct.value}"
            price = price_of(ctx.catalog, m, zone, ct, n - covered)
        else:
            note = (
                f"; AnyBestEffort: a matching reservation if one has room (prepaid), else "
                f"{ct.value} inside GCE, priced here as {ct.value}"
            )
    if tier.multi_host:
        if not tier.auto_create:
            return _nac_reason(cc)
        hosts = tier.hosts_per_slice
        slices, k = n // hosts, 0
        out: list[Placement] = []
        per_slice = -(-pods // slices) if slices else 0
        left = pods
        while len(out) < slices:
            name = node_pool_name(
                cc.metadata.name, tier.rule_index, m.name, zone, ct, slice_index=k
            )
            k += 1
            if name in pools:
                continue
            spec = (
                build_node_pool_spec(cc, tier, m, zone, ct, node_count=hosts, slice_index=k - 1)
                if with_spec
                else None
            )
            share = min(left, per_slice)
            left -= share
            out.append(
                Placement(zone, name, hosts, "create", hosts, share, spec, m.name, m.accelerator)
            )
        return _Sized(tuple(out), price, note)
    name = node_pool_name(cc.metadata.name, tier.rule_index, m.name, zone, ct)
    existing = pools.get(name)
    if existing is None and not tier.auto_create:
        return _nac_reason(cc)
    current = existing.node_count if existing is not None else 0
    target = current + n
    spec = build_node_pool_spec(cc, tier, m, zone, ct, node_count=target) if with_spec else None
    decision: Literal["create", "scale"] = "scale" if existing is not None else "create"
    placement = Placement(zone, name, n, decision, target, pods, spec, m.name, m.accelerator)
    return _Sized((placement,), price, note)


def _attempt(
    tier: Tier,
    pick: Pick,
    ct: CapacityType,
    sized: _Sized,
    pods: PodRequest,
    group: str,
    *,
    balanced: bool = False,
) -> Attempt:
    ps = sized.placements
    first = ps[0]
    nodes = sum(p.nodes for p in ps)
    m = pick.machine
    where = f"in {first.zone}"
    machines = list(dict.fromkeys(p.machine_type or m.name for p in ps))
    if balanced:
        per_zone: dict[tuple[str, str], int] = {}
        for p in ps:
            key = (p.zone, p.machine_type or m.name)
            per_zone[key] = per_zone.get(key, 0) + p.nodes
        where = (
            "over "
            + ", ".join(
                f"{z} ({n})" if len(machines) == 1 else f"{z} ({n} x {mt})"
                for (z, mt), n in per_zone.items()
            )
            + (", locationPolicy BALANCED")
        )
    shape = m.name if len(machines) == 1 else "/".join(machines)
    what = f"{nodes} x {shape} {ct.value} {where} (rule {tier.rule_index})"
    if len(ps) > 1 and tier.multi_host:
        what += f" as {len(ps)} slice pool(s) of {tier.hosts_per_slice} hosts"
    if first.decision == "scale" and len(ps) == 1:
        reason = f"scale {first.node_pool} from {first.target_nodes - first.nodes} to "
        reason += f"{first.target_nodes}: {what}"
    else:
        reason = f"create {what}"
    aff = tier.reservation.type if tier.reservation is not None else None
    decision: Decision = "create" if any(p.decision == "create" for p in ps) else "scale"
    return Attempt(
        rule=tier.rule_index,
        zone=first.zone,
        capacity_type=ct,
        machine_type=m.name,
        node_pool=first.node_pool,
        accelerator=m.accelerator,
        nodes=nodes,
        price_per_hour=sized.price,
        decision=decision,
        reason=reason + sized.note,
        pods=pods.count,
        group=group,
        spec=first.spec,
        target_nodes=first.target_nodes,
        wait_s=tier.wait_s,
        placements=ps if len(ps) > 1 else (),
        reservation_affinity=aff,
    )


def zone_attempt(
    cc: ComputeClass,
    tier: Tier,
    pick: Pick,
    ct: CapacityType,
    pods: PodRequest,
    ctx: WalkContext,
    pools: Mapping[str, NodePool],
    group: str,
    *,
    with_spec: bool,
) -> Attempt:
    """One offering: the pick's machine type in its zone at capacity type ``ct``."""
    m, zone = pick.machine, pick.zone
    why = offering_block(cc, tier, pick, ct, pods, ctx)
    sized: _Sized | str = why
    if not why:
        n = _nodes_for(tier, pods, pick)
        sized = _placements(cc, tier, pick, ct, n, pods.count, ctx, pools, with_spec)
    if isinstance(sized, str):
        name = node_pool_name(cc.metadata.name, tier.rule_index, m.name, zone, ct)
        return skip(
            tier.rule_index,
            sized,
            pods,
            group,
            zone=zone,
            capacity_type=ct,
            machine=m,
            node_pool=name,
        )
    return _attempt(tier, pick, ct, sized, pods, group)


def balanced_attempts(
    cc: ComputeClass,
    tier: Tier,
    picks: Sequence[Pick],
    ct: CapacityType,
    pods: PodRequest,
    ctx: WalkContext,
    pools: Mapping[str, NodePool],
    group: str,
    *,
    with_spec: Callable[[], bool],
) -> Iterator[Attempt]:
    """``locationPolicy: BALANCED``: skips for zones that cannot serve, then one attempt that
    spreads the batch's new nodes evenly over the others (units: nodes, or slices)."""
    usable: list[Pick] = []
    for pick in picks:
        why = offering_block(cc, tier, pick, ct, pods, ctx)
        name = node_pool_name(cc.metadata.name, tier.rule_index, pick.machine.name, pick.zone, ct)
        if not why and not tier.auto_create and (tier.multi_host or name not in pools):
            why = _nac_reason(cc)
        if why:
            yield skip(
                tier.rule_index,
                why,
                pods,
                group,
                zone=pick.zone,
                capacity_type=ct,
                machine=pick.machine,
                node_pool=name,
            )
        else:
            usable.append(pick)
    if not usable:
        return
    hosts = tier.hosts_per_slice
    units = _nodes_for(tier, pods, usable[0]) // hosts
    k = min(units, len(usable))
    shares = [units // k + (1 if i < units % k else 0) for i in range(k)]
    placements: list[Placement] = []
    price: float | None = 0.0
    notes: list[str] = []
    left = pods.count
    for j, (pick, share) in enumerate(zip(usable, shares, strict=False)):
        cap = share * hosts * pick.per_node
        count = left if j == k - 1 else min(left, cap)
        left -= count
        if count <= 0:
            continue
        sub = pods.model_copy(update={"count": count})
        n = _nodes_for(tier, sub, pick)
        sized = _placements(cc, tier, pick, ct, n, count, ctx, pools, with_spec())
        if isinstance(sized, str):
            yield skip(tier.rule_index, sized, pods, group, zone=pick.zone, capacity_type=ct)
            continue
        placements.extend(sized.placements)
        price = None if price is None or sized.price is None else round(price + sized.price, 4)
        if sized.note and sized.note not in notes:
            notes.append(sized.note)
    if placements:
        total = _Sized(tuple(placements), price, "".join(notes))
        yield _attempt(tier, usable[0], ct, total, pods, group, balanced=True)
