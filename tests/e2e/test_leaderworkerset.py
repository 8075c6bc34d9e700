"""Proof that LeaderWorkerSet runs for real on the local cluster: the LWS controller built from
sigs.k8s.io/lws (with its admission webhooks) turns an LWS of size 2 x replicas 2 into four
Running pods on kwok nodes, labels leaders and workers as an HPA's leader-only selector expects,
and scales through the /scale subresource a ServingGroup variant uses.

Nodes are kwok nodes (no kubelet, no containers): that is the only simulated part.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.support.controlplane import ControlPlane
from tests.support.kube import (
    api_client,
    eventually,
    fake_node,
    temporary_namespace,
    temporary_nodes,
)

pytestmark = [pytest.mark.controlplane, pytest.mark.e2e]

GROUP, VERSION, PLURAL = "leaderworkerset.x-k8s.io", "v1", "leaderworkersets"
NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
GROUP_INDEX = "leaderworkerset.sigs.k8s.io/group-index"


def _lws(name: str, node_group: str, *, replicas: int, size: int) -> dict[str, Any]:
    pod = {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "nodeSelector": {"test-group": node_group},
            "containers": [
                {
                    "name": "vllm",
                    "image": "registry.invalid/vllm-tpu",
                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
                }
            ],
        },
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {"size": size, "workerTemplate": pod},
        },
    }


async def _running_pods(core: client.CoreV1Api, namespace: str, name: str, want: int) -> Any:
    pods = await core.list_namespaced_pod(namespace, label_selector=f"{NAME_LABEL}={name}")
    running = [p for p in pods.items if p.status.phase == "Running" and p.spec.node_name]
    return running if len(running) == want else None


async def test_an_lws_of_size_2_and_2_replicas_runs_4_pods_on_kwok_nodes(
    lws_cluster: ControlPlane,
) -> None:
    node_group = f"lws-{uuid.uuid4().hex[:6]}"
    async with (
        api_client(lws_cluster.kubeconfig) as api,
        temporary_nodes(
            api,
            fake_node(f"{node_group}-a", labels={"test-group": node_group}, cpu="4"),
            fake_node(f"{node_group}-b", labels={"test-group": node_group}, cpu="4"),
        ),
        temporary_namespace(api, "lws", ready_for_pods=True) as namespace,
    ):
        custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        await custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, _lws("vllm", node_group, replicas=2, size=2)
        )
        pods = await eventually(
            "4 Running LWS pods",
            lambda: _running_pods(core, namespace, "vllm", 4),
            timeout_s=90,
        )
        roles = sorted(
            (p.metadata.labels[GROUP_INDEX], p.metadata.labels[WORKER_INDEX]) for p in pods
        )
        assert roles == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
        assert {p.spec.node_name for p in pods} <= {f"{node_group}-a", f"{node_group}-b"}

        async def ready_status() -> Any:
            lws = await custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, "vllm"
            )
            status = lws.get("status") or {}
            return status if status.get("readyReplicas") == 2 else None

        status = await eventually("LWS readyReplicas == 2", ready_status, timeout_s=60)
        assert status["hpaPodSelector"] == f"{NAME_LABEL}=vllm,{WORKER_INDEX}=0"

        await asyncio.to_thread(
            lws_cluster.kubectl, "scale", "-n", namespace, "leaderworkerset/vllm", "--replicas=3"
        )
        await eventually(
            "6 Running LWS pods after scaling to 3 groups",
            lambda: _running_pods(core, namespace, "vllm", 6),
            timeout_s=90,
        )
        scale = await custom.get_namespaced_custom_object_scale(
            GROUP, VERSION, namespace, PLURAL, "vllm"
        )
        assert scale["spec"]["replicas"] == 3
