"""Surge before drain: a drain of a node hosting ServingGroup replicas waits for the group. Pure.

A planned disruption (flex-start expiry, migration) marks its node with ``ccc.dev/disruption``;
the ServingGroup controller then counts the group's Ready replicas on it as disrupted and surges
(more replicas of that variant, or of the next one). The lifecycle drains a node once its pods
fit on Ready nodes, which says nothing about whether the group's surge is Ready: the drain could
evict a replica before its substitute serves, and Ready capacity would dip below
``spec.capacity``.

So every :class:`~policies.commands.Drain` a disruption method proposes passes through
:func:`hold_for_surge`: the pods on the node carry ``ccc.dev/serving-group``, and for each such
group that the ServingGroup controller reads, the drain waits until that controller's last pass
counted this node as disrupted *and* found the group's Ready capacity without it at
``spec.capacity`` (:class:`~policies.snapshot.GroupCover`). Until its first pass, every such
drain waits.

The wait is bounded (design record 026): it ends at ``since + Settings.surge_wait`` (``since``:
when the node was marked), and never later than ``deadline - reserve``, where ``reserve`` is
``Settings.surge_drain_reserve`` or twice the class's ``graceTerminationDuration``, whichever is
longer, so a flex-start node is still drained gracefully before it ends. Past the bound the drain
goes ahead (the node ends anyway; PodDisruptionBudgets still apply) and the wait is no more.
While it holds, the node is reported blocked as ``ServingGroupSurge``.

The surge also *is* the replacement: a replica on an expiring node is demand of the walk (the
lifecycle replaces its pods), and the group's surge replica for the same disruption is pending
demand too. :func:`surge_replaced` pairs them (same group, same pod template, one for one), so
the walk asks for one node for both, not one each; once the group's verdict says its Ready
capacity covers the node, the node's replicas need no room at all (the drain is what is left).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ccc.api.cluster import PodInfo
from ccc.api.labels import SERVING_GROUP_LABEL
from policies.commands import Cause, Command, Drain, WaitUntil
from policies.disruption import DisruptionContext, Proposal
from policies.lifecycle import DrainSettings, Leaving, evictable
from policies.snapshot import ServingCovers

#: The blocked reason of a node whose drain waits for a ServingGroup's surge.
SERVING_GROUP_SURGE = "ServingGroupSurge"


@dataclass(frozen=True, slots=True)
class SurgeHold:
    """A drain that waits: for which groups, until when at the latest, and why (one sentence)."""

    node: str
    groups: tuple[str, ...]
    until: datetime
    reason: str


def groups_on(pods: Sequence[PodInfo]) -> list[str]:
    """``namespace/name`` of the ServingGroups whose replicas run in ``pods`` (sorted)."""
    out = {
        f"{p.namespace}/{p.labels[SERVING_GROUP_LABEL]}"
        for p in pods
        if p.labels.get(SERVING_GROUP_LABEL)
        and not p.deleting
        and p.phase not in ("Succeeded", "Failed")
    }
    return sorted(out)


def hold_until(
    since: datetime,
    deadline: datetime | None,
    *,
    wait: timedelta,
    reserve: timedelta,
) -> datetime:
    """The latest a drain waits for a surge: ``since + wait``, never past ``deadline - reserve``."""
    bound = since + wait
    if deadline is not None:
        bound = min(bound, deadline - reserve)
    return bound


def surge_hold(
    node: str,
    pods: Sequence[PodInfo],
    covers: ServingCovers | None,
    now: datetime,
    *,
    until: datetime,
) -> SurgeHold | None:
    """Whether the drain of ``node`` waits for a ServingGroup's surge now (``None``: it may go).

    ``until`` is the bound (:func:`hold_until`); at or past it the drain goes ahead."""
    if covers is None or now >= until:
        return None
    groups = groups_on(pods)
    if covers.synced:
        waiting = [g for g in groups if g in covers.groups and node not in covers.groups[g].covered]
    else:
        waiting = groups
    if not waiting:
        return None
    names = ", ".join(waiting)
    what = "its surge is" if len(waiting) == 1 else "their surges are"
    reason = (
        f"drain of {node} waits until {what} Ready: Ready capacity of ServingGroup {names}"
        f" without the replicas on {node} does not meet its capacity yet"
        if covers.synced
        else f"drain of {node} waits for the ServingGroup controller's first pass ({names})"
    )
    reason += f"; the drain goes ahead at {until:%Y-%m-%dT%H:%M:%SZ} at the latest"
    return SurgeHold(node=node, groups=tuple(waiting), until=until, reason=reason)


def hold_for_surge(p: Proposal, ctx: DisruptionContext) -> Proposal:
    """``p`` with each :class:`Drain` of a node whose ServingGroups' surge is not Ready replaced
    by a :class:`WaitUntil` at the hold's bound, and the node reported ``ServingGroupSurge``."""
    if ctx.snapshot.serving is None or not any(isinstance(c, Drain) for c in p.commands):
        return p
    settings = ctx.settings
    commands: list[Command] = []
    held: set[str] = set()
    for c in p.commands:
        if not isinstance(c, Drain):
            commands.append(c)
            continue
        facts = ctx.facts.get(c.node)
        progress = facts.progress if facts is not None else None
        since = progress.since if progress is not None and progress.since else ctx.now
        grace = DrainSettings.of(ctx.classes.get(p.class_name or "")).grace_s or 0
        until = hold_until(
            since,
            facts.deadline if facts is not None else None,
            wait=settings.surge_wait,
            reserve=max(settings.surge_drain_reserve, timedelta(seconds=2 * grace)),
        )
        hold = surge_hold(
            c.node, ctx.snapshot.by_node.get(c.node, ()), ctx.snapshot.serving, ctx.now, until=until
        )
        if hold is None:
            commands.append(c)
            continue
        held.add(f"drain of {c.node}")
        commands.append(WaitUntil(hold.until, f"drain of {c.node}", hold.reason, c.cause))
    if not held:
        return p
    # The drain's own retry wake-up goes with the drain: the hold's bound and a change of the
    # group's verdict (which wakes the loop) are what matter now.
    kept = [
        c
        for c in commands
        if not (isinstance(c, WaitUntil) and c.what in held and c.reason == "drain retry")
    ]
    return replace(p, commands=tuple(kept), blocked=p.blocked or SERVING_GROUP_SURGE)


def surge_replaced(
    leaving: Sequence[Leaving],
    by_node: Mapping[str, Sequence[PodInfo]],
    pods: Sequence[PodInfo],
    covers: ServingCovers | None,
) -> list[Leaving]:
    """``leaving`` with the demand of each expiring node less the ServingGroup replicas that
    the group's surge replaces (module docstring): those whose group's verdict covers the node,
    and one per pending replica of the same group and template. The drain of such a node waits
    for the group's verdict (:func:`hold_for_surge`), not for room for those replicas."""
    surge = Counter(
        _replica_key(p) for p in pods if p.pending and not p.deleting and _replica_key(p)
    )
    out: list[Leaving] = []
    for x in leaving:
        demand = list(x.demand)
        if x.cause is Cause.EXPIRY:
            for p in evictable(by_node.get(x.node, ())):
                key = _replica_key(p)
                if key is None or p.compute_class != x.class_name:
                    continue
                verdict = covers.groups.get(f"{key[0]}/{key[1]}") if covers is not None else None
                if p.request() not in demand:
                    continue
                if verdict is not None and x.node in verdict.covered:
                    demand.remove(p.request())
                elif surge[key] > 0:
                    surge[key] -= 1
                    demand.remove(p.request())
        out.append(x if len(demand) == len(x.demand) else replace(x, demand=tuple(demand)))
    return out


def _replica_key(p: PodInfo) -> tuple[object, ...] | None:
    group = p.labels.get(SERVING_GROUP_LABEL)
    return (p.namespace, group, p.request().template_key()) if group else None
