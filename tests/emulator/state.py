"""The emulated cluster and project: node pools, operations, reservations, capacity, faults.

Pure state plus the rules GKE/GCE apply, with no HTTP in sight (:mod:`tests.emulator.server`
maps requests onto these methods). Everything is guarded by one lock, so tests may inspect or
change state while the provider calls the server from worker threads.

Behaviour worth knowing:

* Operations stay ``RUNNING`` for ``operation_polls`` polls of ``operations/NAME`` (default 1, so
  the client's polling is exercised), then finish and apply their outcome.
* Capacity is unlimited unless ``set_capacity(zone, machine_type, nodes)`` bounds it; a create
  or grow beyond it finishes with GCE's stockout error. Specific reservations are checked and
  consumed for real (missing -> "does not exist", full -> "do not have available resources").
* ``hooks`` are called with a :class:`PoolEvent` after a create/resize/delete succeeds: the
  seam through which an end-to-end test can materialise nodes (e.g. KWOK) later.
* VMs are named as GKE names them, after their managed instance group
  (``gke-<cluster>-<pool>-<hash>-grp`` holds ``gke-<cluster>-<pool>-<hash>-<suffix>``), and
  each records its creation time (``clock``), from which a flex-start node's
  ``maxRunDuration`` deadline follows. ``config.maxRunDuration`` outside GCE's 30 s .. 120 days
  is refused like GKE refuses it.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tests.emulator.billing import BillingMixin
from tests.emulator.compute import GCE, ComputeMixin
from tests.emulator.faults import (
    CONDITION_CODE,
    RPC_CODE,
    ApiError,
    Fault,
    zone_exhausted_text,
)

JSON = dict[str, Any]
#: How an operation failed: (rpc status name, node pool condition code or None, message).
Outcome = tuple[str, int | None, str] | None
_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_RESERVED_LABEL_RE = re.compile(r"(^|\.)(kubernetes\.io|k8s\.io)/|^cloud\.google\.com/gke-")
# container_v1.Operation.Type / Status / NodePool.Status numbers (enum-encoding=int).
OP_CREATE, OP_DELETE, OP_SET_SIZE = 7, 8, 14
OP_RUNNING, OP_DONE = 2, 3
POOL_PROVISIONING, POOL_RUNNING, POOL_STOPPING, POOL_ERROR = 1, 2, 5, 6
_SPECIFIC = 3
#: GCE's limits of ``scheduling.maxRunDuration`` (30 s .. 120 days).
MIN_RUN_DURATION_S, MAX_RUN_DURATION_S = 30, 120 * 24 * 3600


def duration_seconds(value: object) -> int:
    """Seconds of a JSON ``google.protobuf.Duration`` (``"604800s"``, ``"1.5s"``)."""
    try:
        return int(float(str(value).removesuffix("s")))
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid duration {value!r}.") from None


@dataclass(frozen=True)
class PoolEvent:
    """A node pool change that finished successfully (what a KWOK bridge would act on)."""

    kind: Literal["created", "resized", "deleted"]
    pool: str
    zone: str
    node_count: int
    node_pool: JSON
    #: Names of the pool's VM instances (= Kubernetes node names on GKE) after the change.
    instances: tuple[str, ...] = ()
    #: When each of those VMs was created (GCE's ``creationTimestamp``).
    created: Mapping[str, datetime] = field(default_factory=dict, compare=False)


@dataclass
class _Pending:
    polls_left: int
    finish: Callable[[], Outcome]


@dataclass
class Recorded:
    """One request as the server saw it (``query`` is the raw, decoded query string)."""

    method: str
    path: str
    body: JSON | None
    query: str = ""


@dataclass
class GKEEmulatorState(ComputeMixin, BillingMixin):
    project: str = "test-project"
    location: str = "us-central1"
    cluster: str = "test-cluster"
    zones: tuple[str, ...] = ("us-central1-a", "us-central1-b", "us-central1-c")
    operation_polls: int = 1
    node_pools: dict[str, JSON] = field(default_factory=dict)
    target_sizes: dict[str, int] = field(default_factory=dict)
    instances: dict[str, list[str]] = field(default_factory=dict)
    #: Creation time of every VM in ``instances`` (read from ``clock`` when it is created).
    instance_created: dict[str, datetime] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    mig_errors: dict[str, list[JSON]] = field(default_factory=dict)
    #: GKE's behaviour on resize: the operation succeeds once the group's target size is set;
    #: VMs GCE cannot create show up only in ``instanceGroupManagers.listErrors``.
    deferred_stockouts: bool = False
    operations: dict[str, JSON] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    hooks: list[Callable[[PoolEvent], None]] = field(default_factory=list)
    capacity: dict[tuple[str, str, str | None], int] = field(default_factory=dict)
    reservations: dict[tuple[str, str], JSON] = field(default_factory=dict)
    machine_types: dict[str, list[JSON]] = field(default_factory=dict)
    accelerator_types: dict[str, list[JSON]] = field(default_factory=dict)
    #: Cloud Billing Catalog SKUs of Compute Engine (REST JSON, see tests.emulator.billing).
    skus: list[JSON] = field(default_factory=list)
    zone_operations: dict[tuple[str, str], JSON] = field(default_factory=dict)
    _zone_polls: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    # -- set-up helpers for tests -----------------------------------------------------------

    @property
    def cluster_path(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/clusters/{self.cluster}"

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def set_capacity(
        self, zone: str, machine_type: str, nodes: int, *, model: str | None = None
    ) -> None:
        """Bound how many more nodes of ``machine_type`` GCE can start in ``zone``.

        ``model`` (``spot``, ``flex-start``, ``on-demand``) narrows the bound to one
        provisioning model; ``None`` bounds every model that has no bound of its own.
        """
        with self.lock:
            self.capacity[(zone, machine_type, model)] = nodes

    def add_unmanaged_pool(self, name: str, *, machine_type: str, zone: str, nodes: int) -> None:
        """A pool someone else created (no ccc labels), already running."""
        with self.lock:
            self.node_pools[name] = self._pool_json(
                {"name": name, "config": {"machineType": machine_type}, "locations": [zone]},
                status=POOL_RUNNING,
            )
            self.node_pools[name]["initialNodeCount"] = nodes
            self._resize(name, nodes)

    # -- ClusterManager ---------------------------------------------------------------------

    def fault(
        self, method: str, *, pool: str | None = None, zone: str | None = None
    ) -> Fault | None:
        """Consume the first matching sync fault (raising it) or return an operation fault."""
        with self.lock:
            for f in self.faults:
                if f.matches(method, pool=pool, zone=zone):
                    f.spend()
                    if f.where == "sync":
                        raise ApiError(f.http_status, f.status, f.message, f.details)
                    return f
        return None

    def get_cluster(self) -> JSON:
        """``clusters.get``: the cluster's location (region or zone) and node locations."""
        self.fault("getCluster")
        with self.lock:
            return {
                "name": self.cluster,
                "location": self.location,
                "locations": list(self.zones),
                "zone": self.location,
                "selfLink": f"https://container.googleapis.com/v1/{self.cluster_path}",
                "status": 2,  # RUNNING
                "currentMasterVersion": "1.33.5-gke.1000000",
            }

    def list_pools(self) -> JSON:
        self.fault("list")
        with self.lock:
            pools = [self._with_size(p) for p in self.node_pools.values()]
        return {"nodePools": pools} if pools else {}

    def get_pool(self, name: str) -> JSON:
        pool = self._existing(name, "get")
        return self._with_size(pool)

    def create_pool(self, body: JSON) -> JSON:
        spec = body.get("nodePool") or {}
        name = str(spec.get("name", ""))
        zones = list(spec.get("locations") or self.zones)
        zone = zones[0]
        op_fault = self.fault("create", pool=name, zone=zone)
        self._validate(spec)
        with self.lock:
            if name in self.node_pools:
                raise ApiError(409, "ALREADY_EXISTS", f"Already exists: {self._pool_path(name)}.")
            pool = self._pool_json(spec, status=POOL_PROVISIONING)
            self.node_pools[name] = pool
            self._resize(name, 0)
            wanted = int(spec.get("initialNodeCount") or 0)

            def finish() -> Outcome:
                failure = self._operation_failure(op_fault) or self._obtain(pool, zone, wanted)
                if failure is not None and self._best_effort(spec, pool, zone, wanted, failure):
                    return None
                if failure is not None:
                    pool["status"] = POOL_ERROR
                    pool["statusMessage"] = failure[2]
                    return failure
                pool["status"] = POOL_RUNNING
                self._resize(name, wanted)
                self._notify("created", name, zone)
                return None

            return self._operation(OP_CREATE, name, zone, finish)

    def set_size(self, name: str, body: JSON) -> JSON:
        pool = self._existing(name, "setSize")
        zone = (pool.get("locations") or [""])[0]
        op_fault = self.fault("setSize", pool=name, zone=zone)
        wanted = int(body.get("nodeCount") or 0)
        with self.lock:

            def finish() -> Outcome:
                current = self.target_sizes.get(name, 0)
                failure = self._operation_failure(op_fault)
                if failure is None and wanted > current:
                    failure = self._obtain(pool, zone, wanted - current)
                    if failure is not None and self.deferred_stockouts and failure[1] is not None:
                        text = zone_exhausted_text(self.project, zone)
                        for _ in range(wanted - current):
                            self.record_mig_error(name, zone, "ZONE_RESOURCE_POOL_EXHAUSTED", text)
                        self.target_sizes[name] = wanted  # the group keeps trying
                        self._notify("resized", name, zone)
                        return None
                elif failure is None:
                    self._release(pool, zone, current - wanted)
                if failure is not None:
                    return failure
                self._resize(name, wanted)
                self._notify("resized", name, zone)
                return None

            return self._operation(OP_SET_SIZE, name, zone, finish)

    def delete_pool(self, name: str) -> JSON:
        pool = self._existing(name, "delete")
        zone = (pool.get("locations") or [""])[0]
        op_fault = self.fault("delete", pool=name, zone=zone)
        with self.lock:
            pool["status"] = POOL_STOPPING

            def finish() -> Outcome:
                failure = self._operation_failure(op_fault)
                if failure is not None:
                    return failure
                self._release(pool, zone, self.target_sizes.get(name, 0))
                self.node_pools.pop(name, None)
                self.target_sizes.pop(name, None)
                for gone in self.instances.pop(name, ()):
                    self.instance_created.pop(gone, None)
                self._notify("deleted", name, zone, pool=pool)
                return None

            return self._operation(OP_DELETE, name, zone, finish)

    def get_operation(self, name: str) -> JSON:
        self.fault("getOperation")
        with self.lock:
            op = self.operations.get(name)
            if op is None:
                raise ApiError(404, "NOT_FOUND", f"Not found: operation {name}.")
            pending = self._pending.get(name)
            if pending is not None:
                pending.polls_left -= 1
                if pending.polls_left <= 0:
                    self._complete(name)
            return dict(op)

    # -- internals --------------------------------------------------------------------------

    def _pool_path(self, name: str) -> str:
        return f"{self.cluster_path}/nodePools/{name}"

    def _existing(self, name: str, method: str) -> JSON:
        with self.lock:
            pool = self.node_pools.get(name)
        zone = (pool.get("locations") or [""])[0] if pool else None
        if method in ("get",):
            self.fault(method, pool=name, zone=zone)
        if pool is None:
            raise ApiError(404, "NOT_FOUND", f"Not found: {self._pool_path(name)}.")
        return pool

    def _with_size(self, pool: JSON) -> JSON:
        return dict(pool)

    def _pool_json(self, spec: JSON, *, status: int) -> JSON:
        name = spec["name"]
        zones = list(spec.get("locations") or self.zones)
        pool = dict(spec)
        pool.update(
            {
                "locations": zones,
                "status": status,
                "selfLink": f"https://container.googleapis.com/v1/{self._pool_path(name)}",
                "version": "1.33.5-gke.1000000",
                "instanceGroupUrls": [
                    f"{GCE}/projects/{self.project}/zones/{z}/instanceGroupManagers/"
                    f"{self._group_base(name, i)}-grp"
                    for i, z in enumerate(zones)
                ],
            }
        )
        return pool

    def _validate(self, spec: JSON) -> None:
        name = str(spec.get("name", ""))
        config = spec.get("config") or {}
        if not _NAME_RE.match(name):
            raise ApiError(400, "INVALID_ARGUMENT", f'Invalid node pool name "{name}".')
        if not config.get("machineType"):
            raise ApiError(400, "INVALID_ARGUMENT", "Node pool config must set machineType.")
        for zone in spec.get("locations") or []:
            if zone not in self.zones:
                raise ApiError(400, "INVALID_ARGUMENT", f'Location "{zone}" is not a cluster zone.')
            known = {m["name"] for m in self.machine_types.get(zone, [])}
            if known and config["machineType"] not in known:
                raise ApiError(
                    400,
                    "INVALID_ARGUMENT",
                    f'Machine type "{config["machineType"]}" not found in zone "{zone}".',
                )
        for key in config.get("labels") or {}:
            if _RESERVED_LABEL_RE.search(key):
                # Emulator wording; GKE refuses labels kubelet may not set on itself.
                raise ApiError(
                    400, "INVALID_ARGUMENT", f'Invalid node label key "{key}": reserved prefix.'
                )
        if config.get("spot") and config.get("flexStart"):
            raise ApiError(400, "INVALID_ARGUMENT", "Spot and flex-start are mutually exclusive.")
        if "maxRunDuration" in config:
            seconds = duration_seconds(config["maxRunDuration"])
            if not MIN_RUN_DURATION_S <= seconds <= MAX_RUN_DURATION_S:
                raise ApiError(
                    400,
                    "INVALID_ARGUMENT",
                    f"Invalid value for field 'maxRunDuration': {config['maxRunDuration']!r}. "
                    "Must be between 30s and 10368000s (120 days).",
                )
        if (spec.get("queuedProvisioning") or {}).get("enabled"):
            if not (spec.get("autoscaling") or {}).get("enabled"):
                raise ApiError(400, "INVALID_ARGUMENT", "Queued provisioning requires autoscaling.")
            if int(spec.get("initialNodeCount") or 0) != 0:
                raise ApiError(
                    400, "INVALID_ARGUMENT", "Queued provisioning requires 0 initial nodes."
                )

    def _operation(self, op_type: int, pool: str, zone: str, finish: Callable[[], Outcome]) -> JSON:
        name = f"operation-{next(self._ids)}-{pool}"
        self.operations[name] = {
            "name": name,
            "zone": zone,
            "location": self.location,
            "operationType": op_type,
            "status": OP_RUNNING,
            "selfLink": f"https://container.googleapis.com/v1/projects/{self.project}/locations/{self.location}/operations/{name}",
            "targetLink": f"https://container.googleapis.com/v1/{self._pool_path(pool)}",
            "startTime": "2026-11-24T00:00:00Z",
        }
        self._pending[name] = _Pending(self.operation_polls, finish)
        if self.operation_polls <= 0:
            self._complete(name)
        return dict(self.operations[name])

    def _complete(self, name: str) -> None:
        pending = self._pending.pop(name)
        op = self.operations[name]
        failure = pending.finish()
        op["status"] = OP_DONE
        op["endTime"] = "2026-11-24T00:00:01Z"
        if failure is not None:
            status, condition, message = failure
            op["error"] = {"code": RPC_CODE.get(status, 13), "message": message}
            op["statusMessage"] = message
            if condition is not None:
                op["nodepoolConditions"] = [{"code": condition, "message": message}]

    def _operation_failure(self, fault: Fault | None) -> Outcome:
        if fault is None:
            return None
        condition = CONDITION_CODE[fault.condition] if fault.condition else None
        return (fault.status, condition, fault.message)

    def _obtain(self, pool: JSON, zone: str, nodes: int) -> Outcome:
        """Take ``nodes`` from the pool's reservation and the zone's capacity, or fail."""
        config = pool.get("config") or {}
        affinity = config.get("reservationAffinity") or {}
        reservation: JSON | None = None
        if affinity.get("consumeReservationType") == _SPECIFIC and nodes > 0:
            value = (affinity.get("values") or [""])[0]
            res_name = value.split("/reservations/")[-1].split("/")[0]
            reservation = self.reservations.get((zone, res_name))
            if reservation is None:
                return (
                    "INVALID_ARGUMENT",
                    None,
                    f"Specified reservation '{res_name}' does not exist.",
                )
            specific = reservation["specificReservation"]
            if int(specific["count"]) - int(specific["inUseCount"]) < nodes:
                return (
                    "RESOURCE_EXHAUSTED",
                    None,
                    f"Specified reservations [projects/{self.project}/zones/{zone}/reservations/"
                    f"{res_name}] do not have available resources for the request.",
                )
        elif (key := self._capacity_key(config, zone)) is not None and self.capacity[key] < nodes:
            text = (
                f"The zone 'projects/{self.project}/zones/{zone}' does not have enough resources "
                "available to fulfill the request. Try a different zone, or try again later."
            )
            message = (
                "Not all instances running in IGM after 32m4.5s. Expected "
                f"{nodes}, running 0, transitioning {nodes}. Current errors: "
                f"[ZONE_RESOURCE_POOL_EXHAUSTED]: Instance 'gke-{self.cluster}-{pool['name']}-1a2b'"
                f" creation failed: {text}"
            )
            self._record_zone_stockout(zone, pool["name"], text)
            return ("RESOURCE_EXHAUSTED", CONDITION_CODE["GCE_STOCKOUT"], message)
        if reservation is not None:
            specific = reservation["specificReservation"]
            specific["inUseCount"] = str(int(specific["inUseCount"]) + nodes)
        elif (key := self._capacity_key(config, zone)) is not None:
            self.capacity[key] -= nodes
        return None

    def _best_effort(
        self, spec: JSON, pool: JSON, zone: str, wanted: int, failure: Outcome
    ) -> bool:
        """``bestEffortProvisioning``: a create the zone cannot fill in full succeeds with what
        it has (at least ``minProvisionNodes``); the group keeps its target size and reports the
        VMs it could not create in ``listErrors``. Called with the lock held."""
        best = spec.get("bestEffortProvisioning") or {}
        key = self._capacity_key(pool.get("config") or {}, zone)
        if failure is None or failure[1] is None or not best.get("enabled") or key is None:
            return False
        have = self.capacity[key]
        if not max(1, int(best.get("minProvisionNodes") or 0)) <= have < wanted:
            return False
        self.capacity[key] -= have
        pool["status"] = POOL_RUNNING
        self._resize(pool["name"], have)
        self.target_sizes[pool["name"]] = wanted  # the group keeps trying for the rest
        text = zone_exhausted_text(self.project, zone)
        for _ in range(wanted - have):
            self.record_mig_error(pool["name"], zone, "ZONE_RESOURCE_POOL_EXHAUSTED", text)
        self._notify("created", pool["name"], zone)
        return True

    def _capacity_key(self, config: JSON, zone: str) -> tuple[str, str, str | None] | None:
        machine_type = config.get("machineType", "")
        model = (
            "spot"
            if config.get("spot")
            else "flex-start"
            if config.get("flexStart")
            else ("on-demand")
        )
        for key in ((zone, machine_type, model), (zone, machine_type, None)):
            if key in self.capacity:
                return key
        return None

    def _release(self, pool: JSON, zone: str, nodes: int) -> None:
        config = pool.get("config") or {}
        affinity = config.get("reservationAffinity") or {}
        if affinity.get("consumeReservationType") == _SPECIFIC:
            value = (affinity.get("values") or [""])[0]
            res = self.reservations.get((zone, value.split("/reservations/")[-1].split("/")[0]))
            if res is not None:
                specific = res["specificReservation"]
                specific["inUseCount"] = str(max(0, int(specific["inUseCount"]) - nodes))
        elif (key := self._capacity_key(config, zone)) is not None:
            self.capacity[key] += nodes

    def _resize(self, name: str, nodes: int) -> None:
        """Set the MIG target size; instances are added (new names) or removed (newest first)."""
        names = self.instances.setdefault(name, [])
        base = self._group_base(name, 0)
        while len(names) < nodes:
            names.append(f"{base}-{next(self._ids):04x}")
            self.instance_created[names[-1]] = self.clock()
        for gone in names[nodes:]:
            self.instance_created.pop(gone, None)
        del names[nodes:]
        self.target_sizes[name] = nodes

    def _group_base(self, pool: str, index: int) -> str:
        """GKE's instance group name minus ``-grp``: ``gke-<cluster>-<pool>-<hash>`` (the
        cluster and pool parts truncated as GKE does, so instance names stay <= 63)."""
        return f"gke-{self.cluster[:14]}-{pool[:27]}-{index:04x}"

    def _notify(
        self,
        kind: Literal["created", "resized", "deleted"],
        name: str,
        zone: str,
        *,
        pool: JSON | None = None,
    ) -> None:
        snapshot = dict(pool if pool is not None else self.node_pools[name])
        event = PoolEvent(
            kind,
            name,
            zone,
            self.target_sizes.get(name, 0),
            snapshot,
            tuple(self.instances.get(name, ())),
            {n: self.instance_created[n] for n in self.instances.get(name, ())},
        )
        for hook in list(self.hooks):
            hook(event)
