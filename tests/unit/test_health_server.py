"""The probe and metrics server, exercised over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter

from ccc.controller.health import HealthServer


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, server: HealthServer, path: str) -> tuple[int, str]:
    async with http.get(f"http://127.0.0.1:{server.port}{path}") as response:
        return response.status, await response.text()


def started(**kwargs: object) -> HealthServer:
    return HealthServer("127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]


async def test_readyz_answers_503_with_the_reason_until_ready_then_200(
    http: aiohttp.ClientSession,
) -> None:
    state = {"ready": False}
    server = started(
        ready=lambda: state["ready"], not_ready_reason=lambda: "informers not synced: pods"
    )
    await server.start()
    try:
        assert server.port > 0
        assert await get(http, server, "/readyz") == (503, "informers not synced: pods\n")
        state["ready"] = True
        assert await get(http, server, "/readyz") == (200, "ok\n")
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        (lambda: True, (200, "ok\n")),
        (lambda: False, (500, "not healthy\n")),
    ],
)
async def test_healthz_reflects_liveness(
    http: aiohttp.ClientSession, live: Callable[[], bool], expected: tuple[int, str]
) -> None:
    server = started(ready=lambda: True, live=live)
    await server.start()
    try:
        assert await get(http, server, "/healthz") == expected
    finally:
        await server.stop()


async def test_a_probe_that_raises_answers_not_ready_and_the_server_keeps_serving(
    http: aiohttp.ClientSession,
) -> None:
    def broken() -> bool:
        raise RuntimeError("cache exploded")

    server = started(ready=broken, live=broken)
    await server.start()
    try:
        assert await get(http, server, "/readyz") == (
            503,
            "readiness check failed: cache exploded\n",
        )
        assert (await get(http, server, "/healthz"))[0] == 500
        assert (await get(http, server, "/metrics"))[0] == 200
    finally:
        await server.stop()


async def test_metrics_serves_the_given_registry_in_prometheus_text_format(
    http: aiohttp.ClientSession,
) -> None:
    registry = CollectorRegistry()
    attempts = Counter("ccc_test_attempts", "Attempts.", labelnames=("result",), registry=registry)
    attempts.labels(result="stockout").inc(3)
    server = started(ready=lambda: True, registry=registry)
    await server.start()
    try:
        async with http.get(f"http://127.0.0.1:{server.port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST  # text/plain; version=…
            body = await response.text()
        assert 'ccc_test_attempts_total{result="stockout"} 3.0' in body
    finally:
        await server.stop()


async def test_stop_closes_the_port_and_is_idempotent(http: aiohttp.ClientSession) -> None:
    server = started(ready=lambda: True)
    await server.start()
    port = server.port
    await server.stop()
    await server.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.get(f"http://127.0.0.1:{port}/healthz")


async def test_a_busy_port_fails_start_with_os_error() -> None:
    first = started(ready=lambda: True)
    await first.start()
    try:
        second = HealthServer("127.0.0.1", first.port, ready=lambda: True)
        with pytest.raises(OSError):
            await second.start()
    finally:
        await first.stop()
