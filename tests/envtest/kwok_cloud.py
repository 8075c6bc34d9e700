"""A kwok cloud under test on the real API server (a fresh namespace per test; its Nodes carry
that namespace as a label and are deleted afterwards), and the fixtures that open one: shared by
the kwok provider's envtest files."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import (
    CapacityType,
    NodePoolName,
    NodePoolSpec,
    Taint,
)
from providers.clock import VirtualClock
from providers.kwok import CLOUD_LABEL, KwokProvider
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client

ZONE = "us-central1-a"
CLASS_TAINT = Taint(key=L.CLASS_LABEL, value="gpu", effect="NoSchedule")
GPU_TAINT = Taint(key=L.GPU_RESOURCE, value="present", effect="NoSchedule")


@dataclass
class Cloud:
    """One kwok cloud under test: the provider, a raw CoreV1Api and a name prefix."""

    provider: KwokProvider
    core: Any
    namespace: str
    api: client.ApiClient
    prefix: str

    def spec(self, suffix: str = "pool", **fields: Any) -> NodePoolSpec:
        values: dict[str, Any] = {
            "name": NodePoolName(f"{self.prefix}-{suffix}"),
            "class_name": "gpu",
            "rule_index": 0,
            "machine_type": "a3-highgpu-8g",
            "zone": ZONE,
            "capacity_type": CapacityType.SPOT,
            "node_count": 2,
            "labels": {
                L.CLASS_LABEL: "gpu",
                L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE,
                L.RULE_INDEX_LABEL: "0",
            },
            "taints": (CLASS_TAINT, GPU_TAINT),
        }
        values.update(fields)
        return NodePoolSpec(**values)

    async def node_names(self, pool: str) -> list[str]:
        nodes = await self.core.list_node(
            label_selector=f"{CLOUD_LABEL}={self.namespace},{L.NODE_POOL_LABEL}={pool}"
        )
        return sorted(n.metadata.name for n in nodes.items)

    async def node(self, name: str) -> Any:
        return await self.core.read_node(name)


@asynccontextmanager
async def open_cloud(
    plane: ControlPlane, clock: VirtualClock | None = None
) -> AsyncIterator[Cloud]:
    tag = uuid.uuid4().hex[:6]
    namespace = f"ccc-kwok-{tag}"
    async with api_client(plane.kubeconfig) as api:
        core: Any = client.CoreV1Api(api)
        provider = KwokProvider(api, namespace=namespace, clock=clock, retry_backoff_s=0.0)
        try:
            yield Cloud(provider, core, namespace, api, prefix=f"kw{tag}")
        finally:
            await core.delete_collection_node(label_selector=f"{CLOUD_LABEL}={namespace}")
            namespaces = await core.list_namespace(field_selector=f"metadata.name={namespace}")
            if namespaces.items:
                await core.delete_namespace(namespace)


@pytest.fixture
async def cloud(control_plane: ControlPlane) -> AsyncIterator[Cloud]:
    async with open_cloud(control_plane) as c:
        yield c


@pytest.fixture
async def virtual_cloud(control_plane: ControlPlane) -> AsyncIterator[Cloud]:
    """A cloud whose clock stands still at VIRTUAL_EPOCH (deadlines become predictable)."""
    async with open_cloud(control_plane, VirtualClock()) as c:
        yield c
