"""The simulated cloud: an in-memory :class:`~providers.base.Provider` with scripted capacity.

It backs unit and contract tests, the kwok provider (which mirrors its nodes as Kubernetes
Nodes), ``ccc simulate`` and benchmarks. Behaviour it commits to (docs/design/004):

* **Partial, as an instance group.** A create or a resize that adds ``n`` nodes books what
  regional quota (``QuotaExceededError``, region scope), the reservation
  (``ReservationUnavailableError``) and zonal capacity (``InsufficientCapacityError``, zone scope,
  ``ZONE_RESOURCE_POOL_EXHAUSTED``) allow. When not even one node can be booked it raises and
  books nothing. When some can, the call succeeds, the pool reports the size asked for, and
  :meth:`capacity_errors` says why the rest did not come (:mod:`providers.simulated.partial`,
  docs/design/029). Multi-host TPU slices and flex-start pools stay all or nothing.
* **Idempotent.** Creating an existing pool with the same machine type, zone and capacity type
  returns it without consuming capacity; another shape raises ``NodePoolAlreadyExistsError``.
  Deleting a missing pool succeeds.
* **Transient failures are retried inside** (``max_transient_retries`` times, with exponential
  backoff on the injected clock) and surface as ``ProviderUnavailableError`` when exhausted.
  Capacity and quota errors are never retried.
* **Time comes from the injected clock.** Provisioning takes ``provisioning_delay_s`` (the call
  returns when the nodes are ready; a cancelled caller does not undo the request, as with a
  real long-running operation). Scripted changes apply when the clock reaches them.
* Spot capacity that drops below what is running preempts the newest spot nodes (``strict``,
  the default; ``preemption="zero"`` preempts only when capacity reaches 0); flex-start nodes
  are removed at their deadline. Both leave a :class:`Disruption` notice.

Pure in-memory and single-threaded: it never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from ccc.api import labels as well_known
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog
from ccc.api.location import ClusterLocation, configured_location
from ccc.api.values import (
    Accelerator,
    CapacityType,
    NodePool,
    NodePoolSpec,
    ReservationCapacity,
    Taint,
    creates_best_effort,
)
from providers.clock import Clock, SystemClock
from providers.errors import (
    InvalidRequestError,
    NodePoolAlreadyExistsError,
    NodePoolNotFoundError,
    ProviderError,
    ProviderUnavailableError,
)
from providers.simulated.faults import ErrorRule, Faults
from providers.simulated.ledger import Ledger, Reservation
from providers.simulated.model import (
    Call,
    PoolShape,
)
from providers.simulated.partial import admit_best_effort
from providers.simulated.pools import SimPool
from providers.simulated.timeline import PreemptionConvention, Timeline


class SimulatedCloud(Timeline):
    """In-memory cloud implementing :class:`providers.base.Provider` (see module docstring).

    Args:
        clock: where time comes from; defaults to :class:`~providers.clock.SystemClock`.
        default_capacity: nodes obtainable per (machine type, zone, capacity type) unless set
            with :meth:`set_capacity`; ``None`` (default) is unlimited.
        provisioning_delay_s: seconds a create or grow takes before its nodes are ready.
        max_transient_retries: internal retries of a transiently failing call.
        retry_backoff_s: first retry delay; doubles on each retry (0 = retry at once).
        project: the cluster's project (owner of reservations created without one).
        catalog: when given, machine types and zones are validated against it
            (``InvalidRequestError``) and pools get the machine type's accelerator.
        location: the cluster's region and zones it reports (:meth:`cluster_location`).
        preemption: ``"strict"`` (default) or ``"zero"``, see
            :data:`~providers.simulated.timeline.PreemptionConvention`.
    """

    name = "simulated"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        default_capacity: int | None = None,
        provisioning_delay_s: float = 0.0,
        max_transient_retries: int = 3,
        retry_backoff_s: float = 0.0,
        project: str = "sim-project",
        catalog: Catalog | None = None,
        location: ClusterLocation | None = None,
        preemption: PreemptionConvention = "strict",
    ) -> None:
        self.location = location
        self.default_capacity = default_capacity
        self.provisioning_delay_s = provisioning_delay_s
        self.max_transient_retries = max_transient_retries
        self.retry_backoff_s = retry_backoff_s
        self.project = project
        self.catalog = catalog
        super().__init__(clock or SystemClock(), self._new_ledger(), preemption=preemption)
        self.faults = Faults()
        self.calls: list[Call] = []
        self.transient_retries = 0

    def reset(self) -> None:
        """Back to a fresh cloud with the constructor's settings: no pools, limits, quota,
        reservations, scripted changes, injected failures, notices or recorded calls.
        :attr:`start`, :meth:`on_disruption` and :meth:`on_change` subscribers are kept."""
        start, subscribers, watchers = self.start, self._subscribers, self._watchers
        super().__init__(self.clock, self._new_ledger(), preemption=self.preemption)
        self.start, self._subscribers, self._watchers = start, subscribers, watchers
        self.faults = Faults()
        self.calls = []
        self.transient_retries = 0

    def _new_ledger(self) -> Ledger:
        return Ledger(default_capacity=self.default_capacity, project=self.project)

    # -- Provider ---------------------------------------------------------------------------

    async def cluster_location(self) -> ClusterLocation:
        """The configured location; without one, the default region (its catalog zones)."""
        if self.location is not None:
            return self.location
        return configured_location(self.catalog or load_builtin_catalog())

    async def create_node_pool(self, spec: NodePoolSpec) -> NodePool:
        """Create the pool, or return it when it exists with the same shape (no new capacity).

        Raises:
            NodePoolAlreadyExistsError: a pool of that name exists with another shape.
            QuotaExceededError, ReservationUnavailableError, InsufficientCapacityError: see
                the module docstring; nothing is created.
            InvalidRequestError: bad node count, reservation affinity or catalog entry.
            ProviderUnavailableError: transient failures outlasted the retries, or the
                ``allowed_create_calls`` budget is spent (reason ``CREATE_CALL_BUDGET_EXHAUSTED``).
        """
        await self._begin("create_node_pool", {"spec": spec})
        shape = self._shape(spec)
        existing = self._pools.get(spec.name)
        if existing is not None:
            if existing.same_shape(shape):
                return existing.view(self.clock.now())
            raise NodePoolAlreadyExistsError(
                f"Node pool '{spec.name}' already exists as {existing.shape.machine_type} "
                f"{existing.shape.capacity_type.value} in {existing.shape.zone}; asked for "
                f"{shape.machine_type} {shape.capacity_type.value} in {shape.zone}.",
                scope="zone",
                location=spec.zone,
                reason="ALREADY_EXISTS",
            )
        _check_count(spec.node_count, spec.hosts_per_slice, spec.zone)
        self._raise_injected(shape)
        if not self.faults.take_create_budget():
            raise ProviderUnavailableError(
                "allowed_create_calls budget exhausted (injected)",
                scope="global",
                reason="CREATE_CALL_BUDGET_EXHAUSTED",
            )
        admitted = admit_best_effort(self.ledger, shape, spec.node_count, partial=spec.best_effort)
        now = self.clock.now()
        ready = now + timedelta(seconds=self.provisioning_delay_s)
        pool = SimPool(
            name=spec.name,
            shape=shape,
            labels=dict(spec.labels),
            taints=spec.taints,
            class_name=spec.class_name,
            rule_index=spec.rule_index,
            hosts_per_slice=spec.hosts_per_slice,
            max_run_duration_s=spec.max_run_duration_s,
            best_effort=spec.best_effort,
            created_ready_at=ready,
        )
        self._insert_pool(pool)
        pool.fell_short(admitted.error, spec.node_count - len(admitted.picks), now)
        self._add_nodes(pool, admitted.picks, now, ready)
        await self._await_ready()
        return pool.view(self.clock.now())

    async def resize_node_pool(self, name: str, *, node_count: int) -> NodePool:
        """Set the pool's size: growing books capacity like create (partly, when only part of
        it is there); shrinking removes the newest nodes first and ends any shortfall.

        Raises:
            NodePoolNotFoundError: no such pool.
            InvalidRequestError: negative count, or not a multiple of the hosts per slice.
            QuotaExceededError, ReservationUnavailableError, InsufficientCapacityError: when
                growing and not one node can be booked; the pool keeps its size.
        """
        await self._begin("resize_node_pool", {"name": name, "node_count": node_count})
        pool = self._pools.get(name)
        if pool is None:
            raise NodePoolNotFoundError(
                f"Node pool '{name}' not found.", scope="zone", reason="NOT_FOUND"
            )
        _check_count(node_count, pool.hosts_per_slice, pool.shape.zone)
        delta = node_count - len(pool.nodes)
        now = self.clock.now()
        if delta > 0:
            self._raise_injected(pool.shape)
            admitted = admit_best_effort(
                self.ledger,
                pool.shape,
                delta,
                partial=pool.best_effort,
            )
            ready = now + timedelta(seconds=self.provisioning_delay_s)
            pool.fell_short(admitted.error, delta - len(admitted.picks), now)
            self._add_nodes(pool, admitted.picks, now, ready)
            await self._await_ready()
            return pool.view(self.clock.now())
        short = pool.shortfall
        pool.fell_short(None, 0, now)
        for node in pool.newest_first()[:-delta] if delta < 0 else ():
            self._remove_node(pool, node, None, now)
        if short and not delta:
            self._changed()
        return pool.view(self.clock.now())

    async def delete_nodes(self, pool: str, nodes: Sequence[str]) -> NodePool:
        """Remove the named nodes from ``pool`` (their capacity is given back); names that are
        not in the pool are ignored.

        Raises:
            NodePoolNotFoundError: no such pool.
        """
        await self._begin("delete_nodes", {"pool": pool, "nodes": tuple(nodes)})
        record = self._pools.get(pool)
        if record is None:
            raise NodePoolNotFoundError(
                f"Node pool '{pool}' not found.", scope="zone", reason="NOT_FOUND"
            )
        now = self.clock.now()
        wanted = set(nodes)
        for node in record.newest_first():
            if node.name in wanted:
                self._remove_node(record, node, None, now)
        return record.view(self.clock.now())

    async def delete_node_pool(self, name: str) -> None:
        """Delete the pool and its nodes (capacity is given back). Missing pools are fine."""
        await self._begin("delete_node_pool", {"name": name})
        pool = self._pools.pop(name, None)
        if pool is None:
            return
        self._by_offering[pool.shape.offering].pop(name, None)
        now = self.clock.now()
        for node in pool.newest_first():
            self._remove_node(pool, node, None, now)
        self._changed()

    async def list_node_pools(self) -> Sequence[NodePool]:
        """Every pool, managed or not, in creation order."""
        await self._begin("list_node_pools", {})
        now = self.clock.now()
        return [p.view(now) for p in self._pools.values()]

    async def capacity_errors(
        self, name: str, *, since: datetime | None = None
    ) -> Sequence[ProviderError]:
        """Why VMs a create or grow asked for did not come, newest first (as GKE's
        ``instanceGroupManagers.listErrors``); errors before ``since`` are left out.

        Raises:
            NodePoolNotFoundError: no such pool.
        """
        await self._begin("capacity_errors", {"name": name})
        pool = self._pools.get(name)
        if pool is None:
            raise NodePoolNotFoundError(
                f"Node pool '{name}' not found.", scope="zone", reason="NOT_FOUND"
            )
        return [e.error for e in reversed(pool.errors) if since is None or e.at >= since]

    async def list_reservations(self) -> Sequence[ReservationCapacity]:
        """Every reservation with its size and the nodes consuming it."""
        await self._begin("list_reservations", {})
        return self.ledger.reservation_capacities()

    # -- failure injection (delegates to :class:`~providers.simulated.faults.Faults`) ----------

    def fail_next(self, error: ProviderError, *, method: str | None = None) -> None:
        """The next call of ``method`` (any provider method when ``None``) raises ``error``."""
        self.faults.fail_next(error, method=method)

    def errors_for(
        self,
        *,
        zone: str | None = None,
        machine_type: str | None = None,
        capacity_type: CapacityType | None = None,
        error: ProviderError | None = None,
        times: int | None = None,
    ) -> ErrorRule:
        """Creates/grows matching every given filter raise ``error`` (default: a stockout of
        the call's zone), ``times`` times or until :meth:`Faults.remove_rule`."""
        return self.faults.errors_for(
            zone=zone,
            machine_type=machine_type,
            capacity_type=capacity_type,
            error=error,
            times=times,
        )

    def fail_transiently(self, attempts: int) -> None:
        """The next ``attempts`` call attempts fail transiently (retried inside, see above)."""
        self.faults.fail_transiently(attempts)

    @property
    def allowed_create_calls(self) -> int | None:
        """Pools that may still be created (``None`` = no budget); then creates raise."""
        return self.faults.allowed_create_calls

    @allowed_create_calls.setter
    def allowed_create_calls(self, budget: int | None) -> None:
        self.faults.allowed_create_calls = budget

    # -- seeding and limits -----------------------------------------------------------------

    def add_existing_pool(
        self,
        name: str,
        *,
        machine_type: str,
        zone: str,
        capacity_type: CapacityType = CapacityType.ON_DEMAND,
        node_count: int = 0,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Taint] = (),
        accelerator: Accelerator | None = None,
    ) -> NodePool:
        """Seed a pool that exists before ccc runs (unmanaged unless ``labels`` carry
        ``app.kubernetes.io/managed-by: ccc``). Its nodes are ready at once and are booked
        against capacity, quota and reservations without being refused."""
        if name in self._pools:
            raise NodePoolAlreadyExistsError(f"Node pool '{name}' already exists.")
        shape = PoolShape(machine_type, zone, capacity_type, accelerator)
        labels = dict(labels or {})
        managed = labels.get(well_known.MANAGED_BY_LABEL) == well_known.MANAGED_BY_VALUE
        now = self.clock.now()
        pool = SimPool(
            name=name,
            shape=shape,
            labels=labels,
            taints=tuple(taints),
            class_name=labels.get(well_known.CLASS_LABEL) if managed else None,
            rule_index=None,
            hosts_per_slice=1,
            max_run_duration_s=None,
            best_effort=creates_best_effort(
                capacity_type, hosts_per_slice=1, reservation=None, queued_provisioning=False
            ),
            created_ready_at=now,
        )
        self._insert_pool(pool)
        self._add_nodes(pool, self.ledger.admit(shape, node_count, check=False), now, now)
        return pool.view(now)

    def add_reservation(
        self,
        name: str,
        *,
        zone: str,
        machine_type: str,
        count: int,
        project: str | None = None,
        specific_only: bool = True,
    ) -> None:
        """Create (or replace) a reservation of ``count`` VMs of ``machine_type`` in ``zone``."""
        key = self.ledger.reservation_key(name, project)
        in_use = self.ledger.reservations[key].in_use if key in self.ledger.reservations else 0
        self.ledger.add_reservation(
            Reservation(
                name, project or self.project, zone, machine_type, count, specific_only, in_use
            )
        )

    def set_quota(self, region: str, metric: str, limit: int | None) -> None:
        """Limit a regional quota metric (see :func:`~providers.simulated.ledger.quota_metrics`);
        ``None`` removes the limit."""
        if limit is None:
            self.ledger.quota_limits.pop((region, metric), None)
        else:
            self.ledger.quota_limits[(region, metric)] = limit

    def quota_usage(self, region: str, metric: str) -> int:
        return self.ledger.quota_usage[(region, metric)]

    # -- internals --------------------------------------------------------------------------

    async def _begin(self, method: str, args: Mapping[str, object]) -> None:
        """Catch up with the clock, record the call, play injected API failures."""
        self.apply_due_events()
        self.calls.append(Call(method, args))
        retries = 0
        while self.faults.take_transient():
            if retries >= self.max_transient_retries:
                raise ProviderUnavailableError(
                    f"{method}: the service is currently unavailable "
                    f"(gave up after {retries} retries)",
                    scope="global",
                    reason="UNAVAILABLE",
                )
            backoff = self.retry_backoff_s * 2**retries
            retries += 1
            self.transient_retries += 1
            if backoff > 0:
                await self.clock.sleep(backoff)
                self.apply_due_events()
        error = self.faults.take_next(method)
        if error is not None:
            raise error

    async def _await_ready(self) -> None:
        if self.provisioning_delay_s > 0:
            await self.clock.sleep(self.provisioning_delay_s)
        self.apply_due_events()

    def _raise_injected(self, shape: PoolShape) -> None:
        error = self.faults.match(shape)
        if error is not None:
            raise error

    def _shape(self, spec: NodePoolSpec) -> PoolShape:
        accelerator = spec.accelerator
        if self.catalog is not None:
            machine = self.catalog.machine_type(spec.machine_type)
            if machine is None or (machine.zones and spec.zone not in machine.zones):
                raise InvalidRequestError(
                    f"Machine type '{spec.machine_type}' does not exist in zone '{spec.zone}'.",
                    scope="zone",
                    location=spec.zone,
                    reason="INVALID_ARGUMENT",
                )
            accelerator = accelerator or machine.accelerator
        return PoolShape(
            spec.machine_type, spec.zone, spec.capacity_type, accelerator, spec.reservation
        )


def _check_count(node_count: int, hosts_per_slice: int, zone: str) -> None:
    if node_count < 0 or node_count % max(1, hosts_per_slice):
        raise InvalidRequestError(
            f"node count {node_count} must be >= 0 and a multiple of {hosts_per_slice} "
            "(hosts per TPU slice).",
            scope="zone",
            location=zone,
            reason="INVALID_ARGUMENT",
        )
