"""Contract-suite harness for the kwok provider on the real local API server.

Each harness is a separate kwok cloud: its own namespace (pool ConfigMaps and the ``capacity``
ConfigMap) and Nodes labelled with it, all deleted on exit. Capacity, quota and reservations are
scripted through the provider's own hooks, which write the ``capacity`` ConfigMap.

Fake, said plainly: transient API failures are injected by :class:`FlakyApiClient`, an
``ApiClient`` whose next ``n`` HTTP requests fail with 503 before reaching the server, because a
real kube-apiserver cannot be asked to fail on demand.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from ccc.api.values import CapacityType, NodePoolName, NodePoolSpec
from providers.kwok import CLOUD_LABEL, KwokProvider
from tests.support.controlplane import ControlPlane


class FlakyApiClient(client.ApiClient):
    """An ``ApiClient`` whose next :attr:`failures` requests fail with HTTP 503."""

    failures = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            return _unavailable()
        return super().request(method, url, *args, **kwargs)


def _unavailable() -> Coroutine[Any, Any, Any]:
    async def fail() -> Any:
        error = ApiException(status=503, reason="Service Unavailable (injected)")
        error.body = b"injected"
        raise error

    return fail()


class KwokHarness:
    """The kwok provider with its own namespace; retries do not wait."""

    machine_type = "a3-highgpu-8g"
    zones = ("us-central1-a", "us-central1-b")

    def __init__(self, api: FlakyApiClient, namespace: str) -> None:
        self.api = api
        self.kwok = KwokProvider(api, namespace=namespace, retry_backoff_s=0.0)
        self.provider = self.kwok
        self.max_transient_retries = self.kwok.max_transient_retries

    async def inject_stockout(
        self, machine_type: str, zone: str, capacity_type: CapacityType
    ) -> None:
        await self.kwok.set_capacity(machine_type, zone, capacity_type, 0)

    async def inject_quota(self, region: str) -> None:
        await self.kwok.set_quota(region, "INSTANCES", 0)

    async def inject_transient(self, attempts: int) -> None:
        self.api.failures = attempts

    async def set_capacity(
        self, machine_type: str, zone: str, capacity_type: CapacityType, nodes: int
    ) -> None:
        await self.kwok.set_capacity(machine_type, zone, capacity_type, nodes)

    async def add_reservation(self, name: str, *, zone: str, machine_type: str, count: int) -> None:
        await self.kwok.add_reservation(name, zone=zone, machine_type=machine_type, count=count)

    async def add_unmanaged_pool(
        self, name: str, *, machine_type: str, zone: str, node_count: int
    ) -> None:
        spec = NodePoolSpec(
            name=NodePoolName(name),
            class_name="",
            rule_index=0,
            machine_type=machine_type,
            zone=zone,
            capacity_type=CapacityType.ON_DEMAND,
            node_count=node_count,
        )
        await self.kwok.create_node_pool(spec)


@asynccontextmanager
async def kwok_harness(control_plane: ControlPlane) -> AsyncIterator[KwokHarness]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(control_plane.kubeconfig), client_configuration=configuration
    )
    api = FlakyApiClient(configuration=configuration)
    namespace = f"ccc-kwok-contract-{uuid.uuid4().hex[:8]}"
    try:
        harness = KwokHarness(api, namespace)
        yield harness
    finally:
        api.failures = 0
        core: Any = client.CoreV1Api(api)
        await core.delete_collection_node(label_selector=f"{CLOUD_LABEL}={namespace}")
        try:
            await core.delete_namespace(namespace)
        except ApiException as error:
            if error.status != 404:  # never created: the test made no pool
                raise
        await api.close()


HARNESS_FACTORIES = {"kwok": kwok_harness}
HARNESS_MARKS = {"kwok": [pytest.mark.controlplane]}
HARNESS_FIXTURES = {"kwok": ["control_plane"]}
