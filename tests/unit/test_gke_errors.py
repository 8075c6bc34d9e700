"""translate_error: every way GKE/GCE fails, mapped onto the provider error tree.

Exceptions are built the way google-api-core builds them for gRPC (status-code classes) and
REST (``from_http_status``); the REST path with real response bodies is also exercised against
the emulator in ``test_gke_provider_on_emulator.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import compute_v1, container_v1
from google.rpc import status_pb2

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
from providers.gke.errors import Failure, operation_failed, translate_error

ZONE = "us-central1-a"
EXHAUSTED = (
    "The zone 'projects/p/zones/us-central1-b' does not have enough resources available to "
    "fulfill the request. Try a different zone, or try again later."
)


def failed_operation(code: int, message: str, *conditions: str) -> container_v1.Operation:
    return container_v1.Operation(
        name="operation-1",
        status=container_v1.Operation.Status.DONE,
        status_message=message,
        error=status_pb2.Status(code=code, message=message),
        nodepool_conditions=[
            container_v1.StatusCondition(
                code=getattr(container_v1.StatusCondition.Code, c), message=message
            )
            for c in conditions
        ],
    )


@dataclass(frozen=True)
class Case:
    error: Failure
    kind: type[ProviderError]
    scope: str
    location: str
    reason: str


CASES = {
    "operation stockout names its zone": Case(
        failed_operation(
            8,
            "Not all instances running in IGM after 32m. Current errors: "
            f"[ZONE_RESOURCE_POOL_EXHAUSTED]: Instance 'gke-x' creation failed: {EXHAUSTED}",
            "GCE_STOCKOUT",
        ),
        InsufficientCapacityError,
        "zone",
        "us-central1-b",
        "ZONE_RESOURCE_POOL_EXHAUSTED",
    ),
    "stockout with details": Case(
        failed_operation(8, f"ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: {EXHAUSTED}"),
        InsufficientCapacityError,
        "zone",
        "us-central1-b",
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
    ),
    "GCE_STOCKOUT condition only": Case(
        failed_operation(13, "Resources are temporarily unavailable.", "GCE_STOCKOUT"),
        InsufficientCapacityError,
        "zone",
        ZONE,
        "GCE_STOCKOUT",
    ),
    "VM currently unavailable text": Case(
        gexc.BadRequest(
            "A a3-highgpu-8g VM instance is currently unavailable in the us-central1-c zone."
        ),
        InsufficientCapacityError,
        "zone",
        "us-central1-c",
        "ZONE_RESOURCE_POOL_EXHAUSTED",
    ),
    "stockout behind a 503 is still a stockout": Case(
        gexc.ServiceUnavailable(f"ZONE_RESOURCE_POOL_EXHAUSTED: {EXHAUSTED}"),
        InsufficientCapacityError,
        "zone",
        "us-central1-b",
        "ZONE_RESOURCE_POOL_EXHAUSTED",
    ),
    "operation quota is regional": Case(
        failed_operation(
            8,
            "Insufficient quota to satisfy the request: [QUOTA_EXCEEDED]: Instance 'gke-x' "
            "creation failed: Quota 'NVIDIA_H100_GPUS' exceeded. Limit: 8.0 in region "
            "us-central1.",
            "GCE_QUOTA_EXCEEDED",
        ),
        QuotaExceededError,
        "region",
        "us-central1",
        "QUOTA_EXCEEDED",
    ),
    "synchronous regional quota 403": Case(
        gexc.Forbidden(
            'Insufficient regional quota to satisfy request: resource "NVIDIA_H100_GPUS": '
            "request requires '16.0' and is short '8.0'."
        ),
        QuotaExceededError,
        "region",
        "us-central1",
        "QUOTA_EXCEEDED",
    ),
    "all-regions quota is global": Case(
        failed_operation(
            8, "QUOTA_EXCEEDED: Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 16.0 globally."
        ),
        QuotaExceededError,
        "global",
        "",
        "QUOTA_EXCEEDED",
    ),
    "reservation missing": Case(
        failed_operation(3, "Specified reservation 'h100-res' does not exist."),
        ReservationUnavailableError,
        "zone",
        ZONE,
        "RESERVATION_NOT_FOUND",
    ),
    "reservation full": Case(
        failed_operation(
            8,
            "Specified reservations [projects/p/zones/us-central1-a/reservations/r] do not have "
            "available resources for the request.",
        ),
        ReservationUnavailableError,
        "zone",
        ZONE,
        "RESERVATION_CAPACITY_EXCEEDED",
    ),
    "permission denied is global": Case(
        gexc.PermissionDenied('Required "container.nodePools.create" permission(s).'),
        PermissionDeniedError,
        "global",
        "",
        "PERMISSION_DENIED",
    ),
    "unauthenticated": Case(
        gexc.Unauthenticated("Request had invalid authentication credentials."),
        PermissionDeniedError,
        "global",
        "",
        "UNAUTHENTICATED",
    ),
    "missing application default credentials": Case(
        auth_exc.DefaultCredentialsError("Could not automatically determine credentials."),
        PermissionDeniedError,
        "global",
        "",
        "UNAUTHENTICATED",
    ),
    "invalid argument": Case(
        gexc.InvalidArgument('Invalid value for field "nodePool.config.machineType".'),
        InvalidRequestError,
        "zone",
        ZONE,
        "INVALID_ARGUMENT",
    ),
    "machine type missing in zone": Case(
        gexc.NotFound('Machine type "a3-ultragpu-8g" not found in zone "us-central1-a".'),
        InvalidRequestError,
        "zone",
        ZONE,
        "NOT_FOUND",
    ),
    "node pool missing": Case(
        gexc.NotFound("Not found: projects/p/locations/l/clusters/c/nodePools/np."),
        NodePoolNotFoundError,
        "zone",
        ZONE,
        "NOT_FOUND",
    ),
    "already exists": Case(
        gexc.AlreadyExists("Already exists: projects/p/locations/l/clusters/c/nodePools/np."),
        NodePoolAlreadyExistsError,
        "zone",
        ZONE,
        "ALREADY_EXISTS",
    ),
    "busy cluster is transient": Case(
        gexc.FailedPrecondition("Cluster is running incompatible operation operation-123."),
        ProviderUnavailableError,
        "zone",
        ZONE,
        "CLUSTER_BUSY",
    ),
    "503": Case(
        gexc.ServiceUnavailable("The service is currently unavailable."),
        ProviderUnavailableError,
        "zone",
        ZONE,
        "UNAVAILABLE",
    ),
    "504": Case(
        gexc.DeadlineExceeded("Deadline exceeded."),
        ProviderUnavailableError,
        "zone",
        ZONE,
        "DEADLINE_EXCEEDED",
    ),
    "429 rate limit is not a capacity quota": Case(
        gexc.TooManyRequests(
            "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per "
            "minute' of service 'container.googleapis.com'."
        ),
        ProviderUnavailableError,
        "zone",
        ZONE,
        "RESOURCE_EXHAUSTED",
    ),
    "500 from REST": Case(
        gexc.from_http_status(500, "Internal error encountered."),
        ProviderUnavailableError,
        "zone",
        ZONE,
        "INTERNAL",
    ),
    "client-side timeout": Case(
        TimeoutError(), ProviderUnavailableError, "zone", ZONE, "DEADLINE_EXCEEDED"
    ),
    "connection refused": Case(
        ConnectionRefusedError(111, "Connection refused"),
        ProviderUnavailableError,
        "zone",
        ZONE,
        "UNAVAILABLE",
    ),
    "compute zone operation stockout": Case(
        compute_v1.Operation(
            name="operation-9",
            status=compute_v1.Operation.Status.DONE,
            http_error_status_code=503,
            error=compute_v1.Error(
                errors=[compute_v1.Errors(code="ZONE_RESOURCE_POOL_EXHAUSTED", message=EXHAUSTED)]
            ),
        ),
        InsufficientCapacityError,
        "zone",
        "us-central1-b",
        "ZONE_RESOURCE_POOL_EXHAUSTED",
    ),
    "instance group creation error": Case(
        compute_v1.InstanceManagedByIgmError(
            error=compute_v1.InstanceManagedByIgmErrorManagedInstanceError(
                code="ZONE_RESOURCE_POOL_EXHAUSTED", message=EXHAUSTED
            ),
            timestamp="2026-11-24T10:00:00.000-08:00",
        ),
        InsufficientCapacityError,
        "zone",
        "us-central1-b",
        "ZONE_RESOURCE_POOL_EXHAUSTED",
    ),
    "unknown error keeps the narrowest scope": Case(
        ValueError("surprise"), ProviderError, "zone", ZONE, "UNKNOWN"
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_translate_error_maps_each_failure_to_its_type_scope_and_reason(case: Case) -> None:
    translated = translate_error(case.error, zone=ZONE)
    assert type(translated) is case.kind
    assert (translated.scope, translated.location, translated.reason) == (
        case.scope,
        case.location,
        case.reason,
    )


def test_quota_message_names_the_metric_and_region() -> None:
    error = translate_error(CASES["operation quota is regional"].error, zone=ZONE)
    assert "NVIDIA_H100_GPUS" in error.message
    assert "us-central1" in error.message


def test_permission_denied_says_how_to_fix_it() -> None:
    error = translate_error(CASES["permission denied is global"].error)
    assert "docs/gke.md" in error.message


def test_a_provider_error_passes_through_unchanged() -> None:
    original = InsufficientCapacityError("x", location=ZONE)
    assert translate_error(original) is original


def test_retry_error_is_judged_by_its_cause() -> None:
    cause = gexc.ServiceUnavailable("down")
    wrapped = gexc.RetryError("Deadline of 20.0s exceeded", cause)
    assert isinstance(translate_error(wrapped), ProviderUnavailableError)


def test_long_payloads_are_truncated_in_the_message() -> None:
    error = translate_error(gexc.InvalidArgument("x" * 5000))
    assert len(error.message) < 1000


@pytest.mark.parametrize(
    ("operation", "failed"),
    [
        (container_v1.Operation(status=container_v1.Operation.Status.DONE), False),
        (failed_operation(8, "boom"), True),
        (container_v1.Operation(status_message="legacy error text"), True),
    ],
)
def test_operation_failed_reads_error_and_legacy_status_message(
    operation: container_v1.Operation, failed: bool
) -> None:
    assert operation_failed(operation) is failed
