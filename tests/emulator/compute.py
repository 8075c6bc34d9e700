"""The Compute Engine half of the emulator: reservations, machine/accelerator types, MIGs,
zone operations. Mixed into :class:`tests.emulator.state.GKEEmulatorState`, whose fields it
uses; JSON follows Compute's REST conventions (string enums, int64 as strings).
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any, Literal

from tests.emulator.faults import ApiError, Fault

JSON = dict[str, Any]
GCE = "https://www.googleapis.com/compute/v1"


class ComputeMixin:
    """Compute Engine resources of the emulated project."""

    project: str
    zones: tuple[str, ...]
    lock: threading.RLock
    node_pools: dict[str, JSON]
    target_sizes: dict[str, int]
    reservations: dict[tuple[str, str], JSON]
    machine_types: dict[str, list[JSON]]
    accelerator_types: dict[str, list[JSON]]
    zone_operations: dict[tuple[str, str], JSON]
    _ids: itertools.count[int]
    _zone_polls: dict[tuple[str, str], int]

    instances: dict[str, list[str]]
    mig_errors: dict[str, list[JSON]]
    operation_polls: int

    def fault(
        self, method: str, *, pool: str | None = None, zone: str | None = None
    ) -> Fault | None:
        raise NotImplementedError

    def _release(self, pool: JSON, zone: str, nodes: int) -> None:
        raise NotImplementedError

    def _notify(
        self,
        kind: Literal["created", "resized", "deleted"],
        name: str,
        zone: str,
        *,
        pool: JSON | None = None,
    ) -> None:
        raise NotImplementedError

    def _pool_of_igm(self, zone: str, igm: str) -> str | None:
        for pool_name, pool in self.node_pools.items():
            suffix = f"/zones/{zone}/instanceGroupManagers/{igm}"
            if any(url.endswith(suffix) for url in pool.get("instanceGroupUrls", [])):
                return pool_name
        return None

    def delete_instances(self, zone: str, igm: str, body: JSON) -> JSON:
        """``instanceGroupManagers.deleteInstances``: remove the named VMs, shrink the MIG."""
        self.fault("deleteInstances", zone=zone)
        with self.lock:
            pool_name = self._pool_of_igm(zone, igm)
            if pool_name is None:
                raise ApiError(404, "NOT_FOUND", f"The resource '{igm}' was not found")
            wanted = {url.rstrip("/").rsplit("/", 1)[-1] for url in body.get("instances", [])}
            names = self.instances.setdefault(pool_name, [])
            gone = [n for n in names if n in wanted]
            if gone:
                names[:] = [n for n in names if n not in wanted]
                self.target_sizes[pool_name] = len(names)
                self._release(self.node_pools[pool_name], zone, len(gone))
                self._notify("resized", pool_name, zone)
            name = f"operation-{next(self._ids)}-deleteInstances"
            op: JSON = {
                "kind": "compute#operation",
                "id": str(next(self._ids)),
                "name": name,
                "zone": f"{GCE}/projects/{self.project}/zones/{zone}",
                "operationType": "compute.instanceGroupManagers.deleteInstances",
                "status": "RUNNING" if self.operation_polls > 0 else "DONE",
                "progress": 0,
                "targetLink": f"{GCE}/projects/{self.project}/zones/{zone}/"
                f"instanceGroupManagers/{igm}",
                "selfLink": f"{GCE}/projects/{self.project}/zones/{zone}/operations/{name}",
            }
            self.zone_operations[(zone, name)] = op
            self._zone_polls[(zone, name)] = self.operation_polls
            return dict(op)

    def list_errors(self, zone: str, igm: str) -> JSON:
        """``instanceGroupManagers.listErrors``: VM creation errors of the group, newest first."""
        self.fault("listErrors", zone=zone)
        with self.lock:
            pool_name = self._pool_of_igm(zone, igm)
            if pool_name is None:
                raise ApiError(404, "NOT_FOUND", f"The resource '{igm}' was not found")
            items = list(reversed(self.mig_errors.get(pool_name, [])))
        return {"items": items} if items else {}

    def record_mig_error(self, pool: str, zone: str, code: str, message: str) -> None:
        """A VM of ``pool``'s group could not be created (what ``listErrors`` reports)."""
        with self.lock:
            self.mig_errors.setdefault(pool, []).append(
                {
                    "error": {"code": code, "message": message},
                    "instanceActionDetails": {
                        "action": "CREATING",
                        "instance": f"{GCE}/projects/{self.project}/zones/{zone}/instances/"
                        f"gke-{pool}-{next(self._ids):04x}",
                    },
                    "timestamp": f"2026-11-24T00:00:{len(self.mig_errors[pool]) % 60:02d}Z",
                }
            )

    def managed_instances(self, zone: str, igm: str) -> JSON:
        """``instanceGroupManagers.listManagedInstances`` (names only)."""
        with self.lock:
            pool_name = self._pool_of_igm(zone, igm)
            names = self.instances.get(pool_name or "", [])
            return {
                "managedInstances": [
                    {
                        "instance": f"{GCE}/projects/{self.project}/zones/{zone}/instances/{n}",
                        "instanceStatus": "RUNNING",
                    }
                    for n in names
                ]
            }

    def add_reservation(
        self,
        name: str,
        *,
        zone: str,
        machine_type: str,
        count: int,
        in_use: int = 0,
        specific_only: bool = True,
        status: str = "READY",
    ) -> None:
        with self.lock:
            self.reservations[(zone, name)] = {
                "kind": "compute#reservation",
                "id": str(next(self._ids)),
                "name": name,
                "zone": f"{GCE}/projects/{self.project}/zones/{zone}",
                "selfLink": f"{GCE}/projects/{self.project}/zones/{zone}/reservations/{name}",
                "status": status,
                "specificReservationRequired": specific_only,
                "specificReservation": {
                    "count": str(count),
                    "inUseCount": str(in_use),
                    "instanceProperties": {"machineType": machine_type},
                },
            }

    def add_machine_type(
        self,
        name: str,
        *,
        zones: tuple[str, ...],
        guest_cpus: int | None = None,
        memory_mb: int | None = None,
    ) -> None:
        """List ``name`` in ``zones`` (with its shape when given, as Compute reports it)."""
        with self.lock:
            for zone in zones:
                entry: JSON = {
                    "kind": "compute#machineType",
                    "name": name,
                    "zone": zone,
                    "selfLink": f"{GCE}/projects/{self.project}/zones/{zone}/machineTypes/{name}",
                }
                if guest_cpus is not None:
                    entry["guestCpus"] = guest_cpus
                if memory_mb is not None:
                    entry["memoryMb"] = memory_mb
                self.machine_types.setdefault(zone, []).append(entry)

    def add_accelerator_type(self, name: str, *, zones: tuple[str, ...]) -> None:
        with self.lock:
            for zone in zones:
                self.accelerator_types.setdefault(zone, []).append(
                    {"kind": "compute#acceleratorType", "name": name, "zone": zone}
                )

    # -- Compute Engine ---------------------------------------------------------------------

    def aggregated(self, kind: str, name_filter: str | None = None) -> JSON:
        self.fault(kind)
        with self.lock:
            if kind == "reservations":
                by_zone: dict[str, list[JSON]] = {}
                for (zone, _), r in sorted(self.reservations.items()):
                    by_zone.setdefault(zone, []).append(r)
            elif kind == "machineTypes":
                by_zone = dict(self.machine_types)
            else:
                by_zone = dict(self.accelerator_types)
            wanted = _filter_regex(name_filter)
            items: JSON = {}
            for zone in sorted(set(self.zones) | set(by_zone)):
                entries = [e for e in by_zone.get(zone, []) if wanted.fullmatch(e["name"])]
                items[f"zones/{zone}"] = (
                    {kind: entries}
                    if entries
                    else {"warning": {"code": "NO_RESULTS_ON_PAGE", "message": "no results"}}
                )
            return {"kind": f"compute#{kind}AggregatedList", "id": "agg", "items": items}

    def instance_group_manager(self, zone: str, name: str) -> JSON:
        self.fault("igm", zone=zone)
        with self.lock:
            pool_name = self._pool_of_igm(zone, name)
            if pool_name is not None:
                return {
                    "kind": "compute#instanceGroupManager",
                    "name": name,
                    "zone": f"{GCE}/projects/{self.project}/zones/{zone}",
                    "baseInstanceName": name.removesuffix("-grp"),
                    "targetSize": self.target_sizes.get(pool_name, 0),
                }
        raise ApiError(
            404,
            "NOT_FOUND",
            f"The resource 'projects/{self.project}/zones/{zone}/instanceGroupManagers/{name}' "
            "was not found",
        )

    def zone_operation(self, zone: str, name: str) -> JSON:
        self.fault("zoneOperations", zone=zone)
        with self.lock:
            op = self.zone_operations.get((zone, name))
            if op is None:
                raise ApiError(
                    404,
                    "NOT_FOUND",
                    f"The resource 'projects/{self.project}/zones/{zone}/operations/{name}' "
                    "was not found",
                )
            left = self._zone_polls.get((zone, name), 0) - 1
            self._zone_polls[(zone, name)] = left
            if left <= 0:
                op["status"] = "DONE"
                op["progress"] = 100
            return dict(op)

    def list_zone_operations(self, zone: str) -> JSON:
        self.fault("zoneOperations", zone=zone)
        with self.lock:
            items = [op for (z, _), op in sorted(self.zone_operations.items()) if z == zone]
        return {"kind": "compute#operationList", "id": zone, "items": items}

    def _record_zone_stockout(self, zone: str, pool: str, text: str) -> None:
        name = f"operation-{next(self._ids)}-insert"
        self.zone_operations[(zone, name)] = {
            "kind": "compute#operation",
            "name": name,
            "zone": f"{GCE}/projects/{self.project}/zones/{zone}",
            "operationType": "insert",
            "status": "DONE",
            "targetLink": f"{GCE}/projects/{self.project}/zones/{zone}/instances/gke-{pool}-1a2b",
            "error": {"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": text}]},
            "httpErrorStatusCode": 503,
        }


def _filter_regex(name_filter: str | None) -> re.Pattern[str]:
    """Compute's ``name eq "(a|b)"`` filter (RE2 on the whole name); anything else matches all."""
    if name_filter:
        match = re.fullmatch(r'\s*name\s+eq\s+"?(.+?)"?\s*', name_filter)
        if match:
            return re.compile(match.group(1))
    return re.compile(".*")
