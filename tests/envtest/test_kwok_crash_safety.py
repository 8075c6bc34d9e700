"""The kwok provider survives being killed at every point of every operation.

For each operation (create, grow, shrink, delete some Nodes, delete) and each of its API
requests, a provider is "killed" at that request, either before the request reaches the API
server or after the server applied it but before the answer arrived, and a fresh provider (the
restarted controller) runs the same operation again. Afterwards the cloud must hold exactly the
intended pool and Nodes: no duplicate, no leftover, no capacity booked twice (the offering's
capacity is exactly what the final pool needs, so a double booking would fail the retry with a
stockout).

Fake, said plainly: the kill is :class:`Crash`, a ``BaseException`` raised by a wrapped
``ApiClient`` at the chosen request, which nothing in the provider catches, so the operation
stops there as it would under ``kill -9``. The API server and its state are real.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from ccc.api import labels as L
from ccc.api.values import CapacityType, NodePoolName, NodePoolSpec, NodePoolStatus
from providers.kwok import CLOUD_LABEL, POOL_UID_LABEL, KwokProvider
from tests.support.controlplane import ControlPlane

pytestmark = pytest.mark.controlplane

ZONE = "us-central1-a"
MACHINE = "a3-highgpu-8g"


class Crash(BaseException):
    """The controller process died at this point."""


class CrashingApiClient(client.ApiClient):
    """Dies at request number :attr:`crash_at` (before sending it, or after it was applied)."""

    def __init__(self, *, crash_at: int, after_send: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crash_at, self.after_send, self.requests = crash_at, after_send, 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        if self.requests != self.crash_at:
            return super().request(method, url, *args, **kwargs)
        sent = super().request(method, url, *args, **kwargs) if self.after_send else None
        return _die(sent, self.crash_at)


def _die(sent: Awaitable[Any] | None, at: int) -> Coroutine[Any, Any, Any]:
    async def die() -> Any:
        if sent is not None:
            with contextlib.suppress(Exception):  # the answer, good or bad, is lost
                await sent
        raise Crash(f"killed at request {at}")

    return die()


Operation = Callable[[KwokProvider, NodePoolSpec], Awaitable[Any]]


async def _grow(p: KwokProvider, s: NodePoolSpec) -> Any:
    return await p.resize_node_pool(s.name, node_count=5)


async def _shrink(p: KwokProvider, s: NodePoolSpec) -> Any:
    return await p.resize_node_pool(s.name, node_count=1)


async def _delete(p: KwokProvider, s: NodePoolSpec) -> Any:
    return await p.delete_node_pool(s.name)


async def _create(p: KwokProvider, s: NodePoolSpec) -> Any:
    return await p.create_node_pool(s)


async def _delete_some_nodes(p: KwokProvider, s: NodePoolSpec) -> Any:
    return await p.delete_nodes(s.name, [f"{s.name}-0", f"{s.name}-2"])


#: name -> (pool of 3 exists before?, the operation, indices of the Nodes after it; None = no pool)
OPERATIONS: dict[str, tuple[bool, Operation, list[int] | None]] = {
    "create": (False, _create, [0, 1, 2]),
    "grow": (True, _grow, [0, 1, 2, 3, 4]),
    "shrink": (True, _shrink, [0]),
    "delete-nodes": (True, _delete_some_nodes, [1]),
    "delete": (True, _delete, None),
}


async def _client(plane: ControlPlane, **crash: Any) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(plane.kubeconfig), client_configuration=configuration
    )
    if crash:
        return CrashingApiClient(configuration=configuration, **crash)
    return client.ApiClient(configuration=configuration)


def _spec(tag: str) -> NodePoolSpec:
    return NodePoolSpec(
        name=NodePoolName(f"crash-{tag}"),
        class_name="gpu",
        rule_index=0,
        machine_type=MACHINE,
        zone=ZONE,
        capacity_type=CapacityType.SPOT,
        node_count=3,
        labels={L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE, L.CLASS_LABEL: "gpu"},
    )


async def _run_with_crash(
    plane: ControlPlane, operation: str, crash_at: int, after_send: bool
) -> bool:
    """One kill-and-restart round; returns whether the kill happened (False = the operation
    finished in fewer requests than ``crash_at``)."""
    existed, op, expected = OPERATIONS[operation]
    tag = uuid.uuid4().hex[:8]
    namespace, spec = f"ccc-crash-{tag}", _spec(tag)
    healthy_api = await _client(plane)
    healthy = KwokProvider(healthy_api, namespace=namespace, retry_backoff_s=0.0)
    core: Any = client.CoreV1Api(healthy_api)
    try:
        await healthy.set_capacity(MACHINE, ZONE, CapacityType.SPOT, max(3, len(expected or ())))
        if existed:
            await healthy.create_node_pool(spec)
        dying_api = await _client(plane, crash_at=crash_at, after_send=after_send)
        try:
            await op(KwokProvider(dying_api, namespace=namespace, retry_backoff_s=0.0), spec)
        except Crash:
            killed = True
        else:
            killed = False
        finally:
            await dying_api.close()

        await op(healthy, spec)  # the restarted controller decides the same again
        before = await _cloud_nodes(core, namespace)
        await healthy.reconcile()

        pools = await healthy.list_node_pools()
        nodes = await _cloud_nodes(core, namespace)
        assert nodes == before, "reconcile found something to repair after the retry"
        if expected is None:
            assert (pools, nodes) == ([], {})
        else:
            (pool,) = pools
            assert (pool.node_count, pool.status) == (len(expected), NodePoolStatus.RUNNING)
            cm = await core.read_namespaced_config_map(spec.name, namespace)
            assert nodes == {f"{spec.name}-{i}": cm.metadata.uid for i in expected}
        return killed
    finally:
        await core.delete_collection_node(label_selector=f"{CLOUD_LABEL}={namespace}")
        await core.delete_namespace(namespace)
        await healthy_api.close()


async def _cloud_nodes(core: Any, namespace: str) -> dict[str, str]:
    """Node name -> uid of the pool it belongs to, for every Node of the cloud."""
    nodes = await core.list_node(label_selector=f"{CLOUD_LABEL}={namespace}")
    return {n.metadata.name: n.metadata.labels[POOL_UID_LABEL] for n in nodes.items}


@pytest.mark.parametrize("after_send", [False, True], ids=["before-send", "after-applied"])
@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_killing_the_provider_at_any_request_leaves_no_duplicate_or_leak(
    control_plane: ControlPlane, operation: str, after_send: bool
) -> None:
    kills = 0
    for crash_at in range(1, 40):
        if not await _run_with_crash(control_plane, operation, crash_at, after_send):
            break
        kills += 1
    assert kills >= 5, f"{operation} made only {kills} requests: the test lost its reach"
