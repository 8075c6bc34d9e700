"""The Provider protocol: the small surface between the controller and a cloud.

Contract (every implementation, checked by ``tests/contract``):

* ``create_node_pool`` is idempotent per ``spec.name``: creating a pool that already exists
  with the same machine type, zone and capacity type returns the existing pool (a restart after
  a create that succeeded must not fail or duplicate).
* Node pools are zonal; ``NodePoolSpec.node_count`` is the wanted size.
* Capacity failures raise :class:`~providers.errors.InsufficientCapacityError` or
  :class:`~providers.errors.QuotaExceededError` with ``scope``/``location`` set; they are never
  retried inside the provider. Transient failures are retried inside the provider and surface
  as :class:`~providers.errors.ProviderUnavailableError` only when retries are exhausted.
* ``delete_node_pool`` of a missing pool succeeds; ``delete_nodes`` removes exactly the named
  nodes (scale-down picks empty ones) and ignores nodes that are already gone.
* Calls never block the event loop (blocking SDK calls run in a thread) and respect the
  caller's cancellation.
* ``list_node_pools`` returns every pool of the cluster, managed or not; ``NodePool.managed``
  tells which ones ccc may resize down or delete.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from ccc.api.catalog import Catalog
from ccc.api.catalog_diff import CatalogRefresh
from ccc.api.location import ClusterLocation
from ccc.api.values import NodePool, NodePoolSpec, ReservationCapacity
from providers.errors import ProviderError


@runtime_checkable
class Provider(Protocol):
    """Capacity behind node pools (see the module docstring for the contract)."""

    name: str

    async def create_node_pool(self, spec: NodePoolSpec) -> NodePool:
        """Create the pool (or return it when it already exists with the same shape)."""
        ...

    async def resize_node_pool(self, name: str, *, node_count: int) -> NodePool:
        """Set the pool's node count. Growing may raise capacity errors like create."""
        ...

    async def delete_node_pool(self, name: str) -> None:
        """Delete the pool and its nodes. Missing pools are not an error."""
        ...

    async def delete_nodes(self, pool: str, nodes: Sequence[str]) -> NodePool:
        """Remove these nodes (Kubernetes node names) from the pool and shrink it by as many.
        Nodes already gone are ignored; returns the pool afterwards."""
        ...

    async def list_node_pools(self) -> Sequence[NodePool]:
        """Every node pool of the cluster."""
        ...

    async def list_reservations(self) -> Sequence[ReservationCapacity]:
        """Reservations visible to the cluster with their remaining capacity ([] if none)."""
        ...


@runtime_checkable
class SelfRepairing(Protocol):
    """Optional capability: a provider whose state can drift after a crash of the caller
    (the kwok provider) repairs it when asked; the controller calls it once when it starts
    leading."""

    async def reconcile(self) -> None: ...


@runtime_checkable
class CatalogRefreshing(Protocol):
    """Optional capability: a provider that can refresh the catalog (zones, shapes, prices)
    from its cloud's live APIs. Never raises for API failures: the parts that failed keep the
    snapshot's values and are listed in the result's ``failures``."""

    async def refresh_catalog(self, catalog: Catalog) -> CatalogRefresh: ...


@runtime_checkable
class CapacityErrorReporter(Protocol):
    """Optional capability: a provider whose accepted requests can still fail later (GKE: the
    resize finished, then the instance group cannot create the VMs) reports those failures."""

    async def capacity_errors(
        self, name: str, *, since: datetime | None = None
    ) -> Sequence[ProviderError]: ...


@runtime_checkable
class ClusterLocator(Protocol):
    """Optional capability: where the cluster lives (its region and default node zones).

    GKE reads it from the cluster (``clusters.get``: ``location`` and ``locations``); kwok and
    the simulated cloud report what they were configured with. The controller plans only
    inside that region."""

    async def cluster_location(self) -> ClusterLocation: ...
