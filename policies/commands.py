"""The controller's decisions as values: what :func:`policies.decide.decide` returns and the
shell executes.

Every command is a frozen value with a human ``reason`` (it appears verbatim in logs, Events and
status) and a ``cause`` from a closed set (it labels metrics and tells later readers *why this
kind of thing happened*). Commands say what to do, never how: the shell maps each verb onto a
provider call, a Kubernetes write or a state update (docs/design/012-decisions-as-values.md).

Verbs:

* :class:`Provision`: create or scale a node pool: the walk's chosen attempt (or a repair).
* :class:`Replace`: nodes that must go, and the demand that must land elsewhere first.
* :class:`Cordon`: mark a node unschedulable.
* :class:`Drain`: evict a node's pods, only once its replacement is Ready.
* :class:`Delete`: remove named nodes, shrink a pool to what registered, or delete a pool.
* :class:`WaitUntil`: nothing to do now for ``what``; wake the loop at ``at``.
* :class:`MarkUnavailable`: remember an offering as unobtainable until ``entry.until``.
* :class:`ScaleTarget`: set ``/scale`` of a workload (ServingGroup variants).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ccc.api.values import OfferingKey
from ccc.api.workload import PodRequest
from policies.obtainability import Unavailability
from policies.plan import Attempt


class Cause(StrEnum):
    """Why a command exists. A closed set: metrics are labelled by it."""

    #: pending pods want capacity
    PENDING = "pending"
    #: an offering ran out of capacity (at once, or later: nodes that never came)
    STOCKOUT = "stockout"
    #: a quota (regional or global) is exhausted
    QUOTA = "quota"
    #: the provider refused the request for good (invalid request, permission) or failed
    #: transiently; also a provider listing that failed
    PROVIDER_ERROR = "provider-error"
    #: nodes a pool was asked for did not register within the registration timeout
    REGISTRATION = "registration"
    #: ``capacityCheckWaitTimeSeconds``: the same offering is retried until the wait ends
    CAPACITY_CHECK = "capacity-check"
    #: spot nodes are being taken away
    PREEMPTION = "preemption"
    #: flex-start nodes reach their deadline
    EXPIRY = "expiry"
    #: ``activeMigration.optimizeRulePriority``: work moves back to a preferred rule
    MIGRATION = "migration"
    #: empty nodes and pools are removed after the consolidation delay
    CONSOLIDATION = "consolidation"
    #: a ServingGroup moves capacity between its variants
    SERVING_SHIFT = "serving-shift"
    #: the cloud's state drifted from what was asked (missing nodes, an interrupted delete)
    REPAIR = "repair"


@dataclass(frozen=True, slots=True)
class Provision:
    """Create or scale the node pool of ``attempt`` (``attempt.decision`` says which).

    Attributes:
        class_name: the ComputeClass the nodes are for.
        attempt: the walk's chosen attempt (pool name, offering, node counts, spec for a create).
        after: offerings that failed for the same pods before this one, oldest first (``zone
            (capacity type)``), for the "after stockout in …" part of messages.
    """

    class_name: str
    attempt: Attempt
    reason: str
    cause: Cause
    after: tuple[str, ...] = ()

    @property
    def pool(self) -> str:
        return self.attempt.node_pool or ""

    @property
    def offering(self) -> OfferingKey:
        a = self.attempt
        assert a.machine_type is not None and a.capacity_type is not None
        return OfferingKey(machine_type=a.machine_type, zone=a.zone, capacity_type=a.capacity_type)


@dataclass(frozen=True, slots=True)
class Replace:
    """Replace ``nodes``: the ``demand`` they carry must be provisioned elsewhere (through the
    normal walk) and be Ready before the nodes are drained.

    Attributes:
        deadline: when the nodes go away regardless (a flex-start deadline, a preemption
            notice's end), if known.
    """

    class_name: str
    nodes: tuple[str, ...]
    demand: tuple[PodRequest, ...]
    reason: str
    cause: Cause
    deadline: datetime | None = None


@dataclass(frozen=True, slots=True)
class Cordon:
    """Mark ``node`` unschedulable so nothing new lands on it."""

    node: str
    reason: str
    cause: Cause


@dataclass(frozen=True, slots=True)
class Drain:
    """Evict ``node``'s pods through the Eviction API (PodDisruptionBudgets apply).

    Only issued once every node in ``replacement`` is Ready (empty when nothing needs to land
    elsewhere first, e.g. a node that is already empty), or once the node's pods fit on Ready
    nodes.

    Attributes:
        pods: ``(namespace, name)`` of the pods to evict (DaemonSet and mirror pods are never
            listed); an eviction a PodDisruptionBudget refuses is retried by a later Drain.
        grace_period_s: the eviction's grace period cap (``graceTerminationDuration``).
    """

    node: str
    replacement: tuple[str, ...]
    reason: str
    cause: Cause
    pods: tuple[tuple[str, str], ...] = ()
    grace_period_s: int | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove capacity from a managed pool.

    Exactly one form: ``whole_pool`` deletes the pool; ``nodes`` removes those Kubernetes nodes
    (the pool shrinks by as many); ``pool_size`` shrinks the pool to that many nodes, dropping
    nodes that never registered (they have no Kubernetes name).
    """

    pool: str
    class_name: str | None
    reason: str
    cause: Cause
    whole_pool: bool = False
    nodes: tuple[str, ...] = ()
    pool_size: int | None = None

    def __post_init__(self) -> None:
        forms = sum((self.whole_pool, bool(self.nodes), self.pool_size is not None))
        if forms != 1:
            raise ValueError("Delete needs exactly one of whole_pool, nodes, pool_size")


@dataclass(frozen=True, slots=True)
class CapacityCheck:
    """A ``capacityCheckWaitTimeSeconds`` window: the pool's offering is retried, not marked
    unavailable, from the first failure ``since`` until ``ends_at``."""

    since: datetime
    ends_at: datetime
    class_name: str = ""


@dataclass(frozen=True, slots=True)
class WaitUntil:
    """Nothing to do for ``what`` before ``at``; the loop is woken then.

    Attributes:
        hold: a node pool name that gets no other provider request before ``at`` (a capacity
            check retries the same pool; a transient error is retried after a pause).
        check: for a capacity-check wait, its window (remembered across passes and restarts).
    """

    at: datetime
    what: str
    reason: str
    cause: Cause
    class_name: str | None = None
    hold: str | None = None
    check: CapacityCheck | None = None


@dataclass(frozen=True, slots=True)
class MarkUnavailable:
    """Skip ``entry.key`` for this class until ``entry.until``.

    ``entry`` is the whole new memory entry (failure count, first failure, backoff end), so what
    is recorded, logged and persisted is exactly what was decided.

    Attributes:
        backoff_s: how long from the decision the offering is skipped.
        pool: the pool whose request failed, when there was one.
        rule: the rule of that request (``None`` when unknown).
    """

    class_name: str
    entry: Unavailability
    backoff_s: float
    reason: str
    cause: Cause
    pool: str | None = None
    rule: int | None = None


@dataclass(frozen=True, slots=True)
class ScaleTarget:
    """Set the replicas of a scalable workload through its ``/scale`` subresource.

    ``delete_first`` names the workload's pods (in ``namespace``) that should go first when the
    replicas go down: pods on nodes that are being lost or drained. The shell marks them with
    the lowest ``controller.kubernetes.io/pod-deletion-cost`` before the write, so a ReplicaSet
    removes them and keeps its healthy replicas (a StatefulSet or LeaderWorkerSet removes by
    ordinal whatever the mark). Empty when the replicas do not go down.
    """

    api_version: str
    kind: str
    namespace: str
    name: str
    replicas: int
    reason: str
    cause: Cause
    delete_first: tuple[str, ...] = ()


Command = Provision | Replace | Cordon | Drain | Delete | WaitUntil | MarkUnavailable | ScaleTarget


def next_wake(commands: Sequence[Command]) -> datetime | None:
    """The earliest :class:`WaitUntil` time, if any."""
    times = [c.at for c in commands if isinstance(c, WaitUntil)]
    return min(times) if times else None


def describe(command: Command) -> str:
    """One line naming the command's verb and target (offerings as ``MACHINE/ZONE/CAPACITY``,
    names of nodes, pools and workloads otherwise): how logs and ``ccc simulate`` list
    decisions."""
    c = command
    if isinstance(c, Provision):
        o = c.offering
        return (
            f"provision {o.machine_type}/{o.zone}/{o.capacity_type.value} "
            f"+{c.attempt.nodes} ({c.attempt.decision} {c.pool})"
        )
    if isinstance(c, MarkUnavailable):
        k = c.entry.key
        return f"mark-unavailable {k.machine_type}/{k.zone}/{k.capacity_type.value}"
    if isinstance(c, Replace):
        return f"replace {len(c.nodes)} node(s) of {c.class_name}"
    if isinstance(c, Cordon):
        return f"cordon {c.node}"
    if isinstance(c, Drain):
        return f"drain {c.node}"
    if isinstance(c, Delete):
        what = (
            "pool"
            if c.whole_pool
            else f"{len(c.nodes)} node(s) of"
            if c.nodes
            else f"to {c.pool_size} node(s)"
        )
        return f"delete {what} {c.pool}"
    if isinstance(c, ScaleTarget):
        return f"scale {c.kind}/{c.namespace}/{c.name} to {c.replicas}"
    return f"wait {c.what} until {c.at.isoformat()}"
