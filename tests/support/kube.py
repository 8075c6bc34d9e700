"""`kubernetes_asyncio` clients for the local control plane started by `tests.support.controlplane`.

Each test gets its own client because pytest-asyncio runs every test in its own event loop, and an
aiohttp session must not outlive its loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from kubernetes_asyncio import client, config

T = TypeVar("T")


@asynccontextmanager
async def api_client(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    """Yield an ApiClient authenticated by the admin kubeconfig; closed on exit."""
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        await api.close()


async def eventually(
    what: str,
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout_s: float = 60.0,
    interval_s: float = 0.2,
) -> T:
    """Poll `probe` until it returns something other than None/False, and return that.

    Control-plane tests wait for real controllers (scheduler, controller-manager, kwok), which act
    asynchronously; this is the only place such tests wait.

    Raises:
        TimeoutError: `timeout_s` passed; the message names `what`.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(interval_s)


def fake_node(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    gpus: int = 0,
    cpu: str = "32",
    memory: str = "256Gi",
) -> Any:
    """A Node manifest that kwok manages (annotation `kwok.x-k8s.io/node: fake`).

    The API server lets a Node be created with its status, so capacity (including
    `nvidia.com/gpu`) is set here; kwok then keeps the node Ready and runs its pods.
    """
    capacity = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpus:
        capacity["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"kubernetes.io/hostname": name, "type": "kwok", **(labels or {})},
        },
        "spec": {},
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


@asynccontextmanager
async def temporary_namespace(
    api: client.ApiClient, prefix: str, *, ready_for_pods: bool = False
) -> AsyncIterator[str]:
    """Create a namespace named `<prefix>-<random>`, yield its name, delete it on exit.

    Args:
        ready_for_pods: wait until kube-controller-manager has created the namespace's `default`
            ServiceAccount; before that the ServiceAccount admission plugin rejects pods. Only
            for the full `cluster` (the apiserver-only plane runs no controller-manager).
    """
    core = client.CoreV1Api(api)
    manifest: Any = {"metadata": {"generateName": f"{prefix}-"}}
    created = await core.create_namespace(manifest)
    name: str = created.metadata.name
    try:
        if ready_for_pods:

            async def default_service_account() -> bool:
                accounts = await core.list_namespaced_service_account(name)
                return any(a.metadata.name == "default" for a in accounts.items)

            await eventually(f"the default ServiceAccount of {name}", default_service_account)
        yield name
    finally:
        await core.delete_namespace(name)


@asynccontextmanager
async def temporary_nodes(api: client.ApiClient, *nodes: Any) -> AsyncIterator[None]:
    """Create the given Node manifests and delete them on exit."""
    core = client.CoreV1Api(api)
    created: list[str] = []
    try:
        for node in nodes:
            result = await core.create_node(node)
            created.append(result.metadata.name)
        yield
    finally:
        for name in created:
            await core.delete_node(name)
