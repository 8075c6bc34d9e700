"""The kwok provider: node pools realised as KWOK Nodes in a real API server.

Design (docs/design/008-kwok-provider.md): the cloud's whole state lives in the API server, never
in this object, so a controller killed at any instant and restarted finds exactly what exists.

* A **pool** is a ConfigMap in :attr:`KwokProvider.namespace` (see :mod:`providers.kwok.model`);
  its ``nodeCount`` is the desired size and doubles as the capacity booking.
* Its **Nodes** are ``<pool>-<index>``, labelled with the namespace and the ConfigMap's uid. Any
  call that touches a pool ends by making its Nodes match the record
  (:meth:`providers.kwok.nodes.PoolNodes.sync`), so re-running any call after a crash completes
  it without duplicates.
* **Create** = admit against capacity, create the ConfigMap (an existing one with the same
  machine type, zone and capacity type is the pool: it is completed and returned), wait the
  provisioning delay, create the Nodes. **Resize** = admit the growth, replace the ConfigMap
  guarded by its ``resourceVersion``, sync the Nodes. **Delete nodes** = lower the size and
  record the chosen Nodes' uids in one guarded write, then sync (which removes those first).
* **Delete** = mark the ConfigMap ``deleting`` (desired size 0), delete the Nodes, delete the
  ConfigMap (guarded by its uid). A pool caught mid-delete is listed as ``STOPPING`` and finished
  by the next delete, create or :meth:`reconcile`; Nodes whose pool is gone are orphans that
  :meth:`reconcile` and any later call on that pool name remove.
* :meth:`list_node_pools` and :meth:`list_reservations` only read. :meth:`reconcile` repairs every
  pool and removes orphans; the controller calls it at startup.
* Capacity, quota, reservations and the provisioning delay come from the ``capacity`` ConfigMap
  (:mod:`providers.kwok.capacity`), admitted all-or-nothing per request with the simulated
  cloud's ledger. Admission is not atomic across concurrent callers (one leader acts at a time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog, MachineType
from ccc.api.location import ClusterLocation, configured_location
from ccc.api.values import NodePool, NodePoolSpec, ReservationCapacity
from providers.clock import Clock, SystemClock
from providers.errors import (
    InvalidRequestError,
    NodePoolAlreadyExistsError,
    NodePoolNotFoundError,
)
from providers.kwok.capacity import (
    CAPACITY_CONFIGMAP,
    CAPACITY_KEY,
    CloudSettings,
    build_ledger,
    parse_settings,
    release_reservations,
)
from providers.kwok.controls import CloudControls
from providers.kwok.kube import WRITE_ATTEMPTS, KubeCalls, lost_races
from providers.kwok.model import (
    DEFAULT_NAMESPACE,
    POOL_MARKER_LABEL,
    POOL_UID_LABEL,
    PoolRecord,
    pool_configmap,
    pool_view,
    shape_of,
)
from providers.kwok.nodes import PoolNodes, owned
from providers.simulated.ledger import Ledger


class KwokProvider(CloudControls):
    """:class:`providers.base.Provider` backed by ConfigMaps and KWOK Nodes (module docstring).

    Args:
        api: a ``kubernetes_asyncio`` ``ApiClient``; the caller owns and closes it.
        catalog: machine shapes for Node capacity; defaults to the built-in catalog.
        namespace: where pool ConfigMaps and the ``capacity`` ConfigMap live (created if
            missing). Each namespace is a separate cloud; its Nodes carry it as a label.
        clock: time for creation stamps, flex-start deadlines, delays and retry backoff.
        project: owner of reservations declared without a project.
        max_transient_retries: retries of a transiently failing API call.
        retry_backoff_s: first retry delay (doubles per retry).
        request_timeout_s: budget of each API request (a dead connection fails it, and it is
            retried like any transient failure).
        kubelet_version: reported in ``status.nodeInfo`` of the Nodes.
        node_concurrency: Node creations/deletions in flight at once.
        location: the cluster's region and zones it reports (default: the default region).
    """

    name = "kwok"

    def __init__(
        self,
        api: Any,
        *,
        catalog: Catalog | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        clock: Clock | None = None,
        project: str = "kwok-project",
        max_transient_retries: int = 3,
        retry_backoff_s: float = 0.2,
        request_timeout_s: float = 20.0,
        kubelet_version: str = "v1.34.0-kwok",
        node_concurrency: int = 16,
        location: ClusterLocation | None = None,
    ) -> None:
        self.catalog = catalog or load_builtin_catalog()
        self.location = location or configured_location(self.catalog)
        self.namespace = namespace
        self.clock: Clock = clock or SystemClock()
        self.project = project
        self.max_transient_retries = max_transient_retries
        self.kubelet_version = kubelet_version
        self._kube = KubeCalls(
            api,
            clock=self.clock,
            max_transient_retries=max_transient_retries,
            retry_backoff_s=retry_backoff_s,
            request_timeout_s=request_timeout_s,
        )
        self._nodes = PoolNodes(
            self._kube,
            catalog=self.catalog,
            namespace=namespace,
            clock=self.clock,
            kubelet_version=kubelet_version,
            concurrency=node_concurrency,
        )
        self._namespace_ready = False

    # -- Provider ---------------------------------------------------------------------------

    async def cluster_location(self) -> ClusterLocation:
        """The configured region and zones (a kwok cloud has no cluster API to ask)."""
        return self.location

    async def create_node_pool(self, spec: NodePoolSpec) -> NodePool:
        """Create the pool, or complete and return it when it exists with the same shape.

        Raises:
            NodePoolAlreadyExistsError: a pool of that name has another machine type, zone or
                capacity type.
            QuotaExceededError, ReservationUnavailableError, InsufficientCapacityError: the
                request does not fit (nothing is created).
            InvalidRequestError: unknown machine type or zone, or a bad node count.
            ProviderUnavailableError: the API server kept failing.
        """
        machine = self._machine(spec)
        _check_count(spec.node_count, spec.hosts_per_slice, spec.zone)
        await self._ensure_namespace()
        for _ in range(WRITE_ATTEMPTS):
            record = await self._get_pool(spec.name)
            if record is not None and record.deleting:
                await self._finish_delete(record)  # then create it anew
                continue
            if record is not None:
                if record.spec.offering != spec.offering:
                    raise NodePoolAlreadyExistsError(
                        f"Node pool '{spec.name}' already exists as {record.spec.offering}; "
                        f"asked for {spec.offering}.",
                        scope="zone",
                        location=spec.zone,
                        reason="ALREADY_EXISTS",
                    )
                await self._nodes.sync(record)
                return pool_view(record, ready_nodes=record.node_count)
            settings, ledger = await self._ledger()
            picks = ledger.admit(shape_of(spec, machine), spec.node_count)
            body = pool_configmap(
                spec,
                node_count=spec.node_count,
                created_at=self.clock.now(),
                reservations=Counter(p for p in picks if p is not None),
            )
            made = await self._kube.create_configmap(self.namespace, body)
            if made is None:
                continue  # created meanwhile (a retried request): decide again on what exists
            record = PoolRecord.from_configmap(made)
            await self._provisioning_delay(settings, record.node_count)
            await self._nodes.sync(record)
            return pool_view(record, ready_nodes=record.node_count)
        raise lost_races(f"create node pool {spec.name}")

    async def resize_node_pool(self, name: str, *, node_count: int) -> NodePool:
        """Set the desired size and make the Nodes match it.

        Raises:
            NodePoolNotFoundError: no such pool.
            InvalidRequestError: negative count, or not a multiple of the hosts per slice.
            QuotaExceededError, ReservationUnavailableError, InsufficientCapacityError: when
                growing; the pool keeps its size.
        """
        for _ in range(WRITE_ATTEMPTS):
            record = await self._get_pool(name)
            if record is None or record.deleting:
                state = "is being deleted" if record is not None else "not found"
                raise NodePoolNotFoundError(
                    f"Node pool '{name}' {state}.", scope="zone", reason="NOT_FOUND"
                )
            spec = record.spec
            _check_count(node_count, spec.hosts_per_slice, spec.zone)
            delta = node_count - record.node_count
            booked = dict(record.reservations)
            settings: CloudSettings | None = None
            if delta > 0:
                settings, ledger = await self._ledger()
                picks = ledger.admit(shape_of(spec, self._machine(spec)), delta)
                booked = dict(Counter(booked) + Counter(p for p in picks if p is not None))
            elif delta < 0:
                booked = release_reservations(booked, -delta)
            if delta != 0:
                body = pool_configmap(
                    spec,
                    node_count=node_count,
                    created_at=record.created_at,
                    reservations=booked,
                    resource_version=record.resource_version,
                    removing=record.removing,
                )
                replaced = await self._kube.replace_configmap(self.namespace, body)
                if replaced is None:
                    continue  # changed or deleted meanwhile: decide again
                record = PoolRecord.from_configmap(replaced)
            if settings is not None:
                await self._provisioning_delay(settings, delta)
            await self._nodes.sync(record)
            return pool_view(record, ready_nodes=record.node_count)
        raise lost_races(f"resize node pool {name}")

    async def delete_node_pool(self, name: str) -> None:
        """Mark the pool deleting, delete its Nodes, then its ConfigMap. A missing pool is not
        an error; a pool left mid-delete by a crash is finished."""
        for _ in range(WRITE_ATTEMPTS):
            record = await self._get_pool(name)
            if record is None:
                break
            if not record.deleting:
                body = pool_configmap(
                    record.spec,
                    node_count=0,
                    created_at=record.created_at,
                    reservations={},
                    resource_version=record.resource_version,
                    deleting=True,
                )
                marked = await self._kube.replace_configmap(self.namespace, body)
                if marked is None:
                    continue  # changed meanwhile: decide again
                record = PoolRecord.from_configmap(marked)
            await self._finish_delete(record)
            break
        else:
            raise lost_races(f"delete node pool {name}")
        survivor = await self._get_pool(name)  # a pool re-created meanwhile keeps its Nodes
        await self._nodes.delete_except(name, survivor.uid if survivor is not None else None)

    async def delete_nodes(self, pool: str, nodes: Sequence[str]) -> NodePool:
        """Remove the named Nodes from ``pool`` and shrink it by as many; names that are not
        (or no longer) Nodes of the pool are ignored.

        The shrink and the choice of Nodes are one guarded write (the Nodes' uids go into the
        record's ``removing`` set), so a retry after a crash neither shrinks twice nor removes
        other Nodes.

        Raises:
            NodePoolNotFoundError: no such pool (or it is being deleted).
        """
        wanted = set(nodes)
        for _ in range(WRITE_ATTEMPTS):
            record = await self._get_pool(pool)
            if record is None or record.deleting:
                raise NodePoolNotFoundError(
                    f"Node pool '{pool}' not found.", scope="zone", reason="NOT_FOUND"
                )
            listed = await self._kube.list_nodes(self._nodes.selector(pool))
            live = [n for n in listed if owned(n, record)]
            chosen = {n.uid for n in live if n.name in wanted}
            if chosen:
                gone = min(len(chosen), record.node_count)
                still_there = {n.uid for n in listed}
                body = pool_configmap(
                    record.spec,
                    node_count=record.node_count - gone,
                    created_at=record.created_at,
                    reservations=release_reservations(record.reservations, gone),
                    resource_version=record.resource_version,
                    removing=(record.removing & still_there) | chosen,
                )
                replaced = await self._kube.replace_configmap(self.namespace, body)
                if replaced is None:
                    continue  # changed meanwhile: decide again
                record = PoolRecord.from_configmap(replaced)
            await self._nodes.sync(record)
            return pool_view(record, ready_nodes=record.node_count)
        raise lost_races(f"delete nodes of node pool {pool}")

    async def list_node_pools(self) -> Sequence[NodePool]:
        """Every pool of this cloud (read-only: repairs are :meth:`reconcile`'s job), oldest
        first. ``node_count`` is the desired size; ``status`` tells whether the Nodes match."""
        records = await self._pools()
        nodes = await self._kube.list_nodes(self._nodes.selector())
        alive = [n for n in nodes if not n.deleting]
        present = Counter(n.labels.get(POOL_UID_LABEL) for n in alive)
        uids = {n.uid for n in alive}
        return [pool_view(r, ready_nodes=present[r.uid] - len(r.removing & uids)) for r in records]

    async def list_reservations(self) -> Sequence[ReservationCapacity]:
        """Reservations declared in the ``capacity`` ConfigMap, with the VMs pools booked."""
        _, ledger = await self._ledger()
        return ledger.reservation_capacities()

    # -- repair -----------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Make every pool's Nodes match its desired size and delete orphaned Nodes (of pools
        that were deleted). Idempotent; safe to run at any time, for example at startup."""
        records = await self._pools()
        for record in records:
            if record.deleting:
                await self._finish_delete(record)
            else:
                await self._nodes.sync(record)
        live = {r.uid for r in records if not r.deleting}
        nodes = await self._kube.list_nodes(self._nodes.selector())
        orphans = [n for n in nodes if n.labels.get(POOL_UID_LABEL) not in live]
        await self._nodes.delete(orphans)

    # -- settings ---------------------------------------------------------------------------

    async def cloud_settings(self) -> CloudSettings:
        """The capacity model now (no ConfigMap = no limits).

        Raises:
            InvalidRequestError: the ConfigMap's YAML is malformed (message has the field path).
        """
        cm = await self._kube.get_configmap(self.namespace, CAPACITY_CONFIGMAP)
        text = (cm.data or {}).get(CAPACITY_KEY) if cm is not None else None
        origin = f"ConfigMap {self.namespace}/{CAPACITY_CONFIGMAP} data.{CAPACITY_KEY}"
        return parse_settings(text, origin=origin)

    # -- internals --------------------------------------------------------------------------

    async def _ensure_namespace(self) -> None:
        if not self._namespace_ready:  # a cache of a fact, not state: re-checking is harmless
            await self._kube.ensure_namespace(self.namespace)
            self._namespace_ready = True

    def _machine(self, spec: NodePoolSpec) -> MachineType:
        machine = self.catalog.machine_type(spec.machine_type)
        if machine is None or (machine.zones and spec.zone not in machine.zones):
            raise InvalidRequestError(
                f"Machine type '{spec.machine_type}' does not exist in zone '{spec.zone}'.",
                scope="zone",
                location=spec.zone,
                reason="INVALID_ARGUMENT",
            )
        return machine

    async def _get_pool(self, name: str) -> PoolRecord | None:
        cm = await self._kube.get_configmap(self.namespace, name)
        if cm is None or (cm.metadata.labels or {}).get(POOL_MARKER_LABEL) != "true":
            return None
        return PoolRecord.from_configmap(cm)

    async def _pools(self) -> list[PoolRecord]:
        cms = await self._kube.list_configmaps(self.namespace, f"{POOL_MARKER_LABEL}=true")
        records = [PoolRecord.from_configmap(cm) for cm in cms]
        return sorted(records, key=lambda r: (r.created_at, r.name))

    async def _ledger(self) -> tuple[CloudSettings, Ledger]:
        settings = await self.cloud_settings()
        pools = [
            (
                shape_of(r.spec, self.catalog.machine_type(r.spec.machine_type)),
                r.node_count,
                r.reservations,
            )
            for r in await self._pools()
        ]
        return settings, build_ledger(settings, pools, project=self.project)

    async def _provisioning_delay(self, settings: CloudSettings, added: int) -> None:
        if added > 0 and settings.provisioning_delay_s > 0:
            await self.clock.sleep(settings.provisioning_delay_s)

    async def _finish_delete(self, record: PoolRecord) -> None:
        """Delete the Nodes of a pool marked deleting, then its ConfigMap (that incarnation)."""
        await self._nodes.sync(record)
        await self._kube.delete_configmap(self.namespace, record.name, uid=record.uid)


def _check_count(node_count: int, hosts_per_slice: int, zone: str) -> None:
    if node_count < 0 or node_count % max(1, hosts_per_slice):
        raise InvalidRequestError(
            f"node count {node_count} must be >= 0 and a multiple of {hosts_per_slice} "
            "(hosts per TPU slice).",
            scope="zone",
            location=zone,
            reason="INVALID_ARGUMENT",
        )
