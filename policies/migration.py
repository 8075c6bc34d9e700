"""Active migration (``activeMigration.optimizeRulePriority``) as values. Pure.

Nodes of a lower rule move to a strictly higher rule when it is obtainable again, create
before delete, within the class's disruption budget. GKE's rules encoded here
(/work/shared/reference/gke-computeclass.md §2.5, §3.5; lifecycle-and-serving.md A2, A4):

* only classes with ``optimizeRulePriority: true`` migrate; a move must reach a *strictly*
  higher priority group (``priorityScore`` tiers form groups; without scores every rule is its
  own group), never a lower or equal one;
* the replacement is provisioned first; the old node is cordoned and drained only once its
  pods fit on Ready nodes of higher groups, and deleted once empty (PDBs respected: drains
  use the Eviction API);
* at most ``reconciliationPolicy.maxNodeDisruption`` nodes of a class (default 1) are
  disrupted at once, counting nodes already being replaced or drained for any cause;
* a failed migration backs off 5 minutes, and no move goes toward an offering the
  obtainability memory marks unavailable (a stockout or a preemption within its backoff).

ccc chooses which nodes go first deterministically (GKE picks a node group at random): the
lowest-priority nodes first, then those with the fewest pods to move, then by name
(docs/design/025-active-migration.md).

Status: every node of a migrating class is counted exactly once as current, migrating or
blocked (``status.migration``), with GKE's blocked reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ccc.api import labels as L
from ccc.api.catalog import Catalog
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.values import NodePool
from ccc.api.workload import group_by_template
from policies.commands import Cause, Command, Delete, Provision, WaitUntil
from policies.inflight import NodeSlot, absorb
from policies.lifecycle import Leaving, evictable
from policies.nodes import NodeFacts
from policies.obtainability import ObtainabilityMemory
from policies.plan import Plan
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState
from policies.tiers import CompiledClass
from policies.walk import WalkContext, plan_class

#: Back-off after a failed migration (GKE's high-priority-migration plugin: 5 minutes).
MIGRATION_BACKOFF = timedelta(minutes=5)

# GKE's blocked reasons (lifecycle-and-serving.md A4).
PDB = "PodDisruptionBudget"
UNAVAILABLE = "ReplacementUnavailable"
BUDGET = "MaxNodeDisruptionReached"
RECENT_FAILURE = "RecentMigrationFailure"
#: every reason a migration can be blocked for, in the order status lists them
BLOCKED_REASONS = (PDB, UNAVAILABLE, BUDGET, RECENT_FAILURE)


def enabled(cc: ComputeClass | None) -> bool:
    """``spec.activeMigration.optimizeRulePriority``."""
    am = cc.spec.active_migration if cc is not None else None
    return am is not None and am.optimize_rule_priority


def budget(cc: ComputeClass | None) -> int:
    """Nodes of the class that may be disrupted at once by budgeted methods."""
    migration_spec = cc.spec.active_migration if cc is not None else None
    policy = migration_spec.reconciliation_policy if migration_spec is not None else None
    if policy is not None and policy.max_node_disruption:
        return policy.max_node_disruption
    return 1


def rule_group(cc: ComputeClass, rule: int | None) -> int | None:
    """The priority group of ``rule`` (smaller is preferred): minus its ``priorityScore`` when
    the class scores its rules, else the rule index. ``None`` when the rule is unknown."""
    rules = cc.spec.priorities
    if rule is None or not 0 <= rule < len(rules):
        return None
    if any(r.priority_score is not None for r in rules):
        return -(rules[rule].priority_score or 0)
    return rule


def higher_rules(cc: ComputeClass, rule: int) -> frozenset[int]:
    """Rules in a strictly higher priority group than ``rule``'s."""
    group = rule_group(cc, rule)
    if group is None:
        return frozenset()
    return frozenset(
        i
        for i in range(len(cc.spec.priorities))
        if (g := rule_group(cc, i)) is not None and g < group
    )


def hold_key(class_name: str, rule: int) -> str:
    """The hold that backs off migrations of ``class_name`` toward ``rule`` after a failure
    (kept with the pools' holds; no pool name contains ``/``)."""
    return f"migration/{class_name}/{rule}"


def slot_rule(slot: NodeSlot) -> int | None:
    """The rule a node (or expected node) was made for, from its labels."""
    try:
        return int(slot.labels[L.RULE_INDEX_LABEL])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node of a lower rule that should move, and where its pods may go.

    Attributes:
        targets: the strictly higher rules the pods may move to, less those backing off.
        backed_off: higher rules skipped because a migration toward them failed recently.
        in_progress: the node already carries migration progress (annotations).
    """

    leaving: Leaving
    rule: int
    targets: frozenset[int]
    backed_off: frozenset[int]
    in_progress: bool


@dataclass(slots=True)
class Selection:
    """Migration candidates of every class, and the status partition.

    Attributes:
        candidates: nodes already migrating, then lower-rule nodes that may move, in the
            order they are considered (lowest priority first, fewest pods, name).
        used: per class, nodes already being replaced or drained (any cause): the budget
            they take.
        moving: the candidates admitted this pass (set by the decide step).
        blocked: node -> (class, GKE's reason) for lower-rule nodes that cannot move now.
        current: per class, nodes not subject to migration (on their best group, without a
            known rule, with nothing to move, or handled by preemption or expiry).
        resume: per class, when the first hold ends that blocks a node with
            ``RecentMigrationFailure`` (the decide step wakes then: :func:`resume_waits`).
    """

    candidates: list[Candidate] = field(default_factory=list)
    used: dict[str, int] = field(default_factory=dict)
    moving: list[Candidate] = field(default_factory=list)
    blocked: dict[str, tuple[str, str]] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)
    resume: dict[str, datetime] = field(default_factory=dict)

    def moving_nodes(self) -> frozenset[str]:
        return frozenset(c.leaving.node for c in self.moving)

    def counts(self, class_name: str) -> MigrationCounts:
        """The status partition of ``class_name``: current, migrating (admitted and not
        blocked), blocked by reason."""
        reasons: dict[str, int] = {}
        for cls, why in self.blocked.values():
            if cls == class_name:
                reasons[why] = reasons.get(why, 0) + 1
        migrating = sum(
            1
            for c in self.moving
            if c.leaving.class_name == class_name and c.leaving.node not in self.blocked
        )
        return MigrationCounts(
            current=self.current.get(class_name, 0),
            migrating=migrating,
            blocked={r: reasons[r] for r in sorted(reasons, key=_reason_order)},
        )


def _reason_order(reason: str) -> tuple[int, str]:
    known = BLOCKED_REASONS.index(reason) if reason in BLOCKED_REASONS else len(BLOCKED_REASONS)
    return (known, reason)


@dataclass(frozen=True, slots=True)
class MigrationCounts:
    """``status.migration`` of one class: every node of the class counted once."""

    current: int
    migrating: int
    blocked: Mapping[str, int]

    def to_status(self, now: datetime) -> dict[str, object]:
        """The ``status.migration`` body (GKE's field names)."""
        return {
            "currentNodes": self.current,
            "migratingNodes": self.migrating,
            "blockedNodes": [{"reason": r, "count": n} for r, n in self.blocked.items()],
            "measuredAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def select_candidates(
    nodes: Sequence[NodeInfo],
    by_node: Mapping[str, Sequence[PodInfo]],
    facts: Mapping[str, NodeFacts],
    classes: Mapping[str, ComputeClass],
    leaving: Sequence[Leaving],
    holds: Mapping[str, datetime],
    now: datetime,
) -> Selection:
    """The nodes that may migrate, in order (module docstring); budgets are applied by the
    decide step, which knows which candidates can get a replacement.

    ``holds`` are the active holds (:func:`hold_key` entries are migration back-offs). A
    candidate whose only higher rules are backing off is blocked with
    ``RecentMigrationFailure``."""
    out = Selection()
    gone = {x.node for x in leaving}
    new: list[Candidate] = []
    for n in sorted(nodes, key=lambda n: n.name):
        f = facts.get(n.name)
        cc = classes.get(f.class_name) if f is not None and f.class_name else None
        if f is None or f.class_name is None or cc is None or not enabled(cc):
            continue
        cls = f.class_name
        migrating = f.progress is not None and f.progress.cause == Cause.MIGRATION.value
        if f.progress is not None or n.name in gone:
            out.used[cls] = out.used.get(cls, 0) + 1
        if n.name in gone or (f.progress is not None and not migrating):
            out.current[cls] = out.current.get(cls, 0) + 1  # preemption's or expiry's
            continue
        pods = evictable(by_node.get(n.name, []))
        higher = higher_rules(cc, f.rule) if f.rule is not None else frozenset()
        if not migrating and (not higher or not pods or n.deletion_timestamp is not None):
            out.current[cls] = out.current.get(cls, 0) + 1
            continue
        rule = f.rule if f.rule is not None else -1
        backed = frozenset(r for r in higher if holds.get(hold_key(cls, r), now) > now)
        x = Leaving(
            node=n.name,
            class_name=cls,
            cause=Cause.MIGRATION,
            signal=None,
            deadline=None,
            demand=tuple(p.request() for p in pods if p.compute_class == cls),
            pods=tuple((p.namespace, p.name) for p in pods),
            facts=f,
        )
        c = Candidate(x, rule, higher - backed, backed, migrating)
        if migrating:
            out.candidates.append(c)
        elif not c.targets:
            out.blocked[n.name] = (cls, RECENT_FAILURE)
            ends = min(holds[hold_key(cls, r)] for r in backed)
            out.resume[cls] = min(ends, out.resume.get(cls, ends))
        else:
            new.append(c)

    def order(c: Candidate) -> tuple[int, int, str]:
        group = rule_group(classes[c.leaving.class_name], c.rule)
        return (-(group or 0), len(c.leaving.pods), c.leaving.node)

    out.candidates.extend(sorted(new, key=order))
    return out


def higher_room(slots: Sequence[NodeSlot], c: Candidate) -> list[NodeSlot]:
    """The slots of ``c``'s class on nodes of its target rules (room its pods may move to)."""
    cls = c.leaving.class_name
    return [
        s
        for s in slots
        if slot_rule(s) in c.targets
        and cls in (s.labels.get(L.CLASS_LABEL), s.labels.get(L.GKE_CLASS_LABEL))
    ]


def migration_backoffs(
    state: ControllerState, judged: Sequence[Command], now: datetime
) -> list[WaitUntil]:
    """A 5-minute hold per class and target rule whose migration failed: a provider call of a
    migration's replacement that failed, or its nodes given up on (a ``Delete`` among the
    ``judged`` commands of a pool a migration asked for)."""
    failed: list[Provision] = [
        f.command
        for f in state.failures
        if isinstance(f.command, Provision) and f.command.cause is Cause.MIGRATION
    ]
    for c in judged:
        r = state.requests.get(c.pool) if isinstance(c, Delete) else None
        if r is not None and r.cause is Cause.MIGRATION and r.command is not None:
            failed.append(r.command)
    out: dict[str, WaitUntil] = {}
    for p in failed:
        key = hold_key(p.class_name, p.attempt.rule)
        out[key] = WaitUntil(
            at=now + MIGRATION_BACKOFF,
            what=f"migrations of ComputeClass {p.class_name} toward rule {p.attempt.rule}",
            reason=f"a migration failed ({p.reason}); RecentMigrationFailure backs off 5 minutes",
            cause=Cause.MIGRATION,
            class_name=p.class_name,
            hold=key,
        )
    return list(out.values())


def resume_waits(selection: Selection) -> list[WaitUntil]:
    """A wake per class when its first migration hold ends: a node blocked only by holds is
    considered again then, whatever else happens (without it, only an unrelated event would
    wake the loop)."""
    return [
        WaitUntil(
            at=at,
            what=f"migrations of ComputeClass {cls}",
            reason=f"RecentMigrationFailure hold ends at {at:%H:%M:%SZ}",
            cause=Cause.MIGRATION,
            class_name=cls,
        )
        for cls, at in sorted(selection.resume.items())
    ]


@dataclass(frozen=True, slots=True)
class MigrationInputs:
    """What :func:`admit` reads from the decide step.

    Attributes:
        slots: free room on the classes' nodes and expected nodes, after pending and leaving
            pods took theirs (consumed).
        memory: the obtainability memory of a class, as updated this pass.
        provision: the decide step's provisioning of plans (one request per pool, holds,
            waits), with the cause per pod group.
    """

    snapshot: ClusterSnapshot
    catalog: Catalog
    compiled: Mapping[str, CompiledClass]
    pools: Sequence[NodePool]
    slots: Sequence[NodeSlot]
    memory: Callable[[str], ObtainabilityMemory]
    max_viable: int | None
    provision: Callable[[Mapping[str, Plan], Mapping[str, Cause] | None], list[Command]]


def admit(
    selection: Selection, inputs: MigrationInputs, commands: list[Command]
) -> list[Candidate]:
    """Admit migration candidates and provision their replacements on strictly higher rules
    (appended to ``commands``). Nodes already migrating continue; a new candidate is admitted
    when its pods fit on room of its target rules (existing or expected) or the walk over its
    target rules alone finds an obtainable offering, and the class's budget allows; otherwise
    it is blocked (``ReplacementUnavailable``, ``MaxNodeDisruptionReached``). Sets
    ``selection.moving``."""
    snapshot = inputs.snapshot
    taken = {c.pool for c in commands if isinstance(c, Provision)}
    used = dict(selection.used)
    admitted: list[Candidate] = []
    unobtainable: set[tuple[str, frozenset[int], frozenset[tuple[object, int]]]] = set()
    rooms: dict[tuple[str, frozenset[int]], list[NodeSlot]] = {}

    def room_of(c: Candidate) -> list[NodeSlot]:
        key = (c.leaving.class_name, c.targets)
        if key not in rooms:  # the slots are shared: their room is consumed as pods take it
            rooms[key] = higher_room(inputs.slots, c)
        return rooms[key]

    for c in selection.candidates:
        cls = c.leaving.class_name
        cc = snapshot.classes[cls]
        if not c.in_progress and used.get(cls, 0) >= budget(cc):
            selection.blocked[c.leaving.node] = (cls, BUDGET)
            continue
        progress = c.leaving.facts.progress
        draining = progress is not None and progress.drain_started is not None
        remaining = (
            () if draining else absorb(group_by_template(c.leaving.demand), room_of(c)).remaining
        )
        key = (cls, c.targets, frozenset((p.template_key(), p.count) for p in remaining))
        out: list[Command] = []
        if remaining and not c.in_progress and key in unobtainable:
            selection.blocked[c.leaving.node] = (cls, UNAVAILABLE)
            continue
        if remaining and cls in inputs.compiled:
            full = inputs.compiled[cls]
            restricted = replace(
                full, tiers=tuple(t for t in full.tiers if t.rule_index in c.targets)
            )
            ctx = WalkContext(
                catalog=inputs.catalog,
                now=snapshot.now,
                memory=inputs.memory(cls),
                node_pools=inputs.pools,
                reservations=snapshot.reservations,
            )
            plan = plan_class(cc, restricted, list(remaining), ctx, max_viable=inputs.max_viable)
            if any(g.chosen is None for g in plan.groups) and not c.in_progress:
                selection.blocked[c.leaving.node] = (cls, UNAVAILABLE)
                unobtainable.add(key)  # the same pods toward the same rules: walked once
                out = inputs.provision({cls: plan}, None)
                commands.extend(w for w in out if isinstance(w, WaitUntil))
                continue
            out = inputs.provision({cls: plan}, {g.key: Cause.MIGRATION for g in plan.groups})
        for cmd in out:
            if isinstance(cmd, Provision):
                if cmd.pool in taken:
                    continue
                taken.add(cmd.pool)
            commands.append(cmd)
        if not c.in_progress:
            used[cls] = used.get(cls, 0) + 1
        admitted.append(c)
    selection.moving = admitted
    return admitted
