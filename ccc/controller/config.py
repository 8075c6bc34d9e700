"""Controller settings (flags of ``ccc run``, values of the Helm chart)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from policies.obtainability import BackoffPolicy
from policies.settings import Settings


class WebhookConfig(BaseModel):
    """The admission webhook (``ccc run --webhook``; the chart's ``webhook.*`` values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "0.0.0.0"
    port: int = Field(default=9443, ge=0, le=65535)
    #: Namespace of the certificate Secret (ccc's own; its pods are never changed).
    namespace: str = "ccc-system"
    secret: str = "ccc-webhook-cert"
    #: MutatingWebhookConfiguration whose caBundle is kept current (None: left alone).
    config_name: str | None = "ccc"
    #: Create and rotate the certificates (False: cert-manager or another issuer does).
    manage_certs: bool = True
    #: DNS names and IP addresses the serving certificate is valid for.
    cert_hosts: tuple[str, ...] = ()
    cert_validity_s: float = Field(default=90 * 86400, gt=0)
    ca_validity_s: float = Field(default=365 * 86400, gt=0)
    #: How often every replica re-reads the Secret (and rotates when due).
    check_period_s: float = Field(default=30.0, gt=0)
    #: Cluster default class for pods that select none and whose namespace names none.
    default_class: str | None = None
    #: Namespaces whose pods are never changed, besides kube-system and ``namespace``.
    exclude_namespaces: tuple[str, ...] = ()


class ControllerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Wait this long without new pending pods before planning a batch…
    batch_idle_s: float = Field(default=1.0, ge=0)
    #: …but never longer than this after the first pod of the batch.
    batch_max_s: float = Field(default=10.0, ge=0)
    #: Re-plan at least this often even without events (backoffs expire, pools change).
    resync_s: float = Field(default=10.0, gt=0)
    #: Accept GKE's ``cloud.google.com/compute-class`` node selector as an alias.
    accept_gke_class_label: bool = True
    #: Zones of the cluster, used for rules that name none (``None``: the provider's, else
    #: every catalog zone of the region).
    default_zones: tuple[str, ...] | None = None
    #: The cluster's region when the provider cannot report it (kwok, simulated; GKE reads it
    #: from the cluster).
    region: str | None = None
    #: Obtainability memory backoff: first mark, doubled on repeats up to the max.
    backoff_base_s: float = Field(default=180.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    #: Consolidation delay for classes that set none.
    default_consolidation_delay: timedelta = timedelta(minutes=10)
    #: Timeout around every provider call.
    provider_timeout_s: float = Field(default=600.0, gt=0)
    #: Walk again at once after a stockout, at most this many times per reconcile.
    max_fallbacks_per_reconcile: int = Field(default=64, ge=1)
    #: Recreate nodes missing from a managed pool for this long (crash repair).
    repair_after_s: float = Field(default=30.0, ge=0)
    #: Nodes a pool was asked for that have not registered after this long are given up: the
    #: offering is marked unavailable, the pool shrinks back and the pods are walked again
    #: (longer for rules with capacityCheckWaitTimeSeconds).
    node_registration_timeout_s: float = Field(default=600.0, gt=0)
    #: Pause between retries of one offering inside its capacityCheckWaitTimeSeconds.
    capacity_check_retry_s: float = Field(default=10.0, gt=0)
    #: Pause before retrying after a transient provider error or a failed provider listing.
    error_retry_s: float = Field(default=5.0, gt=0)
    #: Ask the provider why a pool's nodes have not come at most this often per pool.
    late_error_poll_s: float = Field(default=10.0, gt=0)
    #: Reservations are listed at most this often.
    reservations_ttl_s: float = Field(default=60.0, ge=0)
    scale_down_enabled: bool = True
    metrics_host: str = "0.0.0.0"
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    leader_elect: bool = True
    lease_namespace: str = "ccc-system"
    lease_name: str = "ccc-controller"
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0
    #: Run the ServingGroup controller (needs the ServingGroup CRD and its RBAC).
    serving_groups: bool = True
    #: On SIGTERM, how long the leader lets its provider calls in flight end (and records their
    #: outcomes) before cancelling them; keep it below the pod's
    #: terminationGracePeriodSeconds, leaving time to release the Lease (the chart passes the
    #: grace period minus 10 s).
    shutdown_timeout_s: float = Field(default=20.0, ge=0)
    #: Namespace for Events about cluster-scoped objects (ComputeClasses).
    event_namespace: str = "default"
    #: The admission webhook (None: not served).
    webhook: WebhookConfig | None = None

    def settings(self, *, max_viable: int | None = 1) -> Settings:
        """The decide step's settings (:class:`policies.settings.Settings`) from these flags."""
        return Settings(
            backoff=BackoffPolicy(self.backoff_base_s, self.backoff_max_s),
            default_zones=self.default_zones,
            accept_gke_class_label=self.accept_gke_class_label,
            max_viable=max_viable,
            default_consolidation_delay=self.default_consolidation_delay,
            scale_down_enabled=self.scale_down_enabled,
            repair_after_s=self.repair_after_s,
            node_registration_timeout_s=self.node_registration_timeout_s,
            capacity_check_retry_s=self.capacity_check_retry_s,
            error_retry_s=self.error_retry_s,
        )
