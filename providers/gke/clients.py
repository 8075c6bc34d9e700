"""Construct the Google API clients the GKE provider uses, with the right credentials.

Production: Application Default Credentials (``google.auth.default``), which on GKE resolve to
the Workload Identity of ccc's Kubernetes service account; nothing secret is read from ccc's
config and credentials are never logged. Tests: anonymous credentials and a plain-HTTP
``endpoint`` pointing at the loopback emulator.

Transport: ClusterManager uses gRPC by default (the library's default) or REST with
``transport="rest"``; the emulator serves both, so both are tested. Compute Engine clients are
REST only; the Cloud Billing Catalog client (live prices) uses REST too, so the emulator serves
it on the same port. See docs/design/005-gke-provider.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import google.auth
import grpc  # type: ignore[import-untyped]  # no stubs published
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import billing_v1, compute_v1, container_v1
from google.cloud.billing_v1.services.cloud_catalog.transports import CloudCatalogRestTransport
from google.cloud.compute_v1.services.accelerator_types.transports import (
    AcceleratorTypesRestTransport,
)
from google.cloud.compute_v1.services.instance_group_managers.transports import (
    InstanceGroupManagersRestTransport,
)
from google.cloud.compute_v1.services.machine_types.transports import MachineTypesRestTransport
from google.cloud.compute_v1.services.reservations.transports import ReservationsRestTransport
from google.cloud.compute_v1.services.zone_operations.transports import (
    ZoneOperationsRestTransport,
)
from google.cloud.container_v1.services.cluster_manager.transports import (
    ClusterManagerGrpcTransport,
    ClusterManagerRestTransport,
)

from providers.gke.config import GKEConfig

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


@dataclass(frozen=True, slots=True)
class GoogleClients:
    """Every client the provider calls. Build once per provider; thread-safe for calls."""

    cluster_manager: container_v1.ClusterManagerClient
    reservations: compute_v1.ReservationsClient
    machine_types: compute_v1.MachineTypesClient
    accelerator_types: compute_v1.AcceleratorTypesClient
    instance_group_managers: compute_v1.InstanceGroupManagersClient
    zone_operations: compute_v1.ZoneOperationsClient
    cloud_catalog: billing_v1.CloudCatalogClient


def credentials_for(config: GKEConfig) -> Credentials:
    """Anonymous for the emulator, otherwise Application Default Credentials.

    Raises:
        google.auth.exceptions.DefaultCredentialsError: no ADC found (translated by callers).
    """
    if config.anonymous:
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    credentials, _project = google.auth.default(scopes=list(SCOPES))
    return credentials


def build_clients(config: GKEConfig, credentials: Credentials | None = None) -> GoogleClients:
    """Create the clients for ``config`` (no network I/O happens here)."""
    creds = credentials if credentials is not None else credentials_for(config)
    scheme = "http" if config.insecure_http else "https"
    compute_host = config.endpoint or "compute.googleapis.com"

    container_host = config.container_endpoint or config.endpoint or "container.googleapis.com"
    if config.transport == "grpc" and config.insecure_http:
        # Plaintext gRPC to a loopback emulator: no TLS, no call credentials.
        channel = grpc.insecure_channel(container_host)
        cluster_manager = container_v1.ClusterManagerClient(
            transport=ClusterManagerGrpcTransport(channel=channel)
        )
    elif config.transport == "grpc":
        grpc_transport = ClusterManagerGrpcTransport(host=container_host, credentials=creds)
        cluster_manager = container_v1.ClusterManagerClient(transport=grpc_transport)
    else:
        rest_transport = ClusterManagerRestTransport(
            host=container_host, credentials=creds, url_scheme=scheme
        )
        cluster_manager = container_v1.ClusterManagerClient(transport=rest_transport)

    return GoogleClients(
        cluster_manager=cluster_manager,
        reservations=compute_v1.ReservationsClient(
            transport=ReservationsRestTransport(
                host=compute_host, credentials=creds, url_scheme=scheme
            )
        ),
        machine_types=compute_v1.MachineTypesClient(
            transport=MachineTypesRestTransport(
                host=compute_host, credentials=creds, url_scheme=scheme
            )
        ),
        accelerator_types=compute_v1.AcceleratorTypesClient(
            transport=AcceleratorTypesRestTransport(
                host=compute_host, credentials=creds, url_scheme=scheme
            )
        ),
        instance_group_managers=compute_v1.InstanceGroupManagersClient(
            transport=InstanceGroupManagersRestTransport(
                host=compute_host, credentials=creds, url_scheme=scheme
            )
        ),
        zone_operations=compute_v1.ZoneOperationsClient(
            transport=ZoneOperationsRestTransport(
                host=compute_host, credentials=creds, url_scheme=scheme
            )
        ),
        cloud_catalog=billing_v1.CloudCatalogClient(
            transport=CloudCatalogRestTransport(
                host=config.billing_endpoint or config.endpoint or "cloudbilling.googleapis.com",
                credentials=creds,
                url_scheme=scheme,
            )
        ),
    )
