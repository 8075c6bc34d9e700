"""Scale-down: which empty nodes and node pools to remove.

Only pools that ccc created (``managed``) are ever shrunk or deleted. A node is a candidate once
it has run no workload pod (DaemonSet and mirror pods do not count) for the class's
consolidation delay; a pool whose nodes are all removable, or that has had no nodes for the
delay, is deleted. Pure: the caller tracks since when each node has been empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ccc.api.values import NodePool

DEFAULT_CONSOLIDATION_DELAY = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class NodeUsage:
    name: str
    pool: str
    workload_pods: int
    #: when the node was last seen running a workload pod (or its creation time)
    empty_since: datetime | None


@dataclass(frozen=True, slots=True)
class ScaleDown:
    pool: str
    class_name: str | None
    delete_pool: bool
    nodes: tuple[str, ...]
    reason: str


def plan_scale_down(
    pools: Sequence[NodePool],
    nodes: Sequence[NodeUsage],
    *,
    now: datetime,
    delays: Mapping[str, timedelta],
    pending_classes: frozenset[str] = frozenset(),
) -> list[ScaleDown]:
    """Decide removals.

    Args:
        delays: consolidation delay per class name (missing → 10 minutes).
        pending_classes: classes with pending pods; their pools are not shrunk this round, so
            a node that is about to receive pods is not removed under them.
    """
    by_pool: dict[str, list[NodeUsage]] = {}
    for n in nodes:
        by_pool.setdefault(n.pool, []).append(n)
    out: list[ScaleDown] = []
    for pool in pools:
        if not pool.managed or (pool.class_name in pending_classes):
            continue
        delay = delays.get(pool.class_name or "", DEFAULT_CONSOLIDATION_DELAY)
        members = by_pool.get(str(pool.name), [])
        idle = [
            n
            for n in members
            if n.workload_pods == 0 and n.empty_since is not None and now - n.empty_since >= delay
        ]
        minutes = int(delay.total_seconds() // 60)
        if members and len(idle) == len(members):
            out.append(
                ScaleDown(
                    str(pool.name),
                    pool.class_name,
                    True,
                    tuple(sorted(n.name for n in idle)),
                    f"all {len(idle)} node(s) empty for {minutes}m or more",
                )
            )
        elif not members and pool.node_count == 0:
            out.append(ScaleDown(str(pool.name), pool.class_name, True, (), "pool has no nodes"))
        elif idle:
            out.append(
                ScaleDown(
                    str(pool.name),
                    pool.class_name,
                    False,
                    tuple(sorted(n.name for n in idle)),
                    f"{len(idle)} node(s) empty for {minutes}m or more",
                )
            )
    return out
