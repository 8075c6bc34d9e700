"""Translate every GKE / Compute Engine failure into the provider error tree, in one place.

GCE says "no capacity" in many ways, and says it in two places: synchronously, as an HTTP/gRPC
error of the API call, and asynchronously, inside a finished long-running ``Operation``
(``error`` + ``statusMessage`` + node pool conditions). :func:`translate_error` accepts both,
reduces them to one text plus a canonical status code, and classifies by the documented
markers first (capacity and quota errors hide behind generic codes), then by the code.

Payloads this module was written against (quoted because the texts are the contract):

* stockout, finished operation::

    {"error": {"code": 8, "message": "Not all instances running in IGM after 33m...
     ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: Instance 'gke-c-ccc-...' creation failed:
     The zone 'projects/P/zones/us-central1-a' does not have enough resources available to
     fulfill the request. Try a different zone, or try again later."}}

* stockout, node pool condition: ``{"code": "GCE_STOCKOUT", "message": "..."}``;
  ``"A a3-highgpu-8g VM instance is currently unavailable in the us-central1-a zone."``
* quota: ``QUOTA_EXCEEDED: Quota 'NVIDIA_H100_GPUS' exceeded. Limit: 8.0 in region
  us-central1.`` and, synchronously from GKE, ``403 Insufficient regional quota to satisfy
  request: resource "NVIDIA_H100_GPUS": request requires '16.0' and is short '8.0'.``
  ``GPUS_ALL_REGIONS`` is a global quota.
* reservation: ``Specified reservation 'r1' does not exist.`` / ``Specified reservations
  [projects/P/zones/Z/reservations/r1] do not have available resources for the request.``
* busy cluster (transient, GKE serialises some operations per cluster):
  ``400 FAILED_PRECONDITION: Cluster is running incompatible operation operation-123.``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import compute_v1, container_v1

from ccc.api.values import region_of
from providers.errors import (
    InsufficientCapacityError,
    InvalidRequestError,
    NodePoolAlreadyExistsError,
    NodePoolNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    ReservationUnavailableError,
)

#: Stockout markers, most specific first: the first one found becomes ``reason``.
STOCKOUT_MARKERS = (
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
    "ZONE_RESOURCE_POOL_EXHAUSTED",
    "GCE_STOCKOUT",
    "RESOURCE_POOL_EXHAUSTED",
    "does not have enough resources available",
    "is currently unavailable in the",
)
_QUOTA_MARKERS = ("QUOTA_EXCEEDED", "Insufficient regional quota", "Insufficient quota")
#: Quotas that span every region; exceeding them blocks all regions.
GLOBAL_QUOTA_METRICS = frozenset({"GPUS_ALL_REGIONS", "TPUS_ALL_REGIONS"})

_ZONE_RE = re.compile(r"zones/([a-z]+-[a-z]+\d+-[a-z0-9]+)")
_IN_ZONE_RE = re.compile(r"in the ([a-z]+-[a-z]+\d+-[a-z0-9]+) zone")
_QUOTA_METRIC_RE = re.compile(r"Quota '([A-Za-z0-9_\-]+)' exceeded|resource \"([A-Za-z0-9_\-]+)\"")
_REGION_RE = re.compile(r"in region ([a-z]+-[a-z]+\d+)")
_RESERVATION_RE = re.compile(r"reservation", re.IGNORECASE)
_RESERVATION_MISSING_RE = re.compile(r"does not exist|not found|was not found", re.IGNORECASE)
_RESERVATION_FULL_RE = re.compile(
    r"do(?:es)? not have available resources|no available|not enough|is full|exhausted",
    re.IGNORECASE,
)
_RESERVATION_INCOMPATIBLE_RE = re.compile(r"not compatible|incompatible|mismatch", re.IGNORECASE)
_BUSY_RE = re.compile(r"incompatible operation|operation .* is in progress|retry later", re.I)
_RATE_LIMIT_RE = re.compile(r"rateLimitExceeded|Rate Limit Exceeded|RATE_LIMIT", re.IGNORECASE)

#: google.rpc.Code numbers (operation ``error.code``) to names.
_RPC_CODES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
_HTTP_TO_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_TRANSIENT = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL"}
)
#: Codes whose text may mention a reservation without being about it.
_SERVER_SIDE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL"})
_INVALID = frozenset({"INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNIMPLEMENTED"})
_MAX_MESSAGE = 600


@dataclass(frozen=True, slots=True)
class _Failure:
    status: str  # canonical code name: INVALID_ARGUMENT, UNAVAILABLE, ...
    http: int | None
    text: str


Failure = (
    BaseException
    | container_v1.Operation
    | container_v1.NodePool
    | compute_v1.Operation
    | compute_v1.InstanceManagedByIgmError
)


def translate_error(
    err: Failure,
    *,
    zone: str = "",
    region: str = "",
) -> ProviderError:
    """Map an SDK exception or a failed finished operation to a :class:`ProviderError`.

    Args:
        err: a ``google.api_core`` / ``google.auth`` exception, a ``TimeoutError``, a transport
            error, a finished ``container_v1.Operation`` / ``compute_v1.Operation`` (zone
            operation) that carries an error, a node pool in status ``ERROR`` (its
            ``statusMessage`` and conditions), or a managed instance group's VM creation error
            (``instanceGroupManagers.listErrors`` item).
        zone: the zone the call concerned (the pool's zone), used when the payload names none.
        region: the region the call concerned (default: the region of ``zone``).

    Returns:
        The narrowest matching error: stockouts are zonal :class:`InsufficientCapacityError`,
        quota is regional (global for ``*_ALL_REGIONS``) :class:`QuotaExceededError`, unknown
        failures are a zonal plain :class:`ProviderError`. Never raises.
    """
    if isinstance(err, ProviderError):
        return err
    region = region or (region_of(zone) if zone else "")
    failure = _normalise(err)
    text = failure.text
    short = text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."

    stockout = next((m for m in STOCKOUT_MARKERS if m in text), None)
    if stockout is not None:
        where = _zone_in(text) or zone
        reason = stockout if stockout.isupper() else "ZONE_RESOURCE_POOL_EXHAUSTED"
        return InsufficientCapacityError(short, scope="zone", location=where, reason=reason)

    if any(m in text for m in _QUOTA_MARKERS) or re.search(r"Quota '[^']+' exceeded", text):
        metric_match = _QUOTA_METRIC_RE.search(text)
        metric = next((g for g in metric_match.groups() if g), "") if metric_match else ""
        region_match = _REGION_RE.search(text)
        where = region_match.group(1) if region_match else region
        message = f"quota {metric or 'unknown metric'} exceeded in {where or 'unknown region'}: "
        if metric in GLOBAL_QUOTA_METRICS:
            return QuotaExceededError(
                message + short, scope="global", location="", reason="QUOTA_EXCEEDED"
            )
        return QuotaExceededError(
            message + short, scope="region", location=where, reason="QUOTA_EXCEEDED"
        )

    if _RESERVATION_RE.search(text) and failure.status not in _SERVER_SIDE:
        if _RESERVATION_MISSING_RE.search(text):
            return ReservationUnavailableError(
                short, scope="zone", location=zone, reason="RESERVATION_NOT_FOUND"
            )
        if _RESERVATION_FULL_RE.search(text):
            return ReservationUnavailableError(
                short, scope="zone", location=zone, reason="RESERVATION_CAPACITY_EXCEEDED"
            )
        if _RESERVATION_INCOMPATIBLE_RE.search(text):
            return ReservationUnavailableError(
                short, scope="zone", location=zone, reason="RESERVATION_INCOMPATIBLE"
            )

    status = failure.status
    if status == "ALREADY_EXISTS" or (failure.http == 409 and "already exists" in text.lower()):
        return NodePoolAlreadyExistsError(short, scope="zone", location=zone, reason=status)
    if status == "NOT_FOUND":
        if re.search(r"node ?pool", text, re.IGNORECASE):
            return NodePoolNotFoundError(short, scope="zone", location=zone, reason="NOT_FOUND")
        # Cluster, machine type or accelerator type missing (``Machine type "x" not found in
        # zone``): the request is wrong for this zone at least.
        return InvalidRequestError(short, scope="zone", location=zone, reason="NOT_FOUND")
    if status == "FAILED_PRECONDITION" and _BUSY_RE.search(text):
        return ProviderUnavailableError(short, scope="zone", location=zone, reason="CLUSTER_BUSY")
    if status == "PERMISSION_DENIED" and _RATE_LIMIT_RE.search(text):
        return ProviderUnavailableError(short, scope="zone", location=zone, reason="RATE_LIMITED")
    if status in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return PermissionDeniedError(
            f"{short} (grant the roles listed in docs/gke.md to ccc's service account)",
            scope="global",
            reason=status,
        )
    if status in _INVALID:
        return InvalidRequestError(short, scope="zone", location=zone, reason=status)
    if status in _TRANSIENT or (failure.http is not None and failure.http >= 500):
        return ProviderUnavailableError(short, scope="zone", location=zone, reason=status)
    # Unknown: the narrowest scope, so one odd zone never blocks a region.
    return ProviderError(short, scope="zone", location=zone, reason=status or "UNKNOWN")


def _normalise(err: Failure) -> _Failure:
    if isinstance(err, container_v1.Operation):
        return _from_operation(err)
    if isinstance(err, compute_v1.Operation):
        return _from_zone_operation(err)
    if isinstance(err, container_v1.NodePool):
        parts = [err.status_message]
        parts.extend(f"{c.code.name}: {c.message}" for c in err.conditions)
        text = " ".join(p for p in parts if p)
        return _Failure("UNKNOWN", None, text or f"node pool {err.name} is in status ERROR")
    if isinstance(err, compute_v1.InstanceManagedByIgmError):
        # {"error": {"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": "The zone ..."},
        #  "instanceActionDetails": {"action": "CREATING", "instance": "..."}, "timestamp": ...}
        return _Failure("UNKNOWN", None, f"{err.error.code}: {err.error.message}")
    if isinstance(err, gexc.RetryError):
        cause = err.cause
        if cause is not None and cause is not err:
            return _normalise(cause)
        return _Failure("DEADLINE_EXCEEDED", None, str(err))
    if isinstance(err, gexc.GoogleAPICallError):
        return _from_call_error(err)
    if isinstance(err, TimeoutError):
        return _Failure("DEADLINE_EXCEEDED", None, f"timed out: {err}".rstrip(": "))
    if isinstance(err, auth_exc.DefaultCredentialsError):
        return _Failure(
            "UNAUTHENTICATED",
            None,
            f"no Google credentials found ({err}); on GKE bind Workload Identity, elsewhere run "
            "'gcloud auth application-default login'",
        )
    if isinstance(err, auth_exc.RefreshError):
        return _Failure("UNAUTHENTICATED", None, f"credentials could not be refreshed: {err}")
    if isinstance(err, auth_exc.TransportError | ConnectionError | OSError):
        return _Failure("UNAVAILABLE", None, f"{type(err).__name__}: {err}")
    if type(err).__module__.startswith("requests") or "ConnectionError" in type(err).__name__:
        # requests.ConnectionError & friends from the REST transport.
        return _Failure("UNAVAILABLE", None, f"{type(err).__name__}: {err}")
    return _Failure("UNKNOWN", None, f"{type(err).__name__}: {err}")


def _from_call_error(err: gexc.GoogleAPICallError) -> _Failure:
    http = err.code if isinstance(err.code, int) else None
    status = ""
    response: Any = err.response
    if response is not None and hasattr(response, "json"):
        # REST: {"error": {"code": 409, "status": "ALREADY_EXISTS", "message": "..."}}
        try:
            body = response.json()
            status = str(body.get("error", {}).get("status", "")) if isinstance(body, dict) else ""
        except ValueError:
            status = ""
    if not status and err.grpc_status_code is not None:
        status = str(err.grpc_status_code.name)
    if not status and http is not None:
        status = _HTTP_TO_STATUS.get(http, "INTERNAL" if http >= 500 else "UNKNOWN")
    parts = [err.message or ""]
    if err.reason:
        parts.append(f"[{err.reason}]")
    parts.extend(str(e.get("message", "")) for e in err.errors if isinstance(e, dict))
    return _Failure(status or "UNKNOWN", http, " ".join(p for p in parts if p))


def _from_operation(op: container_v1.Operation) -> _Failure:
    code = op.error.code if op.error else 0
    status = _RPC_CODES.get(code, "UNKNOWN")
    parts = [op.error.message if op.error else "", op.status_message]
    for condition in (*op.nodepool_conditions, *op.cluster_conditions):
        # Conditions usually repeat the operation's message; keep only their code then.
        said = any(condition.message and condition.message in p for p in parts)
        parts.append(
            f"[{condition.code.name}]" if said else f"{condition.code.name}: {condition.message}"
        )
    text = " ".join(dict.fromkeys(p for p in parts if p))
    return _Failure(status, None, text or f"operation {op.name} failed without a message")


def _from_zone_operation(op: compute_v1.Operation) -> _Failure:
    # {"error": {"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": "..."}]},
    #  "httpErrorStatusCode": 503, "httpErrorMessage": "SERVICE UNAVAILABLE"}
    http = int(op.http_error_status_code) if op.http_error_status_code else None
    status = _HTTP_TO_STATUS.get(http, "UNKNOWN") if http is not None else "UNKNOWN"
    text = " ".join(f"{e.code}: {e.message}" for e in op.error.errors)
    return _Failure(status, http, text or f"zone operation {op.name} failed")


def operation_failed(op: container_v1.Operation) -> bool:
    """True when a finished operation carries an error.

    GKE fills ``error`` (a ``google.rpc.Status``); older responses only ``statusMessage``, which
    the API documents as "if an error has occurred, a textual description of the error".
    """
    return bool(op.error and op.error.code) or bool(op.status_message)


def _zone_in(text: str) -> str:
    match = _ZONE_RE.search(text) or _IN_ZONE_RE.search(text)
    return match.group(1) if match else ""
