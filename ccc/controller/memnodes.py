"""The in-memory cluster's :class:`~ccc.controller.nodeops.NodeWriter`: annotations, cordon and
evictions that honour PodDisruptionBudgets (unit tests, ``ccc simulate``).

Kept beside :mod:`ccc.controller.memcluster` rather than in it (one reason to change each).
An evicted pod with a controlling owner comes back Pending under a new uid, as its ReplicaSet
would recreate it; a bare pod is gone.
"""

from __future__ import annotations

from collections.abc import Mapping

from ccc.controller.memcluster import InMemoryCluster


class InMemoryNodeWriter:
    """:class:`~ccc.controller.nodeops.NodeWriter` over an :class:`InMemoryCluster`."""

    def __init__(self, cluster: InMemoryCluster) -> None:
        self.cluster = cluster
        #: every eviction asked for, ``(namespace, name, allowed)`` (for tests)
        self.evictions: list[tuple[str, str, bool]] = []

    async def annotate_node(self, name: str, annotations: Mapping[str, str]) -> None:
        node = next((n for n in self.cluster.nodes() if n.name == name), None)
        if node is not None:
            self.cluster.set_node(name, annotations={**node.annotations, **annotations})

    async def cordon(self, name: str) -> None:
        if any(n.name == name for n in self.cluster.nodes()):
            self.cluster.set_node(name, unschedulable=True)

    async def evict(self, namespace: str, name: str, *, grace_period_s: int | None) -> bool:
        del grace_period_s  # pods of the in-memory cluster terminate at once
        ok = self.cluster.evict(namespace, name, recreate=True)
        self.evictions.append((namespace, name, ok))
        return ok
