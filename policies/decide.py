"""The decide step: one pure function from what the controller knows to what it should do.

``decide(snapshot, state, catalog, settings) -> Decision``: commands with reasons, the plans
``ccc plan`` prints, and when to wake next. ``ccc run`` calls it every pass over its informer
caches, ``ccc simulate`` over the in-memory cluster, ``ccc plan`` over files; nothing else
decides. One pass, in order:

1. **Judge** failed provider calls (:mod:`policies.outcomes`): mark offerings unavailable, or
   wait inside a capacity-check window, or pause after a transient error.
2. **Give up** on nodes that never registered; **repair** pools that lost nodes; finish
   interrupted deletes.
3. **Provision**: pending pods, plus the pods of leaving nodes (preempted spot, expiring
   flex-start: :mod:`policies.lifecycle`, with spot offerings marked ``PREEMPTED`` first),
   minus the room on existing and expected nodes (requests in flight included; leaving nodes
   are no room) are walked (:mod:`policies.walk`) with the memory as just updated, so a
   stockout falls back to the next offering in the same pass that learns of it. One request per
   node pool at a time; a pool held by a wait gets none.
   **Migrate** (:mod:`policies.migration`): lower-rule nodes of classes with
   ``optimizeRulePriority`` get replacements walked over strictly higher rules only, within
   the class's budget, after the pending pods took their room.
4. **Disrupt** (:mod:`policies.disruption`): preemption, expiry, migration, consolidation, in
   that order, through one arbiter.
5. **Wake** at the earliest :class:`~policies.commands.WaitUntil`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ccc.api.catalog import Catalog
from ccc.api.values import CapacityType, NodePool, NodePoolStatus
from ccc.api.workload import PodRequest, group_by_template
from policies.commands import Cause, Command, Delete, Provision, WaitUntil, next_wake
from policies.disruption import DisruptionContext, Rejected, disrupt
from policies.inflight import absorb
from policies.lifecycle import (
    leaving_nodes,
    preemption_marks,
    replacement_groups,
    with_marks,
)
from policies.migration import (
    BUDGET,
    MigrationCounts,
    MigrationInputs,
    admit,
    migration_backoffs,
    resume_waits,
    select_candidates,
)
from policies.migration import enabled as migration_enabled
from policies.nodes import node_facts
from policies.obtainability import ObtainabilityMemory
from policies.outcomes import Judged, give_up, judge_failures, repair
from policies.plan import Attempt, GroupPlan, Plan
from policies.room import node_slots
from policies.serving_drain import hold_for_surge, surge_replaced
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState, effective_pools
from policies.tiers import CompiledClass, compile_class
from policies.walk import WalkContext, plan_class


@dataclass(frozen=True, slots=True)
class Decision:
    """What one decide step concluded.

    Attributes:
        commands: what to do, in order (the shell executes them as given).
        plans: the walk of every class with unplaced pending pods (what ``ccc plan`` prints).
        compiled: every valid class, compiled (for status).
        orphans: pending pods that select a class that does not exist, by class name.
        absorbed_existing, absorbed_expected: pending pods covered by free room on existing
            nodes and on requested, not yet registered ones.
        rejected: disruption proposals the arbiter turned down, with why.
        next_wake: when the loop must run again at the latest (``None``: only on events).
    """

    commands: tuple[Command, ...]
    plans: Mapping[str, Plan]
    compiled: Mapping[str, CompiledClass]
    orphans: Mapping[str, Sequence[PodRequest]]
    absorbed_existing: int = 0
    absorbed_expected: int = 0
    rejected: tuple[Rejected, ...] = ()
    next_wake: datetime | None = None
    #: nodes whose replacement or drain cannot progress: ``(class, node, reason)`` with GKE's
    #: reasons (``PodDisruptionBudget``, ``ReplacementUnavailable``)
    blocked: tuple[tuple[str, str, str], ...] = ()
    #: ``status.migration`` of every class with ``optimizeRulePriority``
    migration: Mapping[str, MigrationCounts] = field(default_factory=dict)

    def unsatisfiable(self) -> dict[str, list[GroupPlan]]:
        """Pod groups no rule can serve now, by class."""
        out: dict[str, list[GroupPlan]] = {}
        for name, plan in self.plans.items():
            groups = [g for g in plan.groups if g.chosen is None and g.attempts]
            if groups:
                out[name] = groups
        return out


def pods_by_class(pending: Sequence[PodRequest]) -> dict[str, list[PodRequest]]:
    """Group pending pods by the class they select, merging identical templates."""
    raw: dict[str, list[PodRequest]] = defaultdict(list)
    for p in pending:
        if p.compute_class:
            raw[p.compute_class].append(p)
    return {k: group_by_template(v) for k, v in raw.items()}


def decide(
    snapshot: ClusterSnapshot,
    state: ControllerState,
    catalog: Catalog,
    settings: Settings | None = None,
) -> Decision:
    """Decide everything for one pass (module docstring). Pure; never raises for bad input
    (an unusable class or pod gets reasons, not exceptions)."""
    settings = settings or Settings()
    now = snapshot.now
    listed = [p for p in snapshot.node_pools if p.status is not NodePoolStatus.STOPPING]
    compiled = {
        name: compile_class(
            cc,
            catalog,
            cluster=settings.cluster,
            default_zones=settings.default_zones,
            node_pools=listed,
        )
        for name, cc in snapshot.classes.items()
    }
    judged = judge_failures(state.failures, state, settings, now)
    expected = effective_pools(snapshot, state)
    give_up(snapshot, state, expected, compiled, settings, judged)
    repair(snapshot, state, expected, settings, judged)
    pools = _after_judgement(expected, judged)
    facts = node_facts(snapshot.nodes, compiled, snapshot.notices)
    leaving = leaving_nodes(
        snapshot.nodes,
        snapshot.by_node,
        facts,
        snapshot.classes,
        now,
        not_ready_grace=settings.not_ready_grace,
    )
    marks = preemption_marks(
        leaving,
        {n.name: n for n in snapshot.nodes},
        snapshot.notices,
        {**state.memory, **judged.memory},
        now,
        backoff_s=settings.preemption_backoff_s,
    )
    with_marks(judged.memory, marks, state.memory_of)
    judged.commands.extend(marks)
    gone = frozenset(x.node for x in leaving)
    replacing = replacement_groups(leaving, snapshot)
    leaving = surge_replaced(leaving, snapshot.by_node, snapshot.pods, snapshot.serving)
    backoffs = migration_backoffs(state, judged.commands, now)
    holds = {**state.holds, **{w.hold: w.at for w in backoffs if w.hold is not None}}
    selection = select_candidates(
        snapshot.nodes,
        snapshot.by_node,
        facts,
        snapshot.classes,
        leaving,
        holds,
        now,
    )
    gone |= {c.leaving.node for c in selection.candidates if c.in_progress}
    slots = node_slots(
        snapshot.nodes,
        snapshot.by_node,
        pools,
        catalog,
        now=now,
        not_ready_grace=settings.not_ready_grace,
        leaving=gone,
    )
    absorbed = absorb(
        group_by_template([*snapshot.pending, *(d for x in leaving for d in x.demand)]), slots
    )
    plans, orphans = _walk(
        snapshot, state, catalog, settings, compiled, pools, absorbed.remaining, judged
    )
    commands = list(judged.commands)
    commands.extend(backoffs)
    commands.extend(resume_waits(selection))
    commands.extend(_provision(snapshot, state, settings, plans, compiled, judged, replacing))
    moving = admit(
        selection,
        MigrationInputs(
            snapshot=snapshot,
            catalog=catalog,
            compiled=compiled,
            pools=pools,
            slots=slots,
            memory=lambda cls: judged.memory.get(cls) or state.memory_of(cls),
            max_viable=settings.max_viable,
            provision=lambda plans, why: _provision(
                snapshot, state, settings, plans, compiled, judged, why
            ),
        ),
        commands,
    )
    ready_room = node_slots(
        [n for n in snapshot.nodes if n.ready], snapshot.by_node, (), catalog, now=now, leaving=gone
    )
    absorb(group_by_template(snapshot.pending), ready_room)
    ctx = DisruptionContext(
        now=now,
        snapshot=snapshot,
        state=state,
        settings=settings,
        classes=snapshot.classes,
        pools={str(p.name): p for p in snapshot.node_pools} if snapshot.pools_fresh else {},
        facts=facts,
        pending_classes=frozenset(p.compute_class for p in snapshot.pending if p.compute_class)
        | {x.class_name for x in leaving}
        | {c.leaving.class_name for c in moving},
        busy_pools=frozenset(
            judged.touched | {c.pool for c in commands if isinstance(c, Provision)}
        ),
        leaving=tuple(leaving),
        migrating=tuple(moving),
        ready_room=ready_room,
        unsatisfied=frozenset(
            name for name, plan in plans.items() if any(g.chosen is None for g in plan.groups)
        ),
    )
    accepted, rejected = disrupt(ctx)
    accepted = [hold_for_surge(p, ctx) for p in accepted]
    blocked: list[tuple[str, str, str]] = []
    held = held_pools(state, judged, now)
    for proposal in accepted:
        # a pool paused after a failed call gets no Delete (its WaitUntil wakes the loop)
        commands.extend(
            c for c in proposal.commands if not (isinstance(c, Delete) and c.pool in held)
        )
        if proposal.blocked is not None and proposal.class_name is not None:
            blocked.extend((proposal.class_name, n, proposal.blocked) for n in proposal.nodes)
    for r in rejected:
        if r.proposal.method is Cause.MIGRATION and r.why == BUDGET:
            selection.blocked.update(
                {n: (r.proposal.class_name or "", BUDGET) for n in r.proposal.nodes}
            )
    for cls, node, why in blocked:
        if node in selection.moving_nodes():
            selection.blocked[node] = (cls, why)
    return Decision(
        commands=tuple(commands),
        plans=plans,
        compiled=compiled,
        orphans=orphans,
        absorbed_existing=absorbed.on_existing,
        absorbed_expected=absorbed.on_expected,
        rejected=tuple(rejected),
        next_wake=next_wake(commands),
        blocked=tuple(blocked),
        migration={
            name: selection.counts(name)
            for name, cc in snapshot.classes.items()
            if migration_enabled(cc)
        },
    )


def _after_judgement(pools: Sequence[NodePool], judged: Judged) -> list[NodePool]:
    """``pools`` with the shrinks and deletions decided this pass applied."""
    out = {str(p.name): p for p in pools}
    for c in judged.commands:
        if isinstance(c, Delete) and c.pool in out:
            if c.whole_pool:
                del out[c.pool]
            elif c.pool_size is not None:
                out[c.pool] = out[c.pool].model_copy(update={"node_count": c.pool_size})
    return list(out.values())


def _walk(
    snapshot: ClusterSnapshot,
    state: ControllerState,
    catalog: Catalog,
    settings: Settings,
    compiled: Mapping[str, CompiledClass],
    pools: Sequence[NodePool],
    remaining: Sequence[PodRequest],
    judged: Judged,
) -> tuple[dict[str, Plan], dict[str, list[PodRequest]]]:
    plans: dict[str, Plan] = {}
    orphans: dict[str, list[PodRequest]] = {}
    for class_name, pods in pods_by_class(remaining).items():
        cc = snapshot.classes.get(class_name)
        if cc is None:
            if class_name not in snapshot.invalid_classes:
                orphans[class_name] = pods
            continue
        ctx = WalkContext(
            catalog=catalog,
            now=snapshot.now,
            memory=judged.memory.get(class_name) or state.memory_of(class_name),
            node_pools=pools,
            reservations=snapshot.reservations,
        )
        plans[class_name] = plan_class(
            cc, compiled[class_name], pods, ctx, max_viable=settings.max_viable
        )
    return plans, orphans


def _uses_reservations(compiled: CompiledClass) -> bool:
    return any(CapacityType.RESERVATION in t.capacity_types for t in compiled.tiers)


def _earliest_retry(memory: ObtainabilityMemory, now: datetime) -> datetime | None:
    active = memory.active(now)
    return active[0].until if active else None


def provisioning_message(attempt: Attempt, after: Sequence[str]) -> str:
    """``provisioning 2 × a3-highgpu-8g spot in us-central1-b (rule 0) after stockout in
    us-central1-a (spot)``: the text of the Provisioning Event and log line."""
    ct = attempt.capacity_type.value if attempt.capacity_type else ""
    text = (
        f"provisioning {attempt.nodes} × {attempt.machine_type} {ct} in {attempt.zone} "
        f"(rule {attempt.rule})"
    )
    if after:
        text += f" after stockout in {', '.join(dict.fromkeys(after))}"
    return text


def held_pools(state: ControllerState, judged: Judged, now: datetime) -> dict[str, datetime]:
    """Pools that get no provider request before the given time: the state's active holds and
    those judged this pass (a failed call's pause). Neither a Provision nor a disruption's
    Delete is issued for them, so a delete the provider refuses is retried after a growing
    pause (:func:`policies.outcomes.retry_pause`), not on every pass."""
    holds = {k: t for k, t in state.holds.items() if t > now}
    for c in judged.commands:
        if isinstance(c, WaitUntil) and c.hold is not None:
            holds[c.hold] = max(c.at, holds.get(c.hold, c.at))
    return holds


def _provision(
    snapshot: ClusterSnapshot,
    state: ControllerState,
    settings: Settings,
    plans: Mapping[str, Plan],
    compiled: Mapping[str, CompiledClass],
    judged: Judged,
    replacing: Mapping[str, Cause] | None = None,
) -> list[Command]:
    """One :class:`Provision` per chosen attempt, at most one per pool, none for a pool with a
    provider call running or a hold; waits where pods cannot be served now."""
    now = snapshot.now
    retry = now + timedelta(seconds=settings.error_retry_s)
    out: list[Command] = []
    wanted = any(g.chosen is not None for plan in plans.values() for g in plan.groups)
    if snapshot.pool_listing == "unknown":
        if wanted:
            out.append(
                WaitUntil(
                    at=retry,
                    what="a first listing of node pools",
                    reason="node pools could not be listed yet; provisioning waits for a listing",
                    cause=Cause.PROVIDER_ERROR,
                )
            )
        return out
    busy = set(state.calls) | judged.touched
    holds = held_pools(state, judged, now)
    for class_name, plan in plans.items():
        if snapshot.reservations_failed and _uses_reservations(compiled[class_name]):
            out.append(
                WaitUntil(
                    at=retry,
                    what=f"reservations of ComputeClass {class_name}",
                    reason="reservations could not be listed; the class waits rather than guess",
                    cause=Cause.PROVIDER_ERROR,
                    class_name=class_name,
                )
            )
            continue
        for g in plan.groups:
            a = g.chosen
            if a is None:
                memory = judged.memory.get(class_name) or state.memory_of(class_name)
                until = _earliest_retry(memory, now)
                if until is not None:
                    out.append(
                        WaitUntil(
                            at=until,
                            what=f"{g.pods} pod(s) of {g.example}",
                            reason="no rule can be satisfied now; retrying when a backoff ends",
                            cause=Cause.PENDING,
                            class_name=class_name,
                        )
                    )
                continue
            # Several pools (TPU slices, BALANCED zones): one provider call per pool.
            parts = a.parts()
            for i, part in enumerate(parts, 1):
                of = f" (pool {i} of {len(parts)})" if len(parts) > 1 else ""
                cause = (replacing or {}).get(g.key, Cause.PENDING)
                out.extend(
                    _provision_part(
                        snapshot, class_name, g, part, of, holds, busy, judged, retry, cause
                    )
                )
    return out


def _provision_part(
    snapshot: ClusterSnapshot,
    class_name: str,
    g: GroupPlan,
    a: Attempt,
    of: str,
    holds: Mapping[str, datetime],
    busy: set[str],
    judged: Judged,
    retry: datetime,
    cause: Cause = Cause.PENDING,
) -> list[Command]:
    """The command for one pool of a chosen attempt: a :class:`Provision`, a wait for a held
    pool or a fresh listing, or nothing while a provider call on the pool runs. ``of`` ends
    the reason (which of several pools this is)."""
    pool = a.node_pool or ""
    what = f"{a.pods or g.pods} pod(s) of {g.example}"
    if pool in holds:
        return [
            WaitUntil(
                at=holds[pool],
                what=what,
                reason=f"node pool {pool} is paused until {holds[pool]:%H:%M:%SZ}",
                cause=Cause.PENDING,
                class_name=class_name,
            )
        ]
    if pool in busy:
        return []  # a provider call on the pool runs (its end wakes the loop)
    if snapshot.pool_listing == "stale" and a.decision == "scale":
        return [
            WaitUntil(
                at=retry,
                what=f"a fresh listing before scaling {pool}",
                reason="node pools could not be listed; a scale-up waits for a fresh size",
                cause=Cause.PROVIDER_ERROR,
                class_name=class_name,
            )
        ]
    busy.add(pool)
    after = judged.after.get(g.key, ())
    return [
        Provision(
            class_name=class_name,
            attempt=a,
            reason=provisioning_message(a, after) + of,
            cause=cause,
            after=after,
        )
    ]
