"""``ccc run``: the controller."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path

import typer
from kubernetes_asyncio.config import ConfigException
from pydantic import ValidationError

from ccc.api.builtin_catalog import load_builtin_catalog, load_catalog_file
from ccc.api.errors import ConfigError
from ccc.controller.config import ControllerConfig, WebhookConfig
from ccc.controller.logs import configure_logging


class ProviderChoice(StrEnum):
    kwok = "kwok"
    gke = "gke"
    simulated = "simulated"


class CertSource(StrEnum):
    managed = "managed"
    external = "external"


class LogFormat(StrEnum):
    json = "json"
    console = "console"


def run(
    kubeconfig: Path | None = typer.Option(
        None,
        "--kubeconfig",
        envvar="KUBECONFIG",
        help="Kubeconfig file; in-cluster config when omitted.",
    ),
    provider: ProviderChoice = typer.Option(
        ProviderChoice.kwok, "--provider", help="Where node pools come from."
    ),
    kwok_namespace: str = typer.Option(
        "ccc-kwok-cloud",
        "--kwok-namespace",
        help="Namespace of the kwok provider's pools and capacity.",
    ),
    gke_project: str | None = typer.Option(None, "--gke-project", envvar="CCC_GKE_PROJECT"),
    gke_location: str | None = typer.Option(None, "--gke-location", envvar="CCC_GKE_LOCATION"),
    gke_cluster: str | None = typer.Option(None, "--gke-cluster", envvar="CCC_GKE_CLUSTER"),
    gke_endpoint: str | None = typer.Option(
        None, "--gke-endpoint", help="host:port of an emulator (tests)."
    ),
    metrics_port: int = typer.Option(
        8080, "--metrics-port", help="Port of /metrics, /healthz and /readyz (0: any free port)."
    ),
    metrics_host: str = typer.Option("0.0.0.0", "--metrics-host"),
    leader_elect: bool = typer.Option(True, "--leader-elect/--no-leader-elect"),
    lease_namespace: str = typer.Option("ccc-system", "--lease-namespace", envvar="POD_NAMESPACE"),
    lease_name: str = typer.Option("ccc-controller", "--lease-name"),
    lease_duration: float = typer.Option(15.0, "--lease-duration", help="Seconds."),
    renew_deadline: float = typer.Option(10.0, "--renew-deadline", help="Seconds."),
    retry_period: float = typer.Option(2.0, "--retry-period", help="Seconds."),
    shutdown_timeout: float = typer.Option(
        20.0,
        "--shutdown-timeout",
        help="On SIGTERM, seconds to let in-flight provider calls finish before cancelling "
        "them; keep below the pod's terminationGracePeriodSeconds.",
    ),
    batch_idle: float = typer.Option(
        1.0, "--batch-idle", help="Seconds without new pending pods before planning."
    ),
    batch_max: float = typer.Option(
        10.0, "--batch-max", help="Longest wait after the first pending pod."
    ),
    resync: float = typer.Option(10.0, "--resync", help="Re-plan at least this often (seconds)."),
    region: str | None = typer.Option(
        None,
        "--region",
        help="The cluster's region for kwok and simulated (GKE reads the cluster's own).",
    ),
    zones: str | None = typer.Option(
        None,
        "--zones",
        help="Cluster zones (comma-separated, one region) for rules that name none.",
    ),
    accept_gke_label: bool = typer.Option(
        True,
        "--accept-gke-class-label/--no-accept-gke-class-label",
        help="Also serve pods selecting cloud.google.com/compute-class.",
    ),
    backoff_base: float = typer.Option(
        180.0, "--backoff-base", help="First unavailability backoff (seconds); doubles on repeats."
    ),
    backoff_max: float = typer.Option(3600.0, "--backoff-max"),
    consolidation_delay: float = typer.Option(
        600.0,
        "--consolidation-delay",
        help="Seconds an empty node waits before removal, for classes that set none.",
    ),
    repair_after: float = typer.Option(
        30.0, "--repair-after", help="Seconds before re-requesting nodes missing from a pool."
    ),
    node_registration_timeout: float = typer.Option(
        600.0,
        "--node-registration-timeout",
        help="Seconds before nodes that never registered are given up and the walk moves on.",
    ),
    serving_groups: bool = typer.Option(
        True,
        "--serving-groups/--no-serving-groups",
        help="Keep ServingGroups at their capacity (needs the ServingGroup CRD).",
    ),
    catalog_file: Path | None = typer.Option(
        None, "--catalog", help="Use this catalog instead of the built-in one."
    ),
    catalog_refresh: bool | None = typer.Option(
        None,
        "--catalog-refresh/--no-catalog-refresh",
        help="Refresh zones, shapes and prices from the cloud's APIs at start (gke provider; "
        "default: on with the built-in catalog, off with --catalog).",
    ),
    webhook: bool = typer.Option(
        False,
        "--webhook/--no-webhook",
        help="Serve the admission webhook (class toleration, default classes) over TLS.",
    ),
    webhook_host: str = typer.Option("0.0.0.0", "--webhook-host"),
    webhook_port: int = typer.Option(
        9443, "--webhook-port", help="HTTPS port of POST /mutate-pods (0: any free port)."
    ),
    webhook_namespace: str = typer.Option(
        "ccc-system",
        "--webhook-namespace",
        envvar="POD_NAMESPACE",
        help="Namespace of the certificate Secret; its pods are never changed.",
    ),
    webhook_secret: str = typer.Option(
        "ccc-webhook-cert", "--webhook-secret", help="Secret with ca.crt, tls.crt and tls.key."
    ),
    webhook_config: str = typer.Option(
        "ccc",
        "--webhook-config",
        help="MutatingWebhookConfiguration whose caBundle ccc keeps current ('': none).",
    ),
    webhook_certs: CertSource = typer.Option(
        CertSource.managed,
        "--webhook-certs",
        help="managed: ccc creates and rotates the certificates; external: cert-manager does.",
    ),
    webhook_cert_hosts: str = typer.Option(
        "",
        "--webhook-cert-hosts",
        help="Comma-separated DNS names / IPs of the serving certificate (managed certs).",
    ),
    webhook_cert_validity: float = typer.Option(
        90 * 86400, "--webhook-cert-validity", help="Serving certificate lifetime (seconds)."
    ),
    webhook_ca_validity: float = typer.Option(
        365 * 86400, "--webhook-ca-validity", help="CA lifetime (seconds)."
    ),
    webhook_cert_check: float = typer.Option(
        30.0,
        "--webhook-cert-check",
        help="Seconds between re-reads of the certificate Secret (rotation, reload).",
    ),
    default_compute_class: str | None = typer.Option(
        None,
        "--default-compute-class",
        help="Cluster default class for pods that select none (namespace defaults win).",
    ),
    admission_exclude_namespaces: str = typer.Option(
        "",
        "--admission-exclude-namespaces",
        help="Comma-separated namespaces whose pods admission never changes (besides "
        "kube-system and the webhook namespace).",
    ),
    log_format: LogFormat = typer.Option(LogFormat.json, "--log-format"),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the controller: watch pending accelerator pods and provision node pools.

    SIGTERM or SIGINT stops it gracefully (in-flight provider calls finish within
    --shutdown-timeout, the Lease is released) with exit code 0; a second signal cancels
    in-flight calls at once.
    """
    from datetime import timedelta

    from ccc.controller.leader import LeadershipLost
    from ccc.controller.run import ProviderOptions
    from ccc.controller.run import run as run_controller

    configure_logging(log_format.value, log_level)
    try:
        catalog = load_catalog_file(catalog_file) if catalog_file else load_builtin_catalog()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    zone_list = tuple(z.strip() for z in zones.split(",") if z.strip()) if zones else None
    config = ControllerConfig(
        region=region,
        batch_idle_s=batch_idle,
        batch_max_s=batch_max,
        resync_s=resync,
        accept_gke_class_label=accept_gke_label,
        default_zones=zone_list,
        backoff_base_s=backoff_base,
        backoff_max_s=backoff_max,
        default_consolidation_delay=timedelta(seconds=consolidation_delay),
        repair_after_s=repair_after,
        node_registration_timeout_s=node_registration_timeout,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        leader_elect=leader_elect,
        lease_namespace=lease_namespace,
        lease_name=lease_name,
        lease_duration_s=lease_duration,
        renew_deadline_s=renew_deadline,
        retry_period_s=retry_period,
        serving_groups=serving_groups,
        shutdown_timeout_s=shutdown_timeout,
    )
    if webhook:
        try:
            config = config.model_copy(
                update={
                    "webhook": WebhookConfig(
                        host=webhook_host,
                        port=webhook_port,
                        namespace=webhook_namespace,
                        secret=webhook_secret,
                        config_name=webhook_config or None,
                        manage_certs=webhook_certs is CertSource.managed,
                        cert_hosts=_csv(webhook_cert_hosts),
                        cert_validity_s=webhook_cert_validity,
                        ca_validity_s=webhook_ca_validity,
                        check_period_s=webhook_cert_check,
                        default_class=default_compute_class or None,
                        exclude_namespaces=_csv(admission_exclude_namespaces),
                    )
                }
            )
        except ValidationError as exc:
            typer.echo(f"error: webhook settings: {exc}", err=True)
            raise typer.Exit(2) from exc
    elif default_compute_class:
        typer.echo(
            "error: --default-compute-class needs the admission webhook (--webhook)", err=True
        )
        raise typer.Exit(2)
    opts = ProviderOptions(
        name=provider.value,
        kwok_namespace=kwok_namespace,
        gke_project=gke_project,
        gke_location=gke_location,
        gke_cluster=gke_cluster,
        gke_endpoint=gke_endpoint,
        region=region,
        zones=zone_list,
    )
    try:
        asyncio.run(
            run_controller(
                kubeconfig=str(kubeconfig) if kubeconfig else None,
                provider=opts,
                config=config,
                catalog=catalog,
                refresh_catalog=catalog_file is None
                if catalog_refresh is None
                else catalog_refresh,
            )
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as exc:  # one line, an exit code, never a traceback
        leaf = _leaf(exc)
        if isinstance(leaf, LeadershipLost):
            # client-go semantics: a replica that lost its lease exits; it restarts as standby.
            typer.echo(f"error: leadership lost: {leaf}; exiting", err=True)
            raise typer.Exit(1) from None
        if isinstance(leaf, (ValueError, ConfigError, ConfigException)):
            hint = "" if kubeconfig else " (pass --kubeconfig, or run inside a cluster)"
            typer.echo(f"error: {leaf}{hint}", err=True)
            raise typer.Exit(2) from None
        raise


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def register(app: typer.Typer) -> None:
    app.command("run")(run)
