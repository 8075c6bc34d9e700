"""The cluster as the loop reads it: a Protocol with two implementations.

* :class:`InformerView`: ``ccc run``'s list+watch caches, plus a direct API read to confirm
  missing nodes before a repair (a lagging cache must not trigger one).
* :class:`~ccc.controller.memcluster.InMemoryCluster`: pods, nodes, classes and
  PodDisruptionBudgets in memory with a first-fit binder (tests, ``ccc simulate``).

Reads are synchronous views of local state; nothing here waits for the network except
:meth:`ClusterView.count_nodes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ccc.api import labels as L
from ccc.api.apicall import ApiCall
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.controller.kube import request_json

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    ApiCall("", "nodes", "list", "count a pool's nodes on the API server before a repair"),
)


class Store(Protocol):
    """What the view needs of an informer (or any cache)."""

    def values(self) -> list[Any]: ...


@runtime_checkable
class ClusterView(Protocol):
    """Read access to pods, nodes and ComputeClasses (raw objects, status included)."""

    def pods(self) -> Sequence[PodInfo]: ...

    def nodes(self) -> Sequence[NodeInfo]: ...

    def classes(self) -> Sequence[Mapping[str, Any]]: ...

    async def count_nodes(self, pool: str) -> int | None:
        """Nodes of ``pool`` that exist right now, read past any cache; ``None`` if unknown."""
        ...


class InformerView:
    """:class:`ClusterView` over ``ccc run``'s informers."""

    def __init__(self, *, pods: Store, nodes: Store, classes: Store, api: Any = None) -> None:
        self._pods = pods
        self._nodes = nodes
        self._classes = classes
        self._api = api

    def pods(self) -> Sequence[PodInfo]:
        return self._pods.values()

    def nodes(self) -> Sequence[NodeInfo]:
        return self._nodes.values()

    def classes(self) -> Sequence[Mapping[str, Any]]:
        return self._classes.values()

    async def count_nodes(self, pool: str) -> int | None:
        if self._api is None:
            return None
        total = 0
        for key in (L.NODE_POOL_LABEL, L.GKE_NODE_POOL_LABEL):
            body = await request_json(
                self._api,
                "GET",
                "/api/v1/nodes",
                query={"labelSelector": f"{key}={pool}", "limit": 1000},
            )
            total = max(total, len((body or {}).get("items") or []))
        return total
