"""What the controller knows about the world at one instant: the input of every decision.

``ccc run`` builds it from its informer caches and the provider's listings, ``ccc simulate``
and unit tests from the in-memory cluster and the simulated cloud, ``ccc plan`` from files (only
classes and pending pods). Immutable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.values import NodePool, OfferingKey, ReservationCapacity
from ccc.api.workload import PodRequest
from policies.room import pods_by_node

#: ``fresh``: listed this pass; ``stale``: this pass's listing failed, the last good one (plus
#: this leader's own results since) is used; ``unknown``: no listing has succeeded yet.
PoolListing = Literal["fresh", "stale", "unknown"]


@dataclass(frozen=True, slots=True)
class ProviderNotice:
    """A provider's advance notice that it takes a node away (GCP's 30 s spot notice, the
    simulated and kwok clouds' preemption and expiry notices)."""

    node: str
    kind: Literal["preemption", "expiry"]
    at: datetime
    #: the spot offering the node was of, and its class (known when the node was seen)
    offering: OfferingKey | None = None
    class_name: str | None = None


@dataclass(frozen=True, slots=True)
class GroupCover:
    """The ServingGroup controller's last verdict on one group, for drains (surge before drain).

    Attributes:
        group: ``namespace/name``.
        covered: nodes with a planned disruption (``ccc.dev/disruption``) hosting Ready replicas
            of the group, counted as disrupted by a pass whose Ready capacity without them met
            ``spec.capacity`` (:attr:`policies.serving.Split.disruption_covered`): their drain
            cannot drop the group below its capacity.
        at: when that pass ran.
    """

    group: str
    covered: frozenset[str]
    at: datetime


@dataclass(frozen=True, slots=True)
class ServingCovers:
    """What drains need from the ServingGroup controller (``None`` in a snapshot: it does not
    run, and drains do not wait for surges).

    Attributes:
        synced: it has finished a pass over every group since this leader started (before that,
            every drain of a node hosting a labelled replica waits).
        groups: per ``namespace/name``, the groups it read in its last pass.
    """

    synced: bool = False
    groups: Mapping[str, GroupCover] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """The world as one pass sees it.

    Attributes:
        classes: the ComputeClasses that validate, by name.
        invalid_classes: classes that exist but do not validate (their pods are not orphans;
            they wait for the class to be fixed).
        pending: pending demand (pods that select a class, unbound, ungated), as pod groups.
        pods, nodes: the cluster's pods and nodes (empty for ``ccc plan``).
        node_pools: the provider's pools (those being deleted included: status ``STOPPING``).
        pool_listing: how current ``node_pools`` is.
        reservations: reservations with their free room; ``None`` when unknown.
        reservations_failed: the listing of reservations failed (``reservations`` is then the
            last good one, or ``None``): classes with reservation rules wait rather than guess.
        node_counts: nodes per pool read directly from the API server this pass, for pools
            about to be repaired (a cache that lags must not trigger a repair).
        notices: advance notices from the provider.
        serving: the ServingGroup controller's verdicts, for drains (``None``: it does not run).
    """

    now: datetime
    classes: Mapping[str, ComputeClass]
    pending: Sequence[PodRequest] = ()
    pods: Sequence[PodInfo] = ()
    nodes: Sequence[NodeInfo] = ()
    node_pools: Sequence[NodePool] = ()
    pool_listing: PoolListing = "fresh"
    reservations: Sequence[ReservationCapacity] | None = None
    reservations_failed: bool = False
    invalid_classes: frozenset[str] = frozenset()
    node_counts: Mapping[str, int] = field(default_factory=dict)
    notices: Sequence[ProviderNotice] = ()
    serving: ServingCovers | None = None
    #: the pods bound to each node, derived from ``pods`` once
    by_node: Mapping[str, Sequence[PodInfo]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_node", pods_by_node(self.pods))

    @property
    def pools_fresh(self) -> bool:
        return self.pool_listing == "fresh"
