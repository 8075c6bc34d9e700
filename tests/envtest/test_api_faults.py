"""The controller's API client and informers under real network faults: a fault proxy
(``tests.support.faultproxy``) between them and the real kube-apiserver cuts, resets, refuses,
delays and blackholes connections.

- A cut watch resumes at once from its resourceVersion, however often it is cut.
- A blackholed watch (silent, never reset) is dropped after its idle limit and resumed.
- Under 25 % faults the cache still converges to the server's state without a relist.
- A refused connection is retried within the call's budget.
- The ApiClient of ``ccc run`` opens its sockets with TCP keep-alive and a user timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from ccc.controller import kube
from ccc.controller.informer import Informer, Resource
from ccc.controller.kube import api_client_from, request_json
from tests.envtest.informer_helpers import Recorder, now, running
from tests.support.controlplane import ControlPlane
from tests.support.faultproxy import (
    NO_FAULTS,
    FaultProxy,
    FaultSchedule,
    apiserver_proxy,
)
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = pytest.mark.controlplane

CONFIGMAPS = Resource("", "v1", "configmaps", True)


def _data(obj: dict[str, Any]) -> tuple[str, str]:
    return (str(obj["metadata"]["name"]), str((obj.get("data") or {}).get("v", "")))


def _proxied(
    plane: ControlPlane, tmp_path: Path, schedule: FaultSchedule = NO_FAULTS
) -> contextlib.AbstractContextManager[tuple[FaultProxy, Path]]:
    return apiserver_proxy(plane.server, plane.kubeconfig, tmp_path, schedule)


@contextlib.asynccontextmanager
async def _ccc_client(kubeconfig: Path) -> AsyncIterator[Any]:
    """The ApiClient exactly as ``ccc run`` builds it."""
    api = await api_client_from(str(kubeconfig))
    try:
        yield api
    finally:
        await api.close()


async def _create(api: Any, ns: str, name: str, value: str = "1") -> None:
    body = {"metadata": {"name": name}, "data": {"v": value}}
    await request_json(api, "POST", f"/api/v1/namespaces/{ns}/configmaps", body=body)


async def test_a_cut_watch_resumes_at_once_from_its_resource_version_however_often_it_is_cut(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Five cuts in a row, each after the watch has been healthy for a moment: none is an
    error, none waits for a backoff, nothing is listed again, and a change made after the last
    cut arrives within a round trip."""
    with _proxied(control_plane, tmp_path) as (proxy, proxied):
        async with (
            api_client(control_plane.kubeconfig) as api,
            _ccc_client(proxied) as proxied_api,
            temporary_namespace(api, "cut") as ns,
        ):
            recorder: Recorder[tuple[str, str]] = Recorder()
            informer = Informer(
                proxied_api, CONFIGMAPS, project=_data, namespace=ns, on_change=recorder
            )
            with capture_logs() as logs:
                async with running(informer):
                    await informer.wait_synced(timeout=30)
                    for _ in range(5):
                        await asyncio.sleep(1.2)  # healthy for a while
                        assert proxy.cut_established() >= 1
                    await asyncio.sleep(0.1)
                    created_at = time.monotonic()
                    await _create(api, ns, "after-cuts")
                    await eventually(
                        "the change after the cuts",
                        lambda: now(len(recorder.changes) == 1),
                        timeout_s=30,
                        interval_s=0.02,
                    )
                    seen_s = time.monotonic() - created_at
        events = [e["event"] for e in logs]
        assert events.count("informer.watch_interrupted") >= 5
        assert "informer.watch_error" not in events
        assert "informer.watch_closed_at_once" not in events
        assert events.count("informer.listed") == 1
        assert seen_s < 2.0, f"seen {seen_s:.2f}s after the last cut"


async def test_a_blackholed_watch_is_dropped_after_its_idle_limit_and_resumed(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The proxy swallows every byte of the open connections but never resets them: only the
    informer's read deadline can tell. (Short limits keep the test fast; ``ccc run``'s
    defaults are proven end to end in tests/e2e/test_faults.py.)"""
    with _proxied(control_plane, tmp_path) as (proxy, proxied):
        async with (
            api_client(control_plane.kubeconfig) as api,
            _ccc_client(proxied) as proxied_api,
            temporary_namespace(api, "blackhole") as ns,
        ):
            recorder: Recorder[tuple[str, str]] = Recorder()
            informer = Informer(
                proxied_api,
                CONFIGMAPS,
                project=_data,
                namespace=ns,
                on_change=recorder,
                watch_timeout_s=2,
                watch_idle_s=4,
            )
            with capture_logs() as logs:
                async with running(informer):
                    await informer.wait_synced(timeout=30)
                    # Mid-stream: an event has come through the watch.
                    await _create(api, ns, "before-blackhole")
                    await eventually("the first change", lambda: now(len(recorder.changes) == 1))
                    assert proxy.blackhole_established() >= 1
                    blackholed_at = time.monotonic()
                    await _create(api, ns, "during-blackhole")
                    await eventually(
                        "the change made during the blackhole",
                        lambda: now(len(recorder.changes) == 2),
                        timeout_s=30,
                        interval_s=0.05,
                    )
                    recovered_s = time.monotonic() - blackholed_at
        interrupted = [e for e in logs if e["event"] == "informer.watch_interrupted"]
        assert interrupted and "Timeout" in interrupted[0]["error"]
        assert 2.0 <= recovered_s < 4.0 + 3.0, f"recovered after {recovered_s:.1f}s"
        assert [e["event"] for e in logs].count("informer.listed") == 1


async def test_under_25_percent_faults_the_cache_converges_without_a_relist(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A quarter of new connections refused or reset (after the server may have answered), a
    quarter delayed, every connection cut after 0.3-1.5 s, while objects are created, changed
    and deleted: the informer ends with exactly the server's objects and values."""
    schedule = FaultSchedule.at_rate(0.25, seed=1431, cut_after_s=(0.3, 1.5))
    with _proxied(control_plane, tmp_path, schedule) as (proxy, proxied):
        async with (
            api_client(control_plane.kubeconfig) as api,
            _ccc_client(proxied) as proxied_api,
            temporary_namespace(api, "churn") as ns,
        ):
            informer = Informer(proxied_api, CONFIGMAPS, project=_data, namespace=ns)
            path = f"/api/v1/namespaces/{ns}/configmaps"
            with capture_logs() as logs:
                async with running(informer):
                    await informer.wait_synced(timeout=60)
                    for i in range(40):
                        await _create(api, ns, f"cm-{i}")
                        if i % 3 == 1:
                            await request_json(
                                api,
                                "PATCH",
                                f"{path}/cm-{i - 1}",
                                body={"data": {"v": "2"}},
                                content_type="application/merge-patch+json",
                            )
                        if i % 5 == 4:
                            await request_json(api, "DELETE", f"{path}/cm-{i - 2}")
                        await asyncio.sleep(0.1)
                    server = await request_json(api, "GET", path)
                    expected = sorted(_data(o) for o in server["items"])

                    async def converged() -> bool:
                        return sorted(informer.values()) == expected

                    await eventually("the cache matches the server", converged, timeout_s=60)
        # Seed 1431 refuses one of the second to fifth connections and resets another at the
        # server's first answer.
        assert proxy.stats["refused"] >= 1
        assert proxy.stats["reset"] >= 1
        assert proxy.stats["cut"] >= 3
        events = [e["event"] for e in logs]
        assert events.count("informer.listed") == 1
        assert "informer.relist" not in events


async def test_a_refused_connection_is_retried_within_the_call_budget(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The first two connections are reset before their TLS handshake completes: nothing was
    sent, so even a POST is sent again, and it creates its object once."""
    with _proxied(control_plane, tmp_path, FaultSchedule(refuse_first=2)) as (proxy, proxied):
        async with (
            api_client(control_plane.kubeconfig) as api,
            _ccc_client(proxied) as proxied_api,
            temporary_namespace(api, "refused") as ns,
        ):
            await _create(proxied_api, ns, "made-through-refusals")
            listed = await request_json(api, "GET", f"/api/v1/namespaces/{ns}/configmaps")
    assert proxy.stats["refused"] == 2
    names = [o["metadata"]["name"] for o in listed["items"]]
    assert names.count("made-through-refusals") == 1


def _sockets_to(port: int) -> dict[str, socket.socket]:
    """Duplicates of this process's TCP sockets connected to ``port``, by socket inode."""
    found = {}
    for fd in map(int, os.listdir("/proc/self/fd")):
        with contextlib.suppress(OSError):
            inode = os.readlink(f"/proc/self/fd/{fd}")
            if not inode.startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(fd))  # family and type read from the socket
            try:
                if sock.family == socket.AF_INET and sock.getpeername()[1] == port:
                    found[inode] = sock
                    continue
            except OSError:
                pass
            sock.close()
    return found


async def test_the_controllers_api_client_opens_sockets_with_keepalive_and_a_user_timeout(
    control_plane: ControlPlane,
) -> None:
    """A peer that vanished without a reset fails the connection in the kernel within
    ``DEAD_PEER_S`` (keep-alive probes on idle connections, ``TCP_USER_TIMEOUT`` on
    unacknowledged data). The options are read back from the live sockets: dropping packets
    for real would need root and a network namespace, which the test suite does not assume."""
    port = int(control_plane.server.rsplit(":", 1)[1])
    before = _sockets_to(port)
    for sock in before.values():
        sock.close()
    async with _ccc_client(control_plane.kubeconfig) as api:
        await request_json(api, "GET", "/version")
        found = _sockets_to(port)
        ours = [sock for inode, sock in found.items() if inode not in before]
        try:
            assert ours, "no new connection to the API server"
            for sock in ours:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 5
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 25_000
        finally:
            for sock in found.values():
                sock.close()
    assert kube.DEAD_PEER_S <= 30
