"""The controller's memory between passes: one immutable :class:`ControllerState`, changed only
by :func:`reduce` from observations and outcomes.

Every field has one writer: this reducer, from the inputs its row names in the table of
:class:`ControllerState`. So there is one place where, for example, the obtainability memory
changes (a :class:`~policies.commands.MarkUnavailable` the decide step issued, or a request that
succeeded), and one set of log keys and metrics for it (emitted by the shell from those same
commands and outcomes). Pure: no I/O, no clock; time comes in with each input.

What must survive a controller restart is persisted by the shell in the cluster and read back
when leadership starts (:meth:`ControllerState.restored`): the obtainability memory, the
provisioning requests and the capacity-check waits in each ComputeClass's status; replacement and
drain progress in node annotations (read from the snapshot every pass, see
:mod:`policies.nodes`). The rest are timers that restart with the leader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from ccc.api.values import (
    GLOBAL_LOCATION,
    CapacityType,
    NodePool,
    NodePoolStatus,
    OfferingKey,
    region_of,
)
from policies.commands import (
    CapacityCheck,
    Cause,
    Command,
    Delete,
    Drain,
    MarkUnavailable,
    Provision,
    WaitUntil,
)
from policies.obtainability import BackoffPolicy, ObtainabilityMemory, Unavailability
from policies.room import empty_nodes, missing_nodes, registered_nodes
from policies.snapshot import ClusterSnapshot

Result = Literal["success", "stockout", "quota", "transient", "permanent"]
#: How long a capacity-check window is remembered after it ended (a failure after that starts a
#: new window).
CHECK_RETENTION = timedelta(minutes=10)
Scope = Literal["zone", "region", "global"]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A provider error as plain data (the shell translates the typed error tree into this)."""

    result: Result
    code: str
    message: str = ""
    scope: Scope = "zone"
    location: str = ""


def mark_key(
    machine_type: str, zone: str, capacity_type: CapacityType, error: ErrorInfo
) -> OfferingKey:
    """The memory key an error blocks: the zone, its region (regional quota) or every region
    (a global quota such as ``GPUS_ALL_REGIONS``; other global errors block the region)."""
    loc = zone
    if error.scope == "region":
        loc = error.location or region_of(zone)
    elif error.scope == "global":
        loc = GLOBAL_LOCATION if error.result in ("stockout", "quota") else region_of(zone)
    return OfferingKey(machine_type=machine_type, zone=loc, capacity_type=capacity_type)


@dataclass(frozen=True, slots=True)
class Request:
    """A provisioning request: from its :class:`Provision` until its nodes registered (or it was
    given up). Persisted in the class's ``status.provisioningRequests``.

    Attributes:
        nodes: nodes the request adds; ``target_nodes``: the pool's size once it is done.
        accepted_at: when the provider call returned successfully (``None`` while it runs, or
            when a restarted leader does not know).
        command: the command that started it (``None`` after a restart).
    """

    pool: str
    class_name: str
    offering: OfferingKey
    rule: int
    nodes: int
    target_nodes: int
    started_at: datetime
    cause: Cause = Cause.PENDING
    accepted_at: datetime | None = None
    after: tuple[str, ...] = ()
    command: Provision | None = None


@dataclass(frozen=True, slots=True)
class Missing:
    """A managed pool with fewer registered nodes than it was asked for: ``count`` nodes missing
    since ``since`` (when the provider accepted the request, if there is one; reset when nodes
    arrive)."""

    since: datetime
    count: int


@dataclass(frozen=True, slots=True)
class Failure:
    """A provider call that failed, waiting for the next decide to judge it."""

    command: Provision | Delete
    error: ErrorInfo
    at: datetime


# -- inputs of the reducer ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observed:
    """A pass looked at the cluster and the provider."""

    snapshot: ClusterSnapshot


@dataclass(frozen=True, slots=True)
class Issued:
    """The shell accepted these commands for execution at ``at``."""

    commands: tuple[Command, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class ProviderDone:
    """A provider call started for ``command`` finished (``error`` is ``None`` on success)."""

    command: Provision | Delete
    at: datetime
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class LateErrors:
    """The provider reported why a pool's requested nodes did not come (newest first)."""

    pool: str
    errors: tuple[ErrorInfo, ...]
    at: datetime


Input = Observed | Issued | ProviderDone | LateErrors


@dataclass(frozen=True, slots=True)
class ControllerState:
    """Everything the controller remembers between passes.

    ==================  =============================================  =====================
    field               written by                                      persisted in
    ==================  =============================================  =====================
    ``memory``          ``Issued`` MarkUnavailable, ``ProviderDone``    class status
                        success, ``Observed`` (prune)
    ``requests``        ``Issued`` Provision, ``ProviderDone``,         class status
                        ``Observed`` (fulfilled / gone), ``Issued``
                        Delete (given up)
    ``calls``           ``Issued`` Provision/Delete, ``ProviderDone``   (running calls)
    ``failures``        ``ProviderDone`` failure, ``Issued`` (judged)   —
    ``holds``           ``Issued`` WaitUntil with a hold, ``Observed``   —
    ``capacity_checks`` ``Issued`` WaitUntil (capacity check),          class status
                        ``Issued`` MarkUnavailable, ``ProviderDone``
    ``missing``         ``Observed``                                    (from requests)
    ``repaired_at``     ``Issued`` Provision (repair)                   —
    ``empty_since``     ``Observed``                                    —
    ``late_errors``     ``LateErrors``, ``Issued`` (judged)             —
    ``drains``          ``Issued`` Drain, ``Observed`` (node gone)      (node annotations)
    ``removed``         ``Issued`` Delete of nodes, ``Observed``        —
    ``delete_failures`` ``ProviderDone`` of a Delete, ``Observed``      —
    ==================  =============================================  =====================
    """

    memory: Mapping[str, ObtainabilityMemory] = field(default_factory=dict)
    requests: Mapping[str, Request] = field(default_factory=dict)
    calls: frozenset[str] = frozenset()
    failures: tuple[Failure, ...] = ()
    holds: Mapping[str, datetime] = field(default_factory=dict)
    capacity_checks: Mapping[str, CapacityCheck] = field(default_factory=dict)
    missing: Mapping[str, Missing] = field(default_factory=dict)
    repaired_at: Mapping[str, datetime] = field(default_factory=dict)
    empty_since: Mapping[str, datetime] = field(default_factory=dict)
    late_errors: Mapping[str, tuple[ErrorInfo, ...]] = field(default_factory=dict)
    #: node -> (when a Drain was last issued, how many were, how many pods it named) for the
    #: drain retry pacing
    drains: Mapping[str, tuple[datetime, int, int]] = field(default_factory=dict)
    #: nodes a Delete was issued for that are still listed (not deleted twice)
    removed: frozenset[str] = frozenset()
    #: pool -> failed Deletes in a row (the pause before the next one doubles with each)
    delete_failures: Mapping[str, int] = field(default_factory=dict)
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)

    @classmethod
    def restored(
        cls,
        *,
        memory: Mapping[str, Iterable[Unavailability]],
        requests: Iterable[Request] = (),
        capacity_checks: Mapping[str, CapacityCheck] | None = None,
        backoff: BackoffPolicy | None = None,
    ) -> ControllerState:
        """The state a new leader starts from, read back from the cluster."""
        policy = backoff or BackoffPolicy()
        return cls(
            memory={name: ObtainabilityMemory.of(e, policy) for name, e in memory.items()},
            requests={r.pool: r for r in requests},
            capacity_checks=dict(capacity_checks or {}),
            backoff=policy,
        )

    def memory_of(self, class_name: str) -> ObtainabilityMemory:
        return self.memory.get(class_name) or ObtainabilityMemory(policy=self.backoff)

    def requests_of(self, class_name: str) -> list[Request]:
        return [r for r in self.requests.values() if r.class_name == class_name]

    def capacity_checks_of(self, class_name: str) -> dict[str, CapacityCheck]:
        return {p: c for p, c in self.capacity_checks.items() if c.class_name == class_name}


def reduce(state: ControllerState, event: Input) -> ControllerState:
    """The only way state changes. Pure."""
    if isinstance(event, Observed):
        return _observed(state, event.snapshot)
    if isinstance(event, Issued):
        return _issued(state, event.commands, event.at)
    if isinstance(event, ProviderDone):
        return _done(state, event)
    return replace(state, late_errors={**state.late_errors, event.pool: event.errors})


def _observed(state: ControllerState, snap: ClusterSnapshot) -> ControllerState:
    now = snap.now
    if snap.pools_fresh:
        state = _pools_observed(state, snap)
    managed = {str(p.name) for p in snap.node_pools if p.managed}
    listed = frozenset(n.name for n in snap.nodes)
    empty = empty_nodes(snap.nodes, snap.by_node, managed)
    return replace(
        state,
        empty_since={n: state.empty_since.get(n, now) for n in empty},
        holds={k: t for k, t in state.holds.items() if t > now},
        capacity_checks={
            k: c for k, c in state.capacity_checks.items() if now < c.ends_at + CHECK_RETENTION
        },
        memory={name: m.prune(now) for name, m in state.memory.items()},
        drains={k: v for k, v in state.drains.items() if k in listed},
        removed=state.removed & listed,
        delete_failures=_still_failing(state, snap),
    )


def _still_failing(state: ControllerState, snap: ClusterSnapshot) -> Mapping[str, int]:
    """Failed-delete counts of pools that are still listed or still held (a fresh listing
    without the pool, once its pause is over, ends the count)."""
    if not state.delete_failures or not snap.pools_fresh:
        return state.delete_failures
    listed = {str(p.name) for p in snap.node_pools}
    return {
        k: n
        for k, n in state.delete_failures.items()
        if k in listed or state.holds.get(k, snap.now) > snap.now
    }


def effective_pools(snap: ClusterSnapshot, state: ControllerState) -> list[NodePool]:
    """The pools as they are about to be: the listing (without pools being deleted), each pool
    at least as large as its registered nodes and as the target of its outstanding request (a
    listing may lag both, and a request's provider call may still run), and a created pool that
    is not listed yet made from its request's spec. Sizing a scale-up from a lagging count
    would ask for nodes that already exist."""
    registered = registered_nodes(snap.nodes)
    pools: dict[str, NodePool] = {}
    for p in snap.node_pools:
        if p.status is NodePoolStatus.STOPPING:
            continue
        name = str(p.name)
        request = state.requests.get(name)
        floor = max(registered.get(name, 0), request.target_nodes if request else 0)
        pools[name] = p if p.node_count >= floor else p.model_copy(update={"node_count": floor})
    for name, r in state.requests.items():
        if name in pools:
            continue
        if r.command is not None and r.command.attempt.spec is not None:
            spec = r.command.attempt.spec
            pools[name] = NodePool(
                name=spec.name,
                machine_type=spec.machine_type,
                zones=(spec.zone,),
                node_count=r.target_nodes,
                capacity_type=spec.capacity_type,
                labels=spec.labels,
                taints=spec.taints,
                accelerator=spec.accelerator,
                status=NodePoolStatus.PROVISIONING,
                managed=True,
                class_name=spec.class_name,
                rule_index=spec.rule_index,
            )
    return list(pools.values())


def _pools_observed(state: ControllerState, snap: ClusterSnapshot) -> ControllerState:
    """Requests end when their nodes registered, or when a fresh listing no longer has their
    pool, or (a restarted leader's request whose call's end nobody saw) when the listed pool is
    smaller than the request's target: that call never reached the provider, and deciding again
    asks for the same absolute size. Missing-node timers start when the provider accepted the
    request (or when nodes are first seen missing), restart on progress, and end."""
    now = snap.now
    listed = {str(p.name): p.node_count for p in snap.node_pools}
    registered = registered_nodes(snap.nodes)

    def outstanding(name: str, r: Request) -> bool:
        if name in state.calls:
            return True
        if name not in listed or registered.get(name, 0) >= r.target_nodes:
            return False
        return r.accepted_at is not None or listed[name] >= r.target_nodes

    requests = {name: r for name, r in state.requests.items() if outstanding(name, r)}
    state = replace(state, requests=requests)
    missing = {
        name: count
        for name, count in missing_nodes(snap.nodes, effective_pools(snap, state)).items()
        if name not in state.calls
    }
    timers: dict[str, Missing] = {}
    for name, count in missing.items():
        prev = state.missing.get(name)
        request = requests.get(name)
        # a request's nodes are due from when the provider accepted it (a restarted leader
        # that does not know when: from when it was sent)
        asked = (request.accepted_at or request.started_at) if request is not None else now
        if prev is None:
            since = asked
        elif count < prev.count:
            since = now  # nodes arrived: progress restarts the clock
        elif count > prev.count:
            since = max(prev.since, asked)
        else:
            since = prev.since
        timers[name] = Missing(since, count)
    return replace(
        state,
        missing=timers,
        repaired_at={k: v for k, v in state.repaired_at.items() if k in missing},
        late_errors={k: v for k, v in state.late_errors.items() if k in missing},
    )


def _issued(state: ControllerState, commands: Iterable[Command], at: datetime) -> ControllerState:
    memory = dict(state.memory)
    requests = dict(state.requests)
    calls = set(state.calls)
    holds = dict(state.holds)
    checks = dict(state.capacity_checks)
    repaired = dict(state.repaired_at)
    late = dict(state.late_errors)
    drains = dict(state.drains)
    removed = set(state.removed)
    for c in commands:
        if isinstance(c, Drain):
            prev = drains.get(c.node)
            drains[c.node] = (at, prev[1] + 1 if prev is not None else 1, len(c.pods))
        if isinstance(c, MarkUnavailable):
            mem = memory.get(c.class_name) or ObtainabilityMemory(policy=state.backoff)
            memory[c.class_name] = replace(mem, entries={**mem.entries, c.entry.key: c.entry})
            if c.pool is not None:
                checks.pop(c.pool, None)
                late.pop(c.pool, None)
        elif isinstance(c, Provision):
            calls.add(c.pool)
            if c.cause is Cause.REPAIR:
                repaired[c.pool] = at
                continue
            a = c.attempt
            requests[c.pool] = Request(
                pool=c.pool,
                class_name=c.class_name,
                offering=c.offering,
                rule=a.rule,
                nodes=a.nodes,
                target_nodes=a.target_nodes or a.nodes,
                started_at=at,
                cause=c.cause,
                after=c.after,
                command=c,
            )
        elif isinstance(c, Delete):
            calls.add(c.pool)
            removed.update(c.nodes)
            requests.pop(c.pool, None)
            late.pop(c.pool, None)
        elif isinstance(c, WaitUntil):
            if c.hold is not None:
                holds[c.hold] = max(c.at, holds.get(c.hold, c.at))
            if c.hold is not None and c.check is not None:
                checks.setdefault(c.hold, c.check)
    return replace(
        state,
        memory=memory,
        requests=requests,
        calls=frozenset(calls),
        failures=(),
        holds=holds,
        capacity_checks=checks,
        repaired_at=repaired,
        late_errors=late,
        drains=drains,
        removed=frozenset(removed),
    )


def _done(state: ControllerState, event: ProviderDone) -> ControllerState:
    c = event.command
    calls = state.calls - {c.pool}
    if isinstance(c, Delete) or (isinstance(c, Provision) and c.cause is Cause.REPAIR):
        failed = dict(state.delete_failures)
        if isinstance(c, Delete):
            if event.error is None:
                failed.pop(c.pool, None)
            else:
                failed[c.pool] = failed.get(c.pool, 0) + 1
        if event.error is None:
            return replace(state, calls=calls, delete_failures=failed)
        failure = Failure(c, event.error, event.at)
        removed = state.removed - set(c.nodes) if isinstance(c, Delete) else state.removed
        return replace(
            state,
            calls=calls,
            failures=(*state.failures, failure),
            removed=removed,
            delete_failures=failed,
        )
    requests = dict(state.requests)
    if event.error is None:
        memory = dict(state.memory)
        mem = memory.get(c.class_name)
        if mem is not None:
            memory[c.class_name] = mem.record_success(c.offering)
        r = requests.get(c.pool)
        if r is not None:
            requests[c.pool] = replace(r, accepted_at=event.at)
        checks = {k: v for k, v in state.capacity_checks.items() if k != c.pool}
        return replace(state, calls=calls, memory=memory, requests=requests, capacity_checks=checks)
    requests.pop(c.pool, None)
    failure = Failure(c, event.error, event.at)
    return replace(state, calls=calls, requests=requests, failures=(*state.failures, failure))
