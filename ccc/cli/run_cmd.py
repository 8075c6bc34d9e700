"""``ccc run``: the controller."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path

import typer
from kubernetes_asyncio.config import ConfigException

from ccc.api.builtin_catalog import load_builtin_catalog, load_catalog_file
from ccc.api.errors import ConfigError
from ccc.controller.config import ControllerConfig
from ccc.controller.logs import configure_logging


class ProviderChoice(StrEnum):
    kwok = "kwok"
    gke = "gke"
    simulated = "simulated"


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
    catalog_file: Path | None = typer.Option(
        None, "--catalog", help="Use this catalog instead of the built-in one."
    ),
    log_format: LogFormat = typer.Option(LogFormat.json, "--log-format"),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the controller: watch pending accelerator pods and provision node pools."""
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
    )
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


def _leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def register(app: typer.Typer) -> None:
    app.command("run")(run)
