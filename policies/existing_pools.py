"""Existing node pools in the walk: the pools a ``nodepools`` rule names, and manual pools
that carry the class's label **and** taint and match an intent rule (reference
gke-computeclass.md §3.1: GKE matches intent rules against labelled pools before it creates
any; §3.6: ``nodepools`` rules). Both are scaled, never created; multi-host TPU slices are never
grown. Pure.
"""

from __future__ import annotations

from ccc.api import labels as L
from ccc.api.allocatable import allocatable
from ccc.api.computeclass import ComputeClass
from ccc.api.values import NodePool
from ccc.api.workload import PodRequest
from policies.offering import WalkContext, blocked_reason, price_of, skip
from policies.packing import fits, nodes_needed
from policies.plan import Attempt
from policies.tiers import Tier


def existing_pool_attempt(
    tier: Tier, pool: NodePool, pods: PodRequest, ctx: WalkContext, group: str, *, what: str
) -> Attempt:
    """Scale an existing pool (a ``nodepools`` rule's, or a manual pool labelled for the class
    that matches an intent rule) by the nodes the pods need, or say why not."""
    i = tier.rule_index
    zone = next((z for z in pool.zones if not tier.zones or z in tier.zones), "")
    ct = pool.capacity_type
    machine = ctx.catalog.machine_type(pool.machine_type)
    if machine is None:
        return skip(
            i,
            f"machine type {pool.machine_type} of node pool {pool.name} is not in the catalog, "
            "so ccc cannot size it",
            pods,
            group,
            zone=zone,
            capacity_type=ct,
            machine_type=pool.machine_type,
            node_pool=pool.name,
        )
    topo_name = pool.labels.get(L.GKE_TPU_TOPOLOGY_LABEL)
    topo = machine.topology(topo_name) if topo_name else None
    hosts = topo.hosts if topo is not None else 1
    reason = ""
    if hosts > 1:
        reason = (
            f"node pool {pool.name} is a multi-host TPU slice ({topo_name}); GKE cannot add "
            "nodes to a slice"
        )
    fit = fits(pods, machine, pool.labels, pool.taints, alloc=allocatable(machine))
    reason = reason or fit.reason or blocked_reason(ctx, machine.name, zone, ct)
    if reason:
        return skip(
            i,
            reason,
            pods,
            group,
            zone=zone,
            capacity_type=ct,
            machine=machine,
            node_pool=pool.name,
        )
    n = nodes_needed([(pods, fit.per_node)], machine)
    return Attempt(
        rule=i,
        zone=zone,
        capacity_type=ct,
        machine_type=machine.name,
        node_pool=pool.name,
        accelerator=machine.accelerator,
        nodes=n,
        price_per_hour=price_of(ctx.catalog, machine, zone, ct, n),
        decision="scale",
        reason=f"scale {what} {pool.name} from {pool.node_count} to {pool.node_count + n} nodes "
        f"(rule {i})",
        pods=pods.count,
        group=group,
        target_nodes=pool.node_count + n,
    )


def nodepools_attempts(tier: Tier, pods: PodRequest, ctx: WalkContext, group: str) -> list[Attempt]:
    """A ``nodepools`` rule: scale the named existing pools, in order."""
    out = [
        skip(
            tier.rule_index,
            f"node pool {name} does not exist in the cluster",
            pods,
            group,
            node_pool=name,
        )
        for name in tier.missing_pools
    ]
    out += [
        existing_pool_attempt(tier, p, pods, ctx, group, what="existing node pool")
        for p in tier.existing_pools
    ]
    return out


#: Keys of the class label and taint a manual pool may carry (ccc's and GKE's).
CLASS_TAINT_KEYS = (L.CLASS_LABEL, L.GKE_CLASS_LABEL)


def _carries_class(pool: NodePool, name: str) -> tuple[bool, bool]:
    labelled = name in (pool.labels.get(L.CLASS_LABEL), pool.labels.get(L.GKE_CLASS_LABEL))
    tainted = any(
        t.key in CLASS_TAINT_KEYS and t.value == name and t.effect == "NoSchedule"
        for t in pool.taints
    )
    return labelled, tainted


def manual_pool_attempts(
    cc: ComputeClass, tier: Tier, pods: PodRequest, ctx: WalkContext, group: str
) -> list[Attempt]:
    """Manual (not ccc-created) pools labelled for the class whose machine type, capacity type
    and zone match the rule: GKE scales them before it creates pools (module docstring)."""
    named = {n for r in cc.spec.priorities for n in r.nodepools or []}
    machines = {m.name for m in tier.machines}
    out: list[Attempt] = []
    for pool in sorted(ctx.node_pools, key=lambda p: str(p.name)):
        if pool.managed or str(pool.name) in named or pool.machine_type not in machines:
            continue
        if pool.capacity_type not in tier.capacity_types:
            continue
        if tier.zones and not any(z in tier.zones for z in pool.zones):
            continue
        labelled, tainted = _carries_class(pool, cc.metadata.name)
        if not labelled:
            continue
        if not tainted:
            out.append(
                skip(
                    tier.rule_index,
                    f"manual node pool {pool.name} carries the class label but not the taint "
                    f"{L.GKE_CLASS_LABEL}={cc.metadata.name}:NoSchedule, so it is not part of "
                    "the class; add the taint to use it",
                    pods,
                    group,
                    zone=pool.zones[0] if pool.zones else "",
                    capacity_type=pool.capacity_type,
                    machine_type=pool.machine_type,
                    node_pool=pool.name,
                )
            )
            continue
        out.append(
            existing_pool_attempt(
                tier, pool, pods, ctx, group, what="manual node pool (labelled for the class)"
            )
        )
    return out
