"""Wiring of ``ccc run``: informers, provider, reconciler, health/metrics server, leader
election.

Every replica runs its informers and the health server (so a standby is warm and ready);
only the leader reconciles. Losing the lease stops the process (client-go semantics): the
Deployment restarts it as a standby, which avoids two leaders acting on stale state.

Graceful shutdown (SIGTERM, SIGINT; :meth:`Controller.request_stop`): the leader's loop takes
no new decision, lets the provider calls in flight end and records their outcomes in the
classes' status (:meth:`Reconciler.run` with ``until``), all within ``shutdown_timeout_s``; what
still runs after that is cancelled. Then the leader releases its Lease and returns; a standby
just returns. A second signal cancels in-flight work at once (the Lease is
still released). ``ccc run`` then exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from ccc.api import labels as L
from ccc.api.apicall import watched
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog
from ccc.api.location import configured_location
from ccc.controller import catalog_refresh
from ccc.controller.admission.service import WebhookService
from ccc.controller.config import ControllerConfig
from ccc.controller.events import EventRecorder
from ccc.controller.health import HealthServer
from ccc.controller.informer import Informer, Resource
from ccc.controller.kube import api_client_from, clone_client, fresh_connections
from ccc.controller.leader import LeaderElector
from ccc.controller.metrics import Metrics
from ccc.controller.nodeops import KubeNodeWriter
from ccc.controller.projections import NodeInfo, PodInfo, node_info, pod_info
from ccc.controller.reconciler import Reconciler
from ccc.controller.scale import KubeWorkloads
from ccc.controller.serving import ServingController
from ccc.controller.serving_status import KubeGroupStatus, hpa_owners
from ccc.controller.status import StatusWriter
from ccc.controller.view import InformerView
from providers.base import Provider
from providers.clock import Clock, SystemClock

log = structlog.get_logger("ccc.run")

ProviderName = Literal["kwok", "gke", "simulated"]
ProviderFactory = Callable[[Any, Catalog, Clock], Awaitable[Provider]]

PODS = Resource("", "v1", "pods", True)
NODES = Resource("", "v1", "nodes", False)
CLASSES = Resource(L.GROUP, L.VERSION, "computeclasses", False)
GROUPS = Resource(L.GROUP, L.VERSION, "servinggroups", True)
HPAS = Resource("autoscaling", "v2", "horizontalpodautoscalers", True)
#: Watched only with the admission webhook (namespace default classes).
NAMESPACES = Resource("", "v1", "namespaces", False)

#: The informers' requests (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    *watched("", "pods", "the pods informer (pending demand, pods per node)"),
    *watched("", "nodes", "the nodes informer"),
    *watched(L.GROUP, "computeclasses", "the ComputeClass informer"),
    *watched(L.GROUP, "servinggroups", "the ServingGroup informer"),
    *watched("autoscaling", "horizontalpodautoscalers", "HPAs: another owner of a variant"),
)


@dataclass(frozen=True, slots=True)
class ProviderOptions:
    name: ProviderName = "kwok"
    kwok_namespace: str = "ccc-kwok-cloud"
    gke_project: str | None = None
    gke_location: str | None = None
    gke_cluster: str | None = None
    gke_endpoint: str | None = None
    #: Location kwok and the simulated cloud report (GKE reads the cluster's own).
    region: str | None = None
    zones: tuple[str, ...] | None = None


async def build_provider(
    opts: ProviderOptions, api: Any, catalog: Catalog, clock: Clock
) -> Provider:
    """Construct the configured provider (Google SDKs are imported only for ``gke``)."""
    if opts.name in ("kwok", "simulated"):
        location = configured_location(
            catalog, region=opts.region, zones=opts.zones, what="--region/--zones"
        )
    if opts.name == "kwok":
        from providers.kwok import KwokProvider

        return KwokProvider(
            api, catalog=catalog, namespace=opts.kwok_namespace, clock=clock, location=location
        )
    if opts.name == "simulated":
        from providers.simulated import SimulatedCloud

        return SimulatedCloud(clock=clock, catalog=catalog, location=location)
    from providers.gke.config import GKEConfig
    from providers.gke.provider import GKEProvider

    if not (opts.gke_project and opts.gke_location and opts.gke_cluster):
        raise ValueError("the gke provider needs --gke-project, --gke-location and --gke-cluster")
    if opts.gke_endpoint:
        # A local emulator (tests, demos): anonymous credentials, plain HTTP, REST transport.
        cfg = GKEConfig.for_emulator(
            opts.gke_endpoint,
            transport="rest",
            project=opts.gke_project,
            location=opts.gke_location,
            cluster=opts.gke_cluster,
        )
    else:
        cfg = GKEConfig(
            project=opts.gke_project, location=opts.gke_location, cluster=opts.gke_cluster
        )
    return await GKEProvider.connect(cfg)


class Controller:
    """One ``ccc run`` process."""

    def __init__(
        self,
        api: Any,
        provider: Provider,
        *,
        config: ControllerConfig,
        catalog: Catalog | None = None,
        clock: Clock | None = None,
        identity: str | None = None,
    ) -> None:
        self.api = api
        self.config = config
        self.catalog = catalog or load_builtin_catalog()
        self.clock = clock or SystemClock()
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}"
        self.metrics = Metrics()
        self.pods: Informer[PodInfo] = Informer(
            api, PODS, project=pod_info, on_change=self._on_pod, name="pods"
        )
        self.nodes: Informer[NodeInfo] = Informer(
            api, NODES, project=node_info, on_change=self._on_node, name="nodes"
        )
        self.classes: Informer[dict[str, Any]] = Informer(
            api, CLASSES, project=lambda o: o, on_change=self._on_other, name="computeclasses"
        )
        self.reconciler = Reconciler(
            provider=provider,
            catalog=self.catalog,
            config=config,
            clock=self.clock,
            metrics=self.metrics,
            view=InformerView(pods=self.pods, nodes=self.nodes, classes=self.classes, api=api),
            events=EventRecorder(api, namespace=config.event_namespace),
            status=StatusWriter(api),
            nodes=KubeNodeWriter(api),
        )
        self.serving: ServingController | None = None
        self.groups: Informer[dict[str, Any]] | None = None
        self.hpas: Informer[dict[str, Any]] | None = None
        if config.serving_groups:
            self.groups = Informer(
                api, GROUPS, project=lambda o: o, on_change=self._on_other, name="servinggroups"
            )
            self.hpas = Informer(
                api, HPAS, project=lambda o: o, on_change=self._on_other, name="hpas"
            )
            groups, hpas = self.groups, self.hpas

            class _Groups:
                def groups(self) -> list[dict[str, Any]]:
                    return groups.values()

            def owners(ns: str, kind: str, name: str) -> tuple[str, ...]:
                return hpa_owners(hpas.values()).get((ns, kind, name), ())

            self.serving = ServingController(
                groups=_Groups(),
                workloads=KubeWorkloads(api),
                view=self.reconciler.view,
                catalog=self.catalog,
                clock=self.clock,
                metrics=self.metrics,
                executor=self.reconciler.executor,
                memory_of=lambda name: self.reconciler.state.memory_of(name),
                cluster=lambda: self.reconciler.cluster,
                events=self.reconciler.notices.recorder,
                status=KubeGroupStatus(api),
                owners=owners,
                resync_s=config.resync_s,
            )
            # Drains of nodes hosting a group's replicas wait for its surge.
            serving = self.serving
            self.reconciler.serving_covers = lambda: serving.covers
            serving.on_covers = self.reconciler.notify
        self.health = HealthServer(
            config.metrics_host,
            config.metrics_port,
            ready=self.ready,
            registry=self.metrics.registry,
        )
        self.leading = False
        self.webhook: WebhookService | None = None
        if config.webhook is not None:
            self.webhook = WebhookService(
                api,
                config,
                namespaces=NAMESPACES,
                classes=self.classes,
                registry=self.metrics.registry,
                clock=self.clock,
            )
        self._stopping = asyncio.Event()
        self._main: asyncio.Task[None] | None = None

    def request_stop(self, reason: str = "requested") -> None:
        """Begin a graceful shutdown (see the module docstring); a second call cancels in-flight
        work at once. Safe to call from a signal handler on the event loop."""
        if not self._stopping.is_set():
            log.info("shutdown.requested", reason=reason, leading=self.leading)
            self._stopping.set()
            self.reconciler.notify()
            return
        log.warning("shutdown.forced", reason=reason)
        if self._main is not None:
            self._main.cancel()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def ready(self) -> bool:
        webhook = self.webhook is None or self.webhook.ready()
        return webhook and self.pods.synced and self.nodes.synced and self.classes.synced

    def _on_pod(self, event: str, old: PodInfo | None, new: PodInfo | None) -> None:
        self.reconciler.on_pod(event, old, new)
        if self.serving is not None:
            self.serving.notify()

    def _on_node(self, event: str, old: NodeInfo | None, new: NodeInfo | None) -> None:
        self.reconciler.on_node(event, old, new)
        if self.serving is not None:
            self.serving.node_changed(event, old, new)

    def _on_other(self, *_: object) -> None:
        self.reconciler.notify()
        if self.serving is not None:
            self.serving.notify()

    async def _serve(self) -> None:
        """The ServingGroup loop, once its caches are synced (they never sync while the
        ServingGroup CRD is missing: the informer retries and logs)."""
        assert self.serving is not None and self.groups is not None and self.hpas is not None
        await asyncio.gather(self.groups.wait_synced(), self.hpas.wait_synced())
        log.info("serving.started", groups=len(self.groups))
        await self.serving.run()

    async def _lead(self) -> None:
        if self._stopping.is_set():
            return
        self.leading = True
        self.metrics.leader.set(1)
        log.info("leader.started", identity=self.identity)
        serving = asyncio.create_task(self._serve()) if self.serving is not None else None
        try:
            # The loop itself stops deciding once asked to stop, lets its provider calls end
            # and persists their outcomes; :meth:`_until_stopped` bounds how long that takes.
            await self.reconciler.run(until=self._stopping.is_set)
        finally:
            if serving is not None:
                serving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
            self.leading = False
            self.metrics.leader.set(0)

    async def _elect_and_lead(self) -> None:
        await asyncio.gather(*(i.wait_synced() for i in (self.pods, self.nodes, self.classes)))
        log.info(
            "caches.synced",
            pods=len(self.pods),
            nodes=len(self.nodes),
            classes=len(self.classes),
        )
        if not self.config.leader_elect:
            await self._lead()
            return
        # The Lease gets connections of its own: a renewal never queues behind the rest of the
        # controller's traffic, and after a request that got no answer the elector starts
        # over with fresh connections (pooled ones may all have died silently).
        lease_api = await clone_client(self.api)
        try:
            await self._elect(lease_api)
        finally:
            await lease_api.close()

    async def _elect(self, lease_api: Any) -> None:
        elector = LeaderElector(
            lease_api,
            namespace=self.config.lease_namespace,
            name=self.config.lease_name,
            identity=self.identity,
            lease_duration_s=self.config.lease_duration_s,
            renew_deadline_s=self.config.renew_deadline_s,
            retry_period_s=self.config.retry_period_s,
            reconnect=lambda: fresh_connections(lease_api),
        )
        await elector.run(self._lead)

    async def run(self) -> None:
        """Run until cancelled or stopped (:meth:`request_stop`); raises
        :class:`~ccc.controller.leader.LeadershipLost` when the lease is lost."""
        await self.health.start()
        try:
            async with asyncio.TaskGroup() as tg:
                extra: list[Informer[Any]] = [i for i in (self.groups, self.hpas) if i is not None]
                everything: list[Informer[Any]] = [self.pods, self.nodes, self.classes, *extra]
                informers = [
                    tg.create_task(inf.run(), name=f"informer-{inf.name}") for inf in everything
                ]
                if self.webhook is not None:
                    informers.append(tg.create_task(self.webhook.run(), name="webhook"))
                self._main = main = asyncio.create_task(self._elect_and_lead())
                try:
                    await self._until_stopped(main)
                finally:
                    for task in informers:
                        task.cancel()
        finally:
            await self.health.stop()
        log.info("shutdown.complete")

    async def _until_stopped(self, main: asyncio.Task[None]) -> None:
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({main, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not main.done():
                if not self.leading:
                    main.cancel()  # a standby holds nothing and has nothing in flight
                else:
                    # The leader's calls in flight end; past the budget they are cancelled
                    # (the elector still releases the Lease).
                    done, _ = await asyncio.wait({main}, timeout=self.config.shutdown_timeout_s)
                    if not done:
                        log.warning(
                            "shutdown.cancelled_in_flight",
                            shutdown_timeout_s=self.config.shutdown_timeout_s,
                        )
                        main.cancel()
            try:
                await main
            except asyncio.CancelledError:
                if _being_cancelled() or not self._stopping.is_set():
                    raise
        finally:
            stop.cancel()
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await main


def _being_cancelled() -> bool:
    """True when the running task itself was asked to cancel (not merely a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def run(
    *,
    kubeconfig: str | None,
    provider: ProviderOptions,
    config: ControllerConfig,
    catalog: Catalog | None = None,
    refresh_catalog: bool = True,
) -> None:
    """Entry point used by ``ccc run``. With ``refresh_catalog`` and a provider that can (GKE),
    the catalog is refreshed from the cloud's live APIs first; on failure the given (or
    built-in) catalog is used."""
    api = await api_client_from(kubeconfig)
    cat = catalog or load_builtin_catalog()
    clock = SystemClock()
    loop = asyncio.get_running_loop()
    try:
        prov = await build_provider(provider, api, cat, clock)
        if refresh_catalog:
            cat = await catalog_refresh.refresh_catalog(prov, cat)
        controller = Controller(api, prov, config=config, catalog=cat, clock=clock)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, controller.request_stop, signal.Signals(sig).name)
        try:
            await controller.run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    finally:
        await api.close()
