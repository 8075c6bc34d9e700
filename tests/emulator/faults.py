"""Faults the emulator injects, with the texts GKE and Compute Engine really send.

A :class:`Fault` matches calls by API method (``create``, ``setSize``, ``delete``, ``get``,
``list``, ``getOperation``, ``reservations``, ...), optionally by pool name and zone, for a
number of ``times`` (``None`` = forever). It fires either synchronously (an HTTP error with a
``{"error": {"code", "status", "message"}}`` body, as Google APIs send) or inside the operation
the call started (the operation finishes ``DONE`` with ``error`` and ``statusMessage`` set, and
the node pool ends in status ``ERROR``).

The factory functions below build the faults the provider must understand; their messages
are copied from GCE/GKE error payloads (see ``providers/gke/errors.py`` for the quotes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Where = Literal["sync", "operation"]

#: google.rpc.Code numbers used in operation errors.
RPC_CODE = {
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
}
#: container_v1.StatusCondition.Code numbers (the emulator answers with enum-encoding=int).
CONDITION_CODE = {"GCE_STOCKOUT": 1, "GCE_QUOTA_EXCEEDED": 3}


class ApiError(Exception):
    """A synchronous Google API error: HTTP status + ``{"error": {...}}`` body."""

    def __init__(
        self,
        http_status: int,
        status: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


@dataclass
class Fault:
    """One injected failure. ``times`` counts down on every match; 0 = spent."""

    method: str
    message: str
    status: str = "FAILED_PRECONDITION"
    http_status: int = 400
    where: Where = "sync"
    pool: str | None = None
    zone: str | None = None
    times: int | None = 1
    #: node pool condition attached to a failed operation (``GCE_STOCKOUT``).
    condition: str | None = None
    #: extra ``details`` entries of a sync error body (``google.rpc.ErrorInfo`` etc.).
    details: list[dict[str, object]] = field(default_factory=list)

    def matches(self, method: str, *, pool: str | None, zone: str | None) -> bool:
        if self.times == 0 or self.method not in (method, "*"):
            return False
        if self.pool is not None and self.pool != pool:
            return False
        return self.zone is None or self.zone == zone

    def spend(self) -> None:
        if self.times is not None:
            self.times -= 1


def zone_exhausted_text(project: str, zone: str) -> str:
    return (
        f"The zone 'projects/{project}/zones/{zone}' does not have enough resources available "
        "to fulfill the request. Try a different zone, or try again later."
    )


def stockout(
    zone: str,
    *,
    project: str = "test-project",
    marker: str = "ZONE_RESOURCE_POOL_EXHAUSTED",
    where: Where = "operation",
    method: str = "create",
    pool: str | None = None,
    times: int | None = 1,
    http_status: int = 400,
    status: str = "FAILED_PRECONDITION",
) -> Fault:
    """A stockout in ``zone``; ``marker`` is ``ZONE_RESOURCE_POOL_EXHAUSTED``,
    ``ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS`` or ``GCE_STOCKOUT`` (condition only)."""
    text = zone_exhausted_text(project, zone)
    if marker == "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS":
        text = text.rstrip(".") + ". '(resource type:compute)'."
    if marker == "GCE_STOCKOUT":
        message = (
            "Not all instances running in IGM after 32m4.5s. Expected 1, running 0, "
            "transitioning 1. Current errors: [GCE_STOCKOUT]: Resources are temporarily "
            f"unavailable in zone {zone}."
        )
        condition: str | None = "GCE_STOCKOUT"
    else:
        message = (
            "Not all instances running in IGM after 32m4.5s. Expected 1, running 0, "
            f"transitioning 1. Current errors: [{marker}]: Instance 'gke-test-cluster-pool-1a2b' "
            f"creation failed: {text}"
        )
        condition = "GCE_STOCKOUT"
    if where == "sync":
        message = f"{marker}: {text}"
        condition = None
    return Fault(
        method=method,
        message=message,
        status=status if where == "sync" else "RESOURCE_EXHAUSTED",
        http_status=http_status,
        where=where,
        pool=pool,
        zone=zone,
        times=times,
        condition=condition,
    )


def quota_exceeded(
    region: str = "us-central1",
    *,
    metric: str = "NVIDIA_H100_GPUS",
    limit: float = 8.0,
    where: Where = "operation",
    method: str = "create",
    zone: str | None = None,
    times: int | None = 1,
) -> Fault:
    """``QUOTA_EXCEEDED`` for ``metric`` in ``region`` (operation) or GKE's synchronous 403."""
    if where == "sync":
        return Fault(
            method=method,
            message=(
                f'Insufficient regional quota to satisfy request: resource "{metric}": request '
                f"requires '{limit * 2:.1f}' and is short '{limit:.1f}'. project has a quota of "
                f"'{limit:.1f}' with '{limit:.1f}' available. View and manage quotas at "
                "https://console.cloud.google.com/iam-admin/quotas?usage=USED&project=test-project."
            ),
            status="PERMISSION_DENIED",
            http_status=403,
            where="sync",
            zone=zone,
            times=times,
        )
    return Fault(
        method=method,
        message=(
            "Insufficient quota to satisfy the request: Not all instances running in IGM after "
            "20.4s. Expected 1, running 0, transitioning 1. Current errors: [QUOTA_EXCEEDED]: "
            f"Instance 'gke-test-cluster-pool-1a2b' creation failed: Quota '{metric}' exceeded. "
            f"Limit: {limit:.1f} in region {region}."
        ),
        status="RESOURCE_EXHAUSTED",
        where="operation",
        zone=zone,
        times=times,
        condition="GCE_QUOTA_EXCEEDED",
    )


def reservation_missing(name: str, *, zone: str | None = None, times: int | None = 1) -> Fault:
    """A create that names a reservation that does not exist."""
    return Fault(
        method="create",
        message=f"Specified reservation '{name}' does not exist.",
        status="INVALID_ARGUMENT",
        where="operation",
        zone=zone,
        times=times,
    )


def reservation_full(
    name: str, *, zone: str, project: str = "test-project", times: int | None = 1
) -> Fault:
    """A create whose specific reservation has no unused capacity left."""
    return Fault(
        method="create",
        message=(
            f"Specified reservations [projects/{project}/zones/{zone}/reservations/{name}] do "
            "not have available resources for the request."
        ),
        status="RESOURCE_EXHAUSTED",
        where="operation",
        zone=zone,
        times=times,
    )


def permission_denied(
    method: str = "create", permission: str = "container.nodePools.create"
) -> Fault:
    return Fault(
        method=method,
        message=(
            f'Required "{permission}" permission(s) for '
            '"projects/test-project/locations/us-central1/clusters/test-cluster".'
        ),
        status="PERMISSION_DENIED",
        http_status=403,
    )


def invalid_argument(message: str, method: str = "create") -> Fault:
    return Fault(method=method, message=message, status="INVALID_ARGUMENT", http_status=400)


def transient(http_status: int = 503, *, method: str = "*", times: int | None = 1) -> Fault:
    """503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, 500 INTERNAL or 429 rate limiting."""
    status, message = {
        429: (
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per "
            "minute' of service 'container.googleapis.com' for consumer 'project_number:123'.",
        ),
        500: ("INTERNAL", "Internal error encountered."),
        503: ("UNAVAILABLE", "The service is currently unavailable."),
        504: ("DEADLINE_EXCEEDED", "Deadline exceeded."),
    }[http_status]
    details: list[dict[str, object]] = []
    if http_status == 429:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
            }
        ]
    return Fault(
        method=method,
        message=message,
        status=status,
        http_status=http_status,
        times=times,
        details=details,
    )


def failing_operation(message: str = "Internal error.", *, method: str = "create") -> Fault:
    """An operation that finishes with a non-capacity error (``INTERNAL``)."""
    return Fault(method=method, message=message, status="INTERNAL", where="operation")
