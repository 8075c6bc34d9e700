"""Disruption: the methods that take nodes away, in one fixed order, and the arbiter between
them.

Each pass runs the methods in this order, and each only *proposes* (karpenter's disruption
methods, GKE's defrag plugins):

1. :func:`preemption`: spot nodes the cloud is taking away (taints, NotReady, notices);
2. :func:`expiry`: flex-start nodes near their deadline (``nodeRecycling.leadTimeSeconds``);
3. :func:`migration`: nodes of lower rules when a higher rule is obtainable again
   (``activeMigration.optimizeRulePriority``);
4. :func:`consolidation`: empty nodes and pools after the class's consolidation delay.

:func:`arbitrate` then admits proposals in that order: a node claimed by an earlier method is
not touched by a later one; nothing but a preemption or an expiry (the node ends anyway) touches
a node of a pool that carries a pending replacement, is being drained toward, or has a
provisioning request or a provider call outstanding; and budgeted methods stay within the
class's disruption budget (``activeMigration.reconciliationPolicy.maxNodeDisruption``, default
1), counting the nodes already being replaced. Consolidation of empty nodes is not budgeted
(nothing runs on them).

Preemption and expiry never touch a pool's protection guard: they take away only the node that
is leaving (expiry deletes it once drained), never a replacement. Migration's candidates are
picked before the walk (:mod:`policies.migration`: their replacements may only come from
strictly higher rules); :func:`migration` moves them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ccc.api.computeclass import ComputeClass
from ccc.api.values import NodePool
from policies.commands import Cause, Command, Delete, Drain, WaitUntil
from policies.consolidation import plan_scale_down
from policies.inflight import NodeSlot
from policies.lifecycle import (
    DrainSettings,
    Leaving,
    expiry_steps,
    next_recycle_at,
    preemption_steps,
    replace_steps,
)
from policies.migration import Candidate, budget, higher_room
from policies.nodes import NodeFacts
from policies.room import node_usage
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState


@dataclass(frozen=True, slots=True)
class DisruptionContext:
    """Everything a disruption method may read.

    Attributes:
        pools: the provider's pools by name (only when the listing is fresh; else empty).
        facts: per-node facts of class nodes (deadline, signal, rule rank, progress).
        pending_classes: classes with pending pods (absorbed ones included).
        busy_pools: pools other commands of this pass already change.
    """

    now: datetime
    snapshot: ClusterSnapshot
    state: ControllerState
    settings: Settings
    classes: Mapping[str, ComputeClass]
    pools: Mapping[str, NodePool]
    facts: Mapping[str, NodeFacts]
    pending_classes: frozenset[str]
    busy_pools: frozenset[str] = frozenset()
    #: nodes going away (preempted spot, expiring flex-start), in the order they are handled
    leaving: tuple[Leaving, ...] = ()
    #: free room on Ready nodes that stay, after the pending pods took theirs (consumed by
    #: :func:`expiry` in deadline order)
    ready_room: list[NodeSlot] = field(default_factory=list)
    #: classes with pod groups the walk could not serve this pass
    unsatisfied: frozenset[str] = frozenset()
    #: migration candidates admitted this pass (:mod:`policies.migration`), in order
    migrating: tuple[Candidate, ...] = ()


@dataclass(frozen=True, slots=True)
class Proposal:
    """What one method wants done: commands that disrupt ``nodes`` (and remove ``pools``).

    A proposal with no nodes and pools is a wait (its commands are :class:`WaitUntil`)."""

    method: Cause
    class_name: str | None
    nodes: tuple[str, ...]
    pools: tuple[str, ...]
    commands: tuple[Command, ...]
    reason: str
    budgeted: bool = True
    #: why the nodes cannot progress now, in GKE's words (``PodDisruptionBudget``)
    blocked: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A proposal the arbiter turned down, with why (GKE's words where it has them:
    ``MaxNodeDisruptionReached``; ccc's: ``ClaimedByEarlierMethod``, ``ProtectedReplacement``)."""

    proposal: Proposal
    why: str


Method = Callable[[DisruptionContext], Sequence[Proposal]]


def preemption(ctx: DisruptionContext) -> Sequence[Proposal]:
    """Spot nodes with a termination signal (``NodeFacts.signal``): record the replacement and
    cordon them. Not budgeted and not subject to protection (the cloud takes them anyway). The
    ``PREEMPTED`` marks and the replacement's provisioning are decided before the walk
    (:mod:`policies.lifecycle`), so they happen in the pass that first sees the signal."""
    nodes = {n.name: n for n in ctx.snapshot.nodes}
    out: list[Proposal] = []
    for x in ctx.leaving:
        if x.cause is not Cause.PREEMPTION:
            continue
        commands = preemption_steps(x, nodes.get(x.node))
        if commands:
            out.append(
                Proposal(
                    Cause.PREEMPTION, x.class_name, (x.node,), (), commands, "", budgeted=False
                )
            )
    return out


def expiry(ctx: DisruptionContext) -> Sequence[Proposal]:
    """Flex-start nodes whose ``deadline - nodeRecycling.leadTimeSeconds`` has passed, closest
    deadline first: Replace, then Cordon, then Drain once their pods fit on Ready nodes, then
    Delete once empty (:func:`policies.lifecycle.expiry_steps`). Not budgeted: the deadline
    does not wait."""
    nodes = {n.name: n for n in ctx.snapshot.nodes}
    out: list[Proposal] = []
    for x in ctx.leaving:
        node = nodes.get(x.node)
        if x.cause is not Cause.EXPIRY or node is None:
            continue
        steps = expiry_steps(
            x,
            node,
            ctx.ready_room,
            ctx.now,
            drain=DrainSettings.of(ctx.classes.get(x.class_name)),
            last_drain=ctx.state.drains.get(x.node),
        )
        # one provider call per pool at a time: no Delete while a call runs on the pool or
        # another command of this pass (a replacement's Provision) changes it
        busy = ctx.state.calls | ctx.busy_pools
        commands: tuple[Command, ...] = tuple(
            c
            for c in steps.commands
            if not (isinstance(c, Delete) and (c.pool in busy or set(c.nodes) & ctx.state.removed))
        )
        blocked = steps.blocked
        waiting = not any(isinstance(c, Drain | Delete) for c in commands)
        if blocked is None and waiting and x.class_name in ctx.unsatisfied:
            blocked = "ReplacementUnavailable"
        if steps.wake is not None:
            wait = WaitUntil(steps.wake, f"drain of {x.node}", "drain retry", Cause.EXPIRY)
            commands = (*commands, wait)
        out.append(
            Proposal(
                Cause.EXPIRY,
                x.class_name,
                (x.node,),
                (),
                commands,
                "",
                budgeted=False,
                blocked=blocked,
            )
        )
    wake = next_recycle_at(ctx.facts, ctx.classes, ctx.now)
    if wake is not None:
        wait = WaitUntil(wake, "a flex-start node's recycling lead time", "recycle", Cause.EXPIRY)
        out.append(Proposal(Cause.EXPIRY, None, (), (), (wait,), "wait", budgeted=False))
    return out


def migration(ctx: DisruptionContext) -> Sequence[Proposal]:
    """Nodes of lower rules moving to a strictly higher rule, for classes with
    ``activeMigration.optimizeRulePriority`` (:mod:`policies.migration` admitted them and
    provisioned their replacements): once their pods fit on Ready nodes of the target rules
    (consumed from ``ready_room``), Replace, Cordon and Drain; Delete once empty. A new
    candidate is budgeted; one already migrating continues (its budget is taken). A drain that
    PodDisruptionBudgets keep refusing is reported blocked (``PodDisruptionBudget``)."""
    nodes = {n.name: n for n in ctx.snapshot.nodes}
    out: list[Proposal] = []
    for c in ctx.migrating:
        x = c.leaving
        node = nodes.get(x.node)
        if node is None:
            continue
        room = higher_room(ctx.ready_room, c)
        last = ctx.state.drains.get(x.node)
        steps = replace_steps(
            x,
            node,
            room,
            ctx.now,
            drain=DrainSettings.of(ctx.classes.get(x.class_name)),
            last_drain=last,
            reason=f"node {x.node} of rule {c.rule} moves to a preferred rule "
            f"({', '.join(str(r) for r in sorted(c.targets))})",
            early=False,
        )
        commands: tuple[Command, ...] = tuple(
            cmd
            for cmd in steps.commands
            if not (
                isinstance(cmd, Delete)
                and (cmd.pool in ctx.state.calls or x.node in ctx.state.removed)
            )
        )
        blocked = steps.blocked
        if blocked is None and last is not None and last[1] >= 2 and len(x.pods) >= last[2]:
            blocked = "PodDisruptionBudget"  # evictions keep being refused
        if steps.wake is not None:
            commands = (
                *commands,
                WaitUntil(steps.wake, f"drain of {x.node}", "drain retry", Cause.MIGRATION),
            )
        if commands or blocked:
            out.append(
                Proposal(
                    Cause.MIGRATION,
                    x.class_name,
                    (x.node,),
                    (),
                    commands,
                    "",
                    budgeted=not c.in_progress,
                    blocked=blocked,
                )
            )
    return out


def consolidation(ctx: DisruptionContext) -> Sequence[Proposal]:
    """Empty nodes and pools of managed pools after the class's consolidation delay (existing
    behaviour: docs/controller.md). Pools of classes with pending pods are left alone, and so is
    everything while the pool listing is not fresh."""
    if not ctx.settings.scale_down_enabled or not ctx.snapshot.pools_fresh:
        return ()
    managed = {name: p for name, p in ctx.pools.items() if p.managed}
    usage = node_usage(ctx.snapshot.nodes, ctx.snapshot.by_node, managed, ctx.state.empty_since)
    delays = {name: consolidation_delay(cc, ctx.settings) for name, cc in ctx.classes.items()}
    out: list[Proposal] = []
    for d in plan_scale_down(
        list(managed.values()),
        usage,
        now=ctx.now,
        delays=delays,
        pending_classes=ctx.pending_classes,
    ):
        delete = Delete(
            pool=d.pool,
            class_name=d.class_name,
            reason=d.reason,
            cause=Cause.CONSOLIDATION,
            whole_pool=d.delete_pool,
            nodes=() if d.delete_pool else d.nodes,
        )
        out.append(
            Proposal(
                Cause.CONSOLIDATION,
                d.class_name,
                d.nodes,
                (d.pool,) if d.delete_pool else (),
                (delete,),
                d.reason,
                budgeted=False,
            )
        )
    wake = _next_empty_deadline(ctx, usage_delays=delays, managed=managed)
    if wake is not None:
        out.append(
            Proposal(
                Cause.CONSOLIDATION,
                None,
                (),
                (),
                (
                    WaitUntil(
                        at=wake,
                        what="empty nodes reach their consolidation delay",
                        reason="consolidation delay ends",
                        cause=Cause.CONSOLIDATION,
                    ),
                ),
                "wait",
                budgeted=False,
            )
        )
    return out


def _next_empty_deadline(
    ctx: DisruptionContext,
    *,
    usage_delays: Mapping[str, timedelta],
    managed: Mapping[str, NodePool],
) -> datetime | None:
    times: list[datetime] = []
    for node, since in ctx.state.empty_since.items():
        facts = ctx.facts.get(node)
        pool = managed.get(facts.pool or "") if facts is not None else None
        if pool is None:
            continue
        delay = usage_delays.get(pool.class_name or "", ctx.settings.default_consolidation_delay)
        if since + delay > ctx.now:
            times.append(since + delay)
    return min(times) if times else None


def consolidation_delay(cc: ComputeClass, settings: Settings) -> timedelta:
    policy = cc.spec.autoscaling_policy
    minutes = policy.consolidation_delay_minutes if policy is not None else None
    return timedelta(minutes=minutes) if minutes else settings.default_consolidation_delay


#: The fixed order of the methods.
METHODS: tuple[Method, ...] = (preemption, expiry, migration, consolidation)


def protected_pools(ctx: DisruptionContext) -> frozenset[str]:
    """Pools nothing but a preemption may shrink: replacement targets of nodes being replaced
    (they are being drained toward), pools with a request or provider call outstanding, and
    pools other commands of this pass change."""
    out = set(ctx.state.requests) | set(ctx.state.calls) | set(ctx.busy_pools)
    for facts in ctx.facts.values():
        if facts.progress is not None:
            out.update(facts.progress.replacement_pools)
    return frozenset(out)


def arbitrate(
    proposals: Sequence[Proposal], ctx: DisruptionContext
) -> tuple[list[Proposal], list[Rejected]]:
    """Admit proposals in order (see the module docstring)."""
    guarded = protected_pools(ctx)
    claimed: set[str] = set()
    in_progress: dict[str, int] = {}
    for facts in ctx.facts.values():
        if facts.progress is not None and facts.class_name is not None:
            in_progress[facts.class_name] = in_progress.get(facts.class_name, 0) + 1
    accepted: list[Proposal] = []
    rejected: list[Rejected] = []
    for p in proposals:
        pools = set(p.pools) | {
            ctx.facts[n].pool or "" for n in p.nodes if n in ctx.facts and ctx.facts[n].pool
        }
        if claimed & set(p.nodes):
            rejected.append(Rejected(p, "ClaimedByEarlierMethod"))
            continue
        if p.method not in (Cause.PREEMPTION, Cause.EXPIRY) and pools & guarded:
            rejected.append(Rejected(p, "ProtectedReplacement"))
            continue
        if p.budgeted and p.nodes and p.class_name is not None:
            used = in_progress.get(p.class_name, 0)
            if used + len(p.nodes) > budget(ctx.classes.get(p.class_name)):
                rejected.append(Rejected(p, "MaxNodeDisruptionReached"))
                continue
            in_progress[p.class_name] = used + len(p.nodes)
        claimed.update(p.nodes)
        accepted.append(p)
    return accepted, rejected


def disrupt(
    ctx: DisruptionContext, methods: Sequence[Method] = METHODS
) -> tuple[list[Proposal], list[Rejected]]:
    """Run the methods in order and arbitrate their proposals."""
    proposals = [p for method in methods for p in method(ctx)]
    return arbitrate(proposals, ctx)
