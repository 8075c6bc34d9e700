"""The decide half of the controller: a snapshot of the world in, plans out.

``ccc plan`` and ``ccc simulate`` call exactly this function with a snapshot built from files or
from a simulated cloud; ``ccc run`` calls it with a snapshot built from its informer caches and
executes the chosen attempts. No I/O happens here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ccc.api.catalog import Catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.location import ClusterLocation
from ccc.api.values import NodePool, ReservationCapacity
from ccc.api.workload import PodRequest, group_by_template
from policies.obtainability import ObtainabilityMemory
from policies.plan import Plan
from policies.tiers import CompiledClass, compile_class
from policies.walk import WalkContext, plan_class


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the controller knows at one instant."""

    now: datetime
    classes: Mapping[str, ComputeClass]
    pending: Sequence[PodRequest]
    node_pools: Sequence[NodePool] = ()
    #: ``None`` when unknown (dry run without a cloud).
    reservations: Sequence[ReservationCapacity] | None = None
    memory: Mapping[str, ObtainabilityMemory] = field(default_factory=dict)
    default_zones: Sequence[str] | None = None
    #: The cluster's region and zones; ``None``: ``default_zones``' region, else per class
    #: (:func:`policies.location.resolve_location`).
    cluster: ClusterLocation | None = None
    waiting_since: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decisions:
    plans: Mapping[str, Plan]
    compiled: Mapping[str, CompiledClass]
    #: pending pods that name a class that does not exist, by class name
    orphans: Mapping[str, Sequence[PodRequest]]


def pods_by_class(pending: Sequence[PodRequest]) -> dict[str, list[PodRequest]]:
    """Group pending pods by the class they select, merging identical templates."""
    raw: dict[str, list[PodRequest]] = defaultdict(list)
    for p in pending:
        name = p.compute_class
        if name:
            raw[name].append(p)
    return {k: group_by_template(v) for k, v in raw.items()}


def decide(
    snapshot: Snapshot,
    catalog: Catalog,
    *,
    max_viable: int | None = 1,
    compiled_cache: dict[tuple[str, int | None], CompiledClass] | None = None,
) -> Decisions:
    """Plan every class that has pending pods.

    Args:
        max_viable: attempts kept per pod group beyond skips (1 for the controller, which
            executes the first; ``None`` for ``ccc plan``, which lists every fallback).
        compiled_cache: optional cache keyed by (class name, generation); compiling is cheap
            but the controller calls this every loop.
    """
    plans: dict[str, Plan] = {}
    compiled_all: dict[str, CompiledClass] = {}
    orphans: dict[str, list[PodRequest]] = {}
    for class_name, pods in pods_by_class(snapshot.pending).items():
        cc = snapshot.classes.get(class_name)
        if cc is None:
            orphans[class_name] = pods
            continue
        key = (class_name, cc.metadata.generation)
        compiled = compiled_cache.get(key) if compiled_cache is not None else None
        if compiled is None or compiled_cache is None or cc.metadata.generation is None:
            compiled = compile_class(
                cc,
                catalog,
                cluster=snapshot.cluster,
                default_zones=snapshot.default_zones,
                node_pools=snapshot.node_pools,
            )
            if compiled_cache is not None and cc.metadata.generation is not None:
                compiled_cache[key] = compiled
        ctx = WalkContext(
            catalog=catalog,
            now=snapshot.now,
            memory=snapshot.memory.get(class_name, ObtainabilityMemory()),
            node_pools=snapshot.node_pools,
            reservations=snapshot.reservations,
            waiting_since=snapshot.waiting_since,
        )
        plans[class_name] = plan_class(cc, compiled, pods, ctx, max_viable=max_viable)
        compiled_all[class_name] = compiled
    return Decisions(plans=plans, compiled=compiled_all, orphans=orphans)
