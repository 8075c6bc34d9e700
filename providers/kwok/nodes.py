"""Making a pool's KWOK Nodes match its record: the one repair every operation runs.

:meth:`PoolNodes.sync` compares counts only, so running it any number of times, from any state a
crash left, converges on the record without duplicates: missing Nodes are created at the lowest
free indices; surplus Nodes are deleted (those under a termination notice first, then the highest
indices); Nodes in the record's ``removing`` set (already subtracted from its size) and Nodes that
carry the pool's name but another pool uid (orphans of an earlier pool of that name) are deleted
whatever the count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ccc.api import labels as well_known
from ccc.api.catalog import Catalog
from providers.clock import Clock
from providers.errors import InvalidRequestError
from providers.kwok.kube import WRITE_ATTEMPTS, KubeCalls, NodeRef, lost_races
from providers.kwok.model import (
    CLOUD_LABEL,
    IMPENDING_TERMINATION_TAINT,
    POOL_UID_LABEL,
    PoolRecord,
    node_index,
    node_manifest,
    node_name,
)

T = TypeVar("T")


def owned(node: NodeRef, record: PoolRecord) -> bool:
    """A live Node of this incarnation of the pool (Nodes in ``removing`` are not)."""
    return (
        node.labels.get(POOL_UID_LABEL) == record.uid
        and not node.deleting
        and node.uid not in record.removing
    )


def removal_order(record: PoolRecord, node: NodeRef) -> tuple[bool, int]:
    """Sort key of surplus Nodes: under a termination notice first, then highest index first."""
    noticed = IMPENDING_TERMINATION_TAINT in node.taint_keys
    return (not noticed, -node_index(record.name, node.name))


class PoolNodes:
    """Node-level work of one kwok cloud (one namespace).

    Args:
        kube: the API calls.
        catalog: machine shapes for Node capacity.
        namespace: the cloud; its Nodes carry it as ``ccc.dev/kwok-cloud``.
        clock: creation stamps (and so flex-start deadlines).
        kubelet_version: reported in ``status.nodeInfo``.
        concurrency: Node creations/deletions in flight at once.
    """

    def __init__(
        self,
        kube: KubeCalls,
        *,
        catalog: Catalog,
        namespace: str,
        clock: Clock,
        kubelet_version: str,
        concurrency: int,
    ) -> None:
        self.kube = kube
        self.catalog = catalog
        self.namespace = namespace
        self.clock = clock
        self.kubelet_version = kubelet_version
        self.concurrency = max(1, concurrency)

    def selector(self, pool: str | None = None) -> str:
        """Label selector of the cloud's Nodes (of one pool name, when given)."""
        base = f"{CLOUD_LABEL}={self.namespace}"
        return base if pool is None else f"{base},{well_known.NODE_POOL_LABEL}={pool}"

    async def sync(self, record: PoolRecord) -> None:
        """Create or delete Nodes until they match ``record`` (see the module docstring)."""
        nodes = await self.kube.list_nodes(self.selector(record.name))
        mine = [n for n in nodes if owned(n, record)]
        await self.delete([n for n in nodes if not owned(n, record) and not n.deleting])
        missing = record.node_count - len(mine)
        if missing > 0:
            used = {node_index(record.name, n.name) for n in mine}
            free = [i for i in range(len(mine) + missing) if i not in used][:missing]
            await self.each(free, lambda i: self._create(record, i))
        elif missing < 0:
            await self.delete(sorted(mine, key=lambda n: removal_order(record, n))[:-missing])

    async def delete_except(self, pool: str, keep_uid: str | None) -> None:
        """Delete the Nodes named for ``pool`` that do not belong to pool uid ``keep_uid``."""
        nodes = await self.kube.list_nodes(self.selector(pool))
        await self.delete([n for n in nodes if n.labels.get(POOL_UID_LABEL) != keep_uid])

    async def delete(self, nodes: Sequence[NodeRef]) -> None:
        """Delete exactly these Nodes (uid preconditions: a re-created namesake is spared)."""
        await self.each(nodes, lambda n: self.kube.delete_node(n.name, uid=n.uid))

    async def each(self, items: Sequence[T], job: Callable[[T], Awaitable[None]]) -> None:
        """Run ``job`` for every item, at most :attr:`concurrency` at once; re-raise the first
        failure after all have finished."""
        gate = asyncio.Semaphore(self.concurrency)

        async def run(item: T) -> None:
            async with gate:
                await job(item)

        results = await asyncio.gather(*(run(i) for i in items), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _create(self, record: PoolRecord, index: int) -> None:
        body = node_manifest(
            record,
            index=index,
            machine=self.catalog.machine_type(record.spec.machine_type),
            namespace=self.namespace,
            created_at=self.clock.now(),
            kubelet_version=self.kubelet_version,
        )
        name = node_name(record.name, index)
        for _ in range(WRITE_ATTEMPTS):
            if await self.kube.create_node(body):
                return
            existing = await self.kube.get_node(name)
            if existing is None:
                continue
            if owned(existing, record):
                return  # created by an earlier attempt of this very request
            if existing.labels.get(CLOUD_LABEL) != self.namespace:
                raise InvalidRequestError(
                    f"Node '{name}' exists and does not belong to the kwok cloud "
                    f"'{self.namespace}'; rename the pool or delete that Node.",
                    scope="zone",
                    location=record.spec.zone,
                    reason="NODE_NAME_TAKEN",
                )
            await self.delete([existing])  # an orphan, or a Node of this pool being removed
        raise lost_races(f"create node {name}")
