"""GKEProvider: the :class:`providers.base.Provider` for a real GKE Standard cluster.

Creates, resizes, deletes and lists the cluster's node pools through
``container_v1.ClusterManagerClient``, reaches the pools' instance groups through
:mod:`providers.gke.instance_groups` and reads reservations through ``compute_v1``. Every
blocking call runs in a worker thread under a timeout (:mod:`providers.gke.operations`); every
failure is translated by :func:`providers.gke.errors.translate_error`.

Idempotency: pool names are deterministic, so ``ALREADY_EXISTS`` on create after a restart means
"ccc created it before": the existing pool is fetched and returned when it has the same shape.
A create whose operation fails (stockout, quota) deletes the half-created pool, so a managed
instance group never keeps retrying behind ccc's back, then raises the translated error.
Safety: ccc never deletes or shrinks a pool it does not manage (no ``managed-by=ccc`` mark).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from google.cloud import container_v1

from ccc.api.catalog import Catalog
from ccc.api.catalog_diff import CatalogRefresh
from ccc.api.location import ClusterLocation
from ccc.api.values import NodePool, NodePoolSpec, ReservationCapacity, region_of
from providers.errors import (
    InvalidRequestError,
    NodePoolAlreadyExistsError,
    NodePoolNotFoundError,
    ProviderError,
    ProviderUnavailableError,
)
from providers.gke import catalog_refresh
from providers.gke import instance_groups as migs
from providers.gke import reservations as gce
from providers.gke.clients import GoogleClients, build_clients
from providers.gke.config import GKEConfig
from providers.gke.errors import operation_failed, translate_error
from providers.gke.nodepool import from_gke_node_pool, is_managed, same_shape, to_gke_node_pool
from providers.gke.operations import call, wait_for_operation

log = structlog.get_logger(__name__)


class GKEProvider:
    """Node pools of one GKE cluster (see the module docstring and ``providers.base``).

    Construct with ``await GKEProvider.connect(config)`` (or :meth:`from_config` outside an
    event loop), which builds clients with ADC or, for the emulator, anonymous credentials; or
    pass prebuilt ``clients``.
    """

    name = "gke"

    def __init__(self, config: GKEConfig, *, clients: GoogleClients) -> None:
        self.config = config
        self._clients = clients

    @classmethod
    def from_config(cls, config: GKEConfig) -> GKEProvider:
        """Build the provider and its clients (no network I/O yet).

        Raises:
            PermissionDeniedError: no Application Default Credentials are available.
        """
        try:
            clients = build_clients(config)
        except Exception as exc:
            raise translate_error(exc) from exc
        return cls(config, clients=clients)

    @classmethod
    async def connect(cls, config: GKEConfig) -> GKEProvider:
        """:meth:`from_config` off the event loop: finding Application Default Credentials may
        probe the GCE metadata server (a blocking HTTP call) on a real cluster.

        Raises:
            PermissionDeniedError: no Application Default Credentials are available.
        """
        async with asyncio.timeout(config.call_timeout_s):
            return await asyncio.to_thread(cls.from_config, config)

    def close(self) -> None:
        """Close the clients' channels and HTTP sessions. Safe to call twice."""
        c = self._clients
        for client in (
            c.cluster_manager,
            c.reservations,
            c.machine_types,
            c.accelerator_types,
            c.instance_group_managers,
            c.zone_operations,
            c.cloud_catalog,
        ):
            client.transport.close()  # type: ignore[no-untyped-call]

    # -- node pools ------------------------------------------------------------------------

    async def create_node_pool(self, spec: NodePoolSpec) -> NodePool:
        """Create the pool for ``spec`` and wait for it; see ``Provider.create_node_pool``.

        Raises:
            InsufficientCapacityError: stockout in ``spec.zone`` (sync or in the operation).
            QuotaExceededError: regional (or global) quota exhausted.
            ReservationUnavailableError: the named reservation is missing, full or incompatible.
            NodePoolAlreadyExistsError: a pool of that name exists with another shape.
            InvalidRequestError, PermissionDeniedError, ProviderUnavailableError.
        """
        cm = self._clients.cluster_manager
        node_pool = to_gke_node_pool(spec)
        if self.config.node_service_account and not node_pool.config.service_account:
            # The class's nodePoolConfig.serviceAccount wins over the provider's default.
            node_pool.config.service_account = self.config.node_service_account
        request = container_v1.CreateNodePoolRequest(
            parent=self.config.cluster_path, node_pool=node_pool
        )
        log.info(
            "gke.node_pool_create",
            pool=spec.name,
            zone=spec.zone,
            machine_type=spec.machine_type,
            capacity_type=spec.capacity_type.value,
            node_count=spec.node_count,
        )
        try:
            operation = await call(
                lambda: cm.create_node_pool(
                    request=request, retry=None, timeout=self.config.call_timeout_s
                ),
                config=self.config,
                what="container.create_node_pool",
                zone=spec.zone,
            )
        except NodePoolAlreadyExistsError:
            return await self._adopt_existing(spec)
        done = await wait_for_operation(cm, operation, config=self.config, zone=spec.zone)
        if operation_failed(done):
            error = translate_error(done, zone=spec.zone)
            log.info(
                "gke.node_pool_create_failed", pool=spec.name, zone=spec.zone, reason=error.reason
            )
            if self.config.delete_failed_pools:
                await self._delete_quietly(spec.name, zone=spec.zone)
            raise error
        return await self._get(spec.name, zone=spec.zone)

    async def resize_node_pool(self, name: str, *, node_count: int) -> NodePool:
        """Set the pool's node count (per zone) and wait for the resize.

        Raises:
            NodePoolNotFoundError: no such pool.
            InvalidRequestError: shrinking a pool ccc does not manage.
            InsufficientCapacityError, QuotaExceededError: growing hit a stockout or quota.
        """
        current = await self._get(name)
        zone = current.zones[0] if current.zones else ""
        if not current.managed and node_count < current.node_count:
            raise InvalidRequestError(
                f"refusing to shrink node pool {name}: it is not managed by ccc (no managed-by=ccc "
                "label); resize it with gcloud instead",
                scope="zone",
                location=zone,
                reason="UNMANAGED_POOL",
            )
        cm = self._clients.cluster_manager
        request = container_v1.SetNodePoolSizeRequest(
            name=self.config.node_pool_path(name), node_count=node_count
        )
        log.info("gke.node_pool_resize", pool=name, zone=zone, node_count=node_count)
        operation = await call(
            lambda: cm.set_node_pool_size(
                request=request, retry=None, timeout=self.config.call_timeout_s
            ),
            config=self.config,
            what="container.set_node_pool_size",
            zone=zone,
        )
        done = await wait_for_operation(cm, operation, config=self.config, zone=zone)
        if operation_failed(done):
            raise translate_error(done, zone=zone)
        return await self._get(name, zone=zone)

    async def delete_node_pool(self, name: str) -> None:
        """Delete a managed pool and wait; a missing pool is success.

        Raises:
            InvalidRequestError: the pool is not managed by ccc.
        """
        try:
            current = await self._get(name)
        except NodePoolNotFoundError:
            return
        if not current.managed:
            raise InvalidRequestError(
                f"refusing to delete node pool {name}: it is not managed by ccc",
                scope="zone",
                location=current.zones[0] if current.zones else "",
                reason="UNMANAGED_POOL",
            )
        await self._delete(name, zone=current.zones[0] if current.zones else "")

    async def delete_nodes(self, pool: str, nodes: Sequence[str]) -> NodePool:
        """Delete the named nodes' VMs from the pool's instance groups, shrinking it as many.

        On GKE a node's name is its VM instance's name, and each managed instance group
        (``gke-<cluster>-<pool>-<hash>-grp``) names its VMs ``<group minus -grp>-<suffix>``.
        Names not in the pool are skipped (``skipInstancesOnValidationError``).

        Raises:
            NodePoolNotFoundError: no such pool.
            InvalidRequestError: the pool is not managed by ccc.
        """
        raw = await self._get_raw_or_missing(pool)
        current = from_gke_node_pool(raw, node_count=await self._node_count(raw))
        if not nodes:
            return current
        if not current.managed:
            raise InvalidRequestError(
                f"refusing to delete nodes of node pool {pool}: it is not managed by ccc",
                scope="zone",
                location=current.zones[0] if current.zones else "",
                reason="UNMANAGED_POOL",
            )
        await migs.delete_instances(self._clients, self.config, raw, nodes)
        return await self._get(pool)

    async def list_node_pools(self) -> Sequence[NodePool]:
        """Every pool of the cluster, managed or not, with current node counts."""
        cm = self._clients.cluster_manager
        response = await call(
            lambda: cm.list_node_pools(
                parent=self.config.cluster_path, retry=None, timeout=self.config.call_timeout_s
            ),
            config=self.config,
            what="container.list_node_pools",
        )
        pools = list(response.node_pools)
        counts = await asyncio.gather(*(self._node_count(p) for p in pools))
        return [from_gke_node_pool(p, node_count=n) for p, n in zip(pools, counts, strict=True)]

    async def get_node_pool(self, name: str) -> NodePool | None:
        """One pool by name, or ``None`` when it does not exist."""
        try:
            return await self._get(name)
        except NodePoolNotFoundError:
            return None

    async def capacity_errors(
        self, name: str, *, since: datetime | None = None
    ) -> list[ProviderError]:
        """Recent VM creation failures of the pool's instance groups, translated.

        GKE's resize operation finishes once the groups' target size is set; VMs that GCE then
        cannot create (stockout, quota) are reported only by
        ``instanceGroupManagers.listErrors``. The controller calls this when a pool stays
        below its size, to feed the obtainability memory. Newest first.

        Args:
            name: the node pool.
            since: ignore errors older than this (timezone-aware).

        Raises:
            NodePoolNotFoundError: no such pool.
        """
        raw = await self._get_raw_or_missing(name)
        return await migs.vm_errors(self._clients, self.config, raw, since=since)

    # -- the cluster -------------------------------------------------------------------------

    async def cluster_location(self) -> ClusterLocation:
        """The cluster's region and node zones (``clusters.get``: ``location``, ``locations``).

        A regional cluster's ``location`` is its region; a zonal cluster's is a zone, whose
        region is the cluster's region. ``locations`` are the default zones of node pools.
        """
        cm = self._clients.cluster_manager
        cluster = await call(
            lambda: cm.get_cluster(
                name=self.config.cluster_path, retry=None, timeout=self.config.call_timeout_s
            ),
            config=self.config,
            what="container.get_cluster",
        )
        return cluster_location_of(cluster.location or self.config.location, cluster.locations)

    # -- capacity signals ------------------------------------------------------------------

    async def list_reservations(self) -> Sequence[ReservationCapacity]:
        """Reservations with their remaining count per machine type and zone."""
        return await gce.list_reservations(self._clients, self.config)

    async def refresh_catalog(self, catalog: Catalog) -> CatalogRefresh:
        """``catalog`` refreshed from Compute (zones, shapes) and Cloud Billing (prices); each
        part that fails keeps the snapshot's values and is listed in ``failures``."""
        return await catalog_refresh.refresh(
            catalog, self._clients, self.config, today=datetime.now(UTC).date()
        )

    async def list_accelerator_zones(self) -> dict[str, tuple[str, ...]]:
        """Zones per accelerator type visible to the project."""
        return await gce.list_accelerator_type_zones(self._clients, self.config)

    # -- helpers ---------------------------------------------------------------------------

    async def _get_raw(self, name: str, *, zone: str = "") -> container_v1.NodePool:
        cm = self._clients.cluster_manager
        path = self.config.node_pool_path(name)
        pool: container_v1.NodePool = await call(
            lambda: cm.get_node_pool(name=path, retry=None, timeout=self.config.call_timeout_s),
            config=self.config,
            what="container.get_node_pool",
            zone=zone,
        )
        return pool

    async def _get_raw_or_missing(self, name: str, *, zone: str = "") -> container_v1.NodePool:
        """The pool; any NOT_FOUND (pool or cluster path) becomes NodePoolNotFoundError."""
        try:
            return await self._get_raw(name, zone=zone)
        except InvalidRequestError as exc:
            if exc.reason == "NOT_FOUND":
                raise NodePoolNotFoundError(exc.message, location=zone, reason="NOT_FOUND") from exc
            raise

    async def _get(self, name: str, *, zone: str = "") -> NodePool:
        pool = await self._get_raw_or_missing(name, zone=zone)
        return from_gke_node_pool(pool, node_count=await self._node_count(pool))

    async def _node_count(self, pool: container_v1.NodePool) -> int:
        """The pool's size: its instance groups' target sizes (``instance_groups``)."""
        return await migs.node_count(self._clients, self.config, pool)

    async def _adopt_existing(self, spec: NodePoolSpec) -> NodePool:
        """ALREADY_EXISTS for our deterministic name: return the pool if it is ours."""
        existing = await self._get_raw(spec.name, zone=spec.zone)
        if not (same_shape(spec, existing) and is_managed(existing)):
            raise NodePoolAlreadyExistsError(
                f"node pool {spec.name} exists with a different shape or owner "
                f"(machine type {existing.config.machine_type}, zones {list(existing.locations)}); "
                "delete it or rename the ComputeClass",
                scope="zone",
                location=spec.zone,
                reason="ALREADY_EXISTS",
            )
        status = container_v1.NodePool.Status
        if existing.status == status.STOPPING:
            raise ProviderUnavailableError(
                f"node pool {spec.name} is being deleted; it can be created again once it is gone",
                scope="zone",
                location=spec.zone,
                reason="NODE_POOL_STOPPING",
            )
        if existing.status == status.ERROR:
            # A create that failed earlier and whose clean-up did not finish: the pool's status
            # message says why (often the stockout); report that and clean up now.
            error = translate_error(existing, zone=spec.zone)
            await self._delete_quietly(spec.name, zone=spec.zone)
            raise error
        log.info("gke.node_pool_adopted", pool=spec.name, zone=spec.zone)
        return from_gke_node_pool(existing, node_count=await self._node_count(existing))

    async def _delete(self, name: str, *, zone: str) -> None:
        cm = self._clients.cluster_manager
        path = self.config.node_pool_path(name)
        log.info("gke.node_pool_delete", pool=name, zone=zone)
        try:
            operation = await call(
                lambda: cm.delete_node_pool(
                    name=path, retry=None, timeout=self.config.call_timeout_s
                ),
                config=self.config,
                what="container.delete_node_pool",
                zone=zone,
            )
        except NodePoolNotFoundError:
            return
        done = await wait_for_operation(cm, operation, config=self.config, zone=zone)
        if operation_failed(done):
            error = translate_error(done, zone=zone)
            if not isinstance(error, NodePoolNotFoundError):
                raise error

    async def _delete_quietly(self, name: str, *, zone: str) -> None:
        try:
            await self._delete(name, zone=zone)
        except ProviderError as exc:
            # The next reconcile sees the pool (managed, maybe in ERROR) and deletes it again.
            log.warning("gke.node_pool_cleanup_failed", pool=name, zone=zone, reason=exc.reason)


def cluster_location_of(location: str, locations: Sequence[str]) -> ClusterLocation:
    """ccc's view of a cluster's ``location`` (region or zone) and ``locations`` (zones)."""
    zones = tuple(locations)
    is_zone = location.count("-") >= 2  # us-central1-a; regions have one dash (us-central1)
    region = region_of(location) if is_zone else location
    zones = tuple(z for z in zones if region_of(z) == region) or ((location,) if is_zone else ())
    return ClusterLocation(region=region, zones=zones, source=f"GKE cluster location {location}")
