"""Where the GKE provider points and how patient it is.

One frozen value, built once at start-up (from flags or the Helm values), never containing a
secret: credentials come from Application Default Credentials / Workload Identity at run time
(:mod:`providers.gke.clients`). ``endpoint`` + ``insecure_http`` + ``anonymous`` exist for the
local emulator in ``tests/emulator`` and are refused in any other combination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ccc.api.errors import ConfigError

Transport = Literal["rest", "grpc"]


@dataclass(frozen=True, slots=True)
class GKEConfig:
    """The cluster ccc manages and the timing of calls against it.

    Attributes:
        project: GCP project id that owns the cluster (``my-project``).
        location: the cluster's location, a region (regional cluster) or a zone.
        cluster: the cluster name.
        transport: ``grpc`` (default, as in google-cloud-container) or ``rest`` for the
            ClusterManager API; the emulator tests run both. Compute Engine is REST only.
        endpoint: ``host:port`` override for both APIs (tests); ``None`` = Google's endpoints.
        container_endpoint: ``host:port`` override for ClusterManager only (an emulator's gRPC
            port); defaults to ``endpoint``.
        insecure_http: no TLS: plain HTTP (REST) or plaintext gRPC to the endpoints (only for a
            loopback emulator).
        anonymous: use anonymous credentials (only with ``endpoint``).
        reservations_project: project whose reservations are listed (default ``project``).
        node_service_account: email of the IAM service account ccc's nodes run as (``None`` =
            the Compute Engine default service account, which hardened clusters avoid).
        call_timeout_s: bound on one API call, including the thread hop.
        operation_timeout_s: bound on waiting for one long-running operation.
        poll_interval_s: pause between two polls of a running operation.
        retry_attempts: attempts for a transiently failing call (1 = no retry).
        retry_initial_s: first backoff; doubles per attempt, full jitter.
        retry_max_s: cap of one backoff.
        delete_failed_pools: delete a pool whose create operation failed (stockout, quota) so
            that no half-created pool is left behind retrying on its own.
        billing_endpoint: ``host:port`` override for the Cloud Billing Catalog API (defaults
            to ``endpoint``, then Google's).
        billing_timeout_s: bound on listing Compute Engine's SKUs (tens of thousands, paged).
    """

    project: str
    location: str
    cluster: str
    transport: Transport = "grpc"
    endpoint: str | None = None
    container_endpoint: str | None = None
    insecure_http: bool = False
    anonymous: bool = False
    reservations_project: str | None = None
    node_service_account: str | None = None
    call_timeout_s: float = 60.0
    operation_timeout_s: float = 1800.0
    poll_interval_s: float = 5.0
    retry_attempts: int = 5
    retry_initial_s: float = 1.0
    retry_max_s: float = 30.0
    delete_failed_pools: bool = True
    billing_endpoint: str | None = None
    billing_timeout_s: float = 180.0

    def __post_init__(self) -> None:
        for field in ("project", "location", "cluster"):
            if not getattr(self, field):
                raise ConfigError(
                    f"is empty; set the GKE cluster's {field} (flag --gke-{field})",
                    path=f"gke.{field}",
                )
        if self.transport not in ("rest", "grpc"):
            raise ConfigError(
                f"{self.transport!r} is not a transport; use 'rest' or 'grpc'", path="gke.transport"
            )
        if (self.insecure_http or self.anonymous) and not self.endpoint:
            raise ConfigError(
                "insecure_http/anonymous are only for a local emulator; set gke.endpoint too "
                "or remove them",
                path="gke.endpoint",
            )
        if self.retry_attempts < 1:
            raise ConfigError("must be at least 1", path="gke.retry_attempts")
        for field in (
            "call_timeout_s",
            "operation_timeout_s",
            "poll_interval_s",
            "billing_timeout_s",
        ):
            if getattr(self, field) <= 0:
                raise ConfigError("must be positive (seconds)", path=f"gke.{field}")

    @classmethod
    def for_emulator(
        cls,
        endpoint: str,
        *,
        project: str = "test-project",
        location: str = "us-central1",
        cluster: str = "test-cluster",
        transport: Transport = "rest",
        container_endpoint: str | None = None,
        **timing: float | int | bool | str,
    ) -> GKEConfig:
        """A config for the loopback emulator: anonymous, no TLS, short timings.

        Args:
            endpoint: ``127.0.0.1:PORT`` of the emulator's REST server.
            container_endpoint: the emulator's gRPC port, for ``transport="grpc"``.
            timing: overrides of other fields (``operation_timeout_s=2``,
                ``node_service_account=...``).
        """
        defaults: dict[str, float | int | bool | str] = {
            "call_timeout_s": 10.0,
            "operation_timeout_s": 10.0,
            "poll_interval_s": 0.02,
            "retry_attempts": 4,
            "retry_initial_s": 0.01,
            "retry_max_s": 0.05,
        }
        defaults.update(timing)
        return cls(
            project=project,
            location=location,
            cluster=cluster,
            transport=transport,
            endpoint=endpoint,
            container_endpoint=container_endpoint,
            insecure_http=True,
            anonymous=True,
            **defaults,  # type: ignore[arg-type]
        )

    @property
    def cluster_path(self) -> str:
        """``projects/P/locations/L/clusters/C``: the parent of the cluster's node pools."""
        return f"projects/{self.project}/locations/{self.location}/clusters/{self.cluster}"

    def node_pool_path(self, name: str) -> str:
        return f"{self.cluster_path}/nodePools/{name}"

    def operation_path(self, name: str) -> str:
        """Full name of a ClusterManager operation from its short name (``operation-123``)."""
        if name.startswith("projects/"):
            return name
        return f"projects/{self.project}/locations/{self.location}/operations/{name}"
