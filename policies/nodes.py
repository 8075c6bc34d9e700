"""Per-node facts the disruption methods decide from: deadlines, spot signals, rule rank and
replacement progress. Pure: read off the node projections, the compiled classes and the
provider's notices.

Replacement and drain progress is kept in annotations on the node being replaced
(:data:`ccc.api.labels.DISRUPTION_ANNOTATION` and friends), written by the shell when it executes
:class:`~policies.commands.Replace`, :class:`~policies.commands.Cordon` and
:class:`~policies.commands.Drain`; a restarted leader reads it back from its node cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, parse_time
from ccc.api.values import CapacityType
from policies.room import pool_of, terminating
from policies.snapshot import ProviderNotice
from policies.tiers import CompiledClass


@dataclass(frozen=True, slots=True)
class NodeProgress:
    """A node being replaced, as recorded in its annotations."""

    cause: str
    since: datetime | None
    replacement_pools: tuple[str, ...]
    drain_started: datetime | None

    @classmethod
    def of(cls, node: NodeInfo) -> NodeProgress | None:
        a = node.annotations
        cause = a.get(L.DISRUPTION_ANNOTATION)
        if not cause:
            return None
        pools = tuple(p for p in a.get(L.REPLACEMENT_ANNOTATION, "").split(",") if p)
        return cls(
            cause=cause,
            since=_time(a.get(L.DISRUPTION_SINCE_ANNOTATION)),
            replacement_pools=pools,
            drain_started=_time(a.get(L.DRAIN_STARTED_ANNOTATION)),
        )

    def annotations(self) -> dict[str, str]:
        """The annotations that record this progress (the inverse of :meth:`of`)."""
        out = {L.DISRUPTION_ANNOTATION: self.cause}
        if self.since is not None:
            out[L.DISRUPTION_SINCE_ANNOTATION] = _stamp(self.since)
        if self.replacement_pools:
            out[L.REPLACEMENT_ANNOTATION] = ",".join(self.replacement_pools)
        if self.drain_started is not None:
            out[L.DRAIN_STARTED_ANNOTATION] = _stamp(self.drain_started)
        return out


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the disruption methods need to know about one node of a class.

    Attributes:
        rule: the rule index that made the node (``ccc.dev/rule-index``), if known.
        rule_rank: its position in the class's walk order (0 = most preferred).
        deadline: when the provider takes the node away regardless (flex-start).
        signal: why the node is going away now, if it is: a terminating taint's key,
            ``NotReady`` for a spot node that lost readiness, or a provider notice's kind.
        progress: replacement and drain progress from the node's annotations.
    """

    name: str
    pool: str | None
    class_name: str | None
    rule: int | None
    rule_rank: int | None
    deadline: datetime | None
    signal: str | None
    progress: NodeProgress | None
    ready: bool


def is_spot(labels: Mapping[str, str]) -> bool:
    """A spot node by any label that says so: ccc's capacity type, or GKE's ``gke-spot``,
    ``gke-provisioning=spot|preemptible`` or legacy ``gke-preemptible`` (a node of a pool ccc
    did not create carries only GKE's; lifecycle-and-serving.md A3)."""
    return (
        labels.get(L.CAPACITY_TYPE_LABEL) == CapacityType.SPOT.value
        or labels.get(L.GKE_SPOT_LABEL) == "true"
        or labels.get(L.GKE_PROVISIONING_LABEL) in ("spot", "preemptible")
        or labels.get(L.GKE_PREEMPTIBLE_LABEL) == "true"
    )


def node_facts(
    nodes: Sequence[NodeInfo],
    compiled: Mapping[str, CompiledClass],
    notices: Sequence[ProviderNotice] = (),
) -> dict[str, NodeFacts]:
    """Facts for every node that belongs to a class."""
    noticed = {n.node: n.kind for n in notices}
    out: dict[str, NodeFacts] = {}
    for n in nodes:
        cls = n.labels.get(L.CLASS_LABEL) or n.labels.get(L.GKE_CLASS_LABEL)
        if cls is None:
            continue
        rule = _int(n.labels.get(L.RULE_INDEX_LABEL))
        order = compiled[cls].order if cls in compiled else ()
        signal = terminating(n) or noticed.get(n.name)
        if signal is None and not n.ready and is_spot(n.labels):
            signal = "NotReady"
        out[n.name] = NodeFacts(
            name=n.name,
            pool=pool_of(n),
            class_name=cls,
            rule=rule,
            rule_rank=order.index(rule) if rule is not None and rule in order else None,
            deadline=deadline_of(n),
            signal=signal,
            progress=NodeProgress.of(n),
            ready=n.ready,
        )
    return out


def deadline_of(node: NodeInfo) -> datetime | None:
    """A flex-start node's end: GKE's termination annotation, ccc's deadline annotation or
    label, or GKE's max-run-duration label plus the creation time."""
    for key in (L.GKE_TERMINATION_ANNOTATION, L.FLEX_START_DEADLINE_ANNOTATION):
        t = _time(node.annotations.get(key))
        if t is not None:
            return t
    unix = _int(node.labels.get(L.FLEX_START_DEADLINE_LABEL))
    if unix is not None:
        return datetime.fromtimestamp(unix, UTC)
    duration = _int(node.labels.get(L.GKE_MAX_RUN_DURATION_LABEL))
    if duration is not None and node.creation_timestamp is not None:
        return node.creation_timestamp + timedelta(seconds=duration)
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _time(value: str | None) -> datetime | None:
    try:
        return parse_time(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
