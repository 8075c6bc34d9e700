"""The controller's probe and metrics endpoint: ``/healthz``, ``/readyz`` and ``/metrics``.

Kubernetes probes and Prometheus scrape one small HTTP server (aiohttp, already a dependency of
the Kubernetes client) on the metrics port:

- ``/healthz``: 200 ``ok`` while ``live()`` is true, else 500 (the kubelet restarts the pod).
- ``/readyz``: 200 ``ok`` while ``ready()`` is true (for ``ccc run``: informers synced), else
  503 with a short reason, so a replica that has not synced receives no traffic.
- ``/metrics``: the registry in the Prometheus text format.

A probe callable that raises answers as "not healthy"/"not ready" with the error in the body;
it never takes the server down.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

_log = structlog.get_logger("ccc.controller.health")


def _always() -> bool:
    return True


def _not_ready() -> str:
    return "not ready"


class HealthServer:
    """Serves probes and metrics on ``host:port``.

    Args:
        host: address to bind (``0.0.0.0`` in a pod, ``127.0.0.1`` in tests).
        port: TCP port; 0 picks a free one, readable from :attr:`port` after :meth:`start`.
        ready: readiness predicate, called on every ``/readyz`` request.
        live: liveness predicate, called on every ``/healthz`` request.
        registry: the Prometheus registry to expose.
        not_ready_reason: text of the 503 answer (e.g. "informers not synced: pods").
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ready: Callable[[], bool],
        live: Callable[[], bool] = _always,
        registry: CollectorRegistry = REGISTRY,
        not_ready_reason: Callable[[], str] = _not_ready,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._ready = ready
        self._live = live
        self._registry = registry
        self._not_ready_reason = not_ready_reason
        self._runner: web.AppRunner | None = None
        self._port = port

    @property
    def port(self) -> int:
        """The bound port (the requested one, or the one picked for port 0)."""
        return self._port

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            OSError: the address cannot be bound (e.g. the port is in use).
            RuntimeError: already started.
        """
        if self._runner is not None:
            raise RuntimeError("HealthServer already started")
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])
        _log.info("health.serving", host=self._host, port=self._port)

    async def stop(self) -> None:
        """Stop serving and close the socket. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            alive = self._live()
        except Exception as error:
            return web.Response(status=500, text=f"liveness check failed: {error}\n")
        if alive:
            return web.Response(text="ok\n")
        return web.Response(status=500, text="not healthy\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            ready = self._ready()
            reason = "" if ready else self._not_ready_reason()
        except Exception as error:
            return web.Response(status=503, text=f"readiness check failed: {error}\n")
        if ready:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"{reason}\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        body: bytes = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
