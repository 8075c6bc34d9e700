"""Shared plumbing of the controller benchmarks: a local cluster, a ``ccc run`` process, and fast
bulk pod creation and polling.

The benchmarks measure the controller, not themselves, so the client side is kept cheap: requests
go through :func:`ccc.controller.kube.request_json` (raw JSON, no ``kubernetes_asyncio`` models),
pods are created ``concurrency`` at a time, and "all Running" is polled with a field selector
that returns only the pods that are not Running yet.

Run the benchmarks from the repository root as modules (``python -m benchmarks.<name>``) so that
``tests.support`` (the cluster launcher) is importable.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp

from ccc.api import labels as L
from ccc.controller.kube import KubeApiError, api_client_from, request_json
from tests.e2e import controller_harness as harness
from tests.e2e.controller_harness import install_crd
from tests.support.controlplane import ControlPlane, locate_binaries, start_control_plane

REPO = Path(__file__).resolve().parents[1]
GPU_MACHINE = "a3-highgpu-8g"  # 8 x H100 per node


@contextmanager
def local_cluster(
    work_dir: Path | None = None, *, scheduler_qps: int | None = None
) -> Iterator[ControlPlane]:
    """Start etcd, kube-apiserver, controller-manager, scheduler and kwok; stop them on exit.

    ``scheduler_qps`` replaces kube-scheduler's client rate limit (default 50 requests/s, burst
    100), with a burst of twice that.
    """
    work = work_dir or Path(tempfile.mkdtemp(prefix="ccc-bench-"))
    began = time.monotonic()
    extra = (
        [f"--kube-api-qps={scheduler_qps}", f"--kube-api-burst={2 * scheduler_qps}"]
        if scheduler_qps
        else []
    )
    plane = start_control_plane(locate_binaries(), work, full=True, scheduler_args=extra)
    print(f"# cluster up in {time.monotonic() - began:.1f} s ({work})", file=sys.stderr)
    try:
        yield plane
    finally:
        plane.stop()


@asynccontextmanager
async def api_for(plane: ControlPlane) -> AsyncIterator[Any]:
    """An ApiClient for the admin kubeconfig, with the ComputeClass CRD installed."""
    api = await api_client_from(str(plane.kubeconfig))
    try:
        await install_crd(api)
        yield api
    finally:
        await api.close()


# -- objects ------------------------------------------------------------------------------------


def gpu_class(name: str, zones: Sequence[str], *, spot: bool = True) -> dict[str, Any]:
    """A ComputeClass with one rule: ``a3-highgpu-8g`` in ``zones`` (the e2e tests' builder)."""
    return harness.gpu_class(name, zones, spot=spot, machine_type=GPU_MACHINE)


def gpu_pod(name: str, cls: str, *, gpus: int = 1) -> dict[str, Any]:
    """A pod selecting ``cls`` that asks for ``gpus`` GPUs (8 fit on one a3-highgpu-8g)."""
    return harness.gpu_pod(name, cls, gpus=gpus, cpu="1", memory="8Gi")


async def create_class(api: Any, body: dict[str, Any]) -> None:
    await request_json(api, "POST", f"/apis/{L.GROUP}/{L.VERSION}/computeclasses", body=body)


async def create_namespace(api: Any, name: str) -> None:
    with suppress(KubeApiError):
        await request_json(api, "POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    # Pods are refused until the namespace's default ServiceAccount exists.
    path = f"/api/v1/namespaces/{name}/serviceaccounts/default"
    for _ in range(300):
        try:
            await request_json(api, "GET", path)
            return
        except KubeApiError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"no default ServiceAccount in namespace {name}")


async def create_all(
    api: Any, path: str, bodies: Sequence[dict[str, Any]], *, concurrency: int = 32
) -> None:
    """POST every body to ``path``, ``concurrency`` requests in flight at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            await request_json(api, "POST", path, body=body, timeout_s=120)

    await asyncio.gather(*(one(b) for b in bodies))


async def create_pods(
    api: Any, namespace: str, bodies: Sequence[dict[str, Any]], *, concurrency: int = 32
) -> None:
    await create_all(api, f"/api/v1/namespaces/{namespace}/pods", bodies, concurrency=concurrency)


async def count_not_running(api: Any, namespace: str) -> int:
    """Pods of ``namespace`` whose phase is not Running (the server filters)."""
    got = await request_json(
        api,
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        query={"fieldSelector": "status.phase!=Running"},
        timeout_s=60,
    )
    return len(got["items"])


async def wait_all_running(
    api: Any, namespace: str, *, interval_s: float = 0.1, timeout_s: float = 900
) -> float:
    """Poll until no pod of ``namespace`` is outside Running; return ``time.monotonic()`` of
    the poll that saw it (call after all pods were created)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = await count_not_running(api, namespace)
        if left == 0:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{left} pods in {namespace} still not Running")
        await asyncio.sleep(interval_s)


async def wait_nodes_ready(api: Any, selector: str, expected: int, timeout_s: float = 600) -> None:
    """Wait until ``expected`` Nodes matching ``selector`` report Ready (kwok heartbeats)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = await request_json(
            api, "GET", "/api/v1/nodes", query={"labelSelector": selector}, timeout_s=60
        )
        ready = sum(
            1
            for n in got["items"]
            for c in (n.get("status") or {}).get("conditions") or []
            if c.get("type") == "Ready" and c.get("status") == "True"
        )
        if ready >= expected:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{ready}/{expected} nodes Ready ({selector})")
        await asyncio.sleep(0.25)


# -- the controller as a process ----------------------------------------------------------------


class CccRun(harness.ControllerProcess):
    """``python -m ccc run`` against ``plane`` with the kwok provider, no leader election and
    ``ccc run``'s default timings (the e2e harness's process, used as a context manager).

    Args:
        plane: the cluster.
        log_dir: where its JSON log goes (``ccc-<port>.log``).
        kwok_namespace: the kwok cloud it provisions in.
        extra: more ``ccc run`` flags (``--batch-idle 0.2``...).
        kubeconfig: instead of the plane's admin kubeconfig (e.g. one through a fault proxy).
    """

    def __init__(
        self,
        plane: ControlPlane,
        log_dir: Path,
        *,
        kwok_namespace: str,
        extra: Sequence[str] = (),
        kubeconfig: Path | None = None,
    ) -> None:
        super().__init__(
            plane,
            log_dir,
            kwok_namespace=kwok_namespace,
            extra=extra,
            kubeconfig=kubeconfig,
            fast_timings=False,
        )

    def __enter__(self) -> CccRun:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def _get(self, path: str) -> tuple[int, str]:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"ccc run exited:\n{self.tail()}")
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{self.port}{path}", timeout=aiohttp.ClientTimeout(total=5)
            ) as response,
        ):
            return response.status, await response.text()

    async def wait_ready(self, timeout_s: float = 300) -> float:
        """Wait for ``/readyz`` 200 (informers synced); return seconds waited."""
        began = time.monotonic()
        while time.monotonic() - began < timeout_s:
            with suppress(aiohttp.ClientError, TimeoutError):
                if (await self._get("/readyz"))[0] == 200:
                    return time.monotonic() - began
            await asyncio.sleep(0.1)
        raise TimeoutError(f"ccc run not ready after {timeout_s} s:\n{self.tail()}")

    async def metric(self, name: str) -> float:
        """Sum of the samples of ``name`` on ``/metrics`` (0 when absent)."""
        _, text = await self._get("/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def wait_reconciles(self, at_least: int, timeout_s: float = 120) -> None:
        """Wait until ``at_least`` reconcile passes have finished."""
        began = time.monotonic()
        while await self.metric("ccc_reconcile_duration_seconds_count") < at_least:
            if time.monotonic() - began > timeout_s:
                raise TimeoutError(f"fewer than {at_least} reconciles:\n{self.tail()}")
            await asyncio.sleep(0.2)

    def memory_kib(self) -> dict[str, int]:
        """``VmRSS`` and ``VmHWM`` (peak RSS) of the process, in KiB."""
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out
