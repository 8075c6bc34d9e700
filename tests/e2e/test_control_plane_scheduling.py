"""Proof that the local cluster behaves like a real one: the real kube-scheduler places pods by
extended resources, the real kube-controller-manager runs Deployments and PodDisruptionBudgets, and
kwok runs the pods on fake nodes. Later end-to-end tests of ccc rely on each of these.

Nodes are kwok nodes (no kubelet, no containers): that is the only simulated part.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.support.controlplane import ControlPlane
from tests.support.kube import (
    api_client,
    eventually,
    fake_node,
    temporary_namespace,
    temporary_nodes,
)

pytestmark = [pytest.mark.controlplane, pytest.mark.e2e]


def _pod(name: str, *, labels: dict[str, str], node_selector: dict[str, str], gpus: int = 0) -> Any:
    resources: dict[str, dict[str, str]] = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    if gpus:
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
        resources["limits"] = {"nvidia.com/gpu": str(gpus)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeSelector": node_selector,
            "containers": [
                {"name": "main", "image": "registry.invalid/none", "resources": resources}
            ],
        },
    }


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def test_gpu_pod_is_scheduled_onto_the_kwok_gpu_node_and_runs(cluster: ControlPlane) -> None:
    group = _unique("gpu")
    gpu_node, cpu_node = f"{group}-h100", f"{group}-cpu"
    async with (
        api_client(cluster.kubeconfig) as api,
        temporary_nodes(
            api,
            fake_node(gpu_node, labels={"test-group": group}, gpus=8),
            fake_node(cpu_node, labels={"test-group": group}),
        ),
        temporary_namespace(api, "gpu", ready_for_pods=True) as namespace,
    ):
        core = client.CoreV1Api(api)
        await core.create_namespaced_pod(
            namespace, _pod("trainer", labels={}, node_selector={"test-group": group}, gpus=1)
        )

        async def running_pod() -> Any:
            pod = await core.read_namespaced_pod("trainer", namespace)
            return pod if pod.status.phase == "Running" else None

        pod = await eventually("the GPU pod to be Running", running_pod)
        assert pod.spec.node_name == gpu_node
        node = await core.read_node(gpu_node)
        assert node.status.allocatable["nvidia.com/gpu"] == "8"


async def test_deployment_of_three_replicas_gets_three_running_pods(cluster: ControlPlane) -> None:
    group = _unique("deploy")
    async with (
        api_client(cluster.kubeconfig) as api,
        temporary_nodes(api, fake_node(f"{group}-node", labels={"test-group": group})),
        temporary_namespace(api, "deploy", ready_for_pods=True) as namespace,
    ):
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        template = _pod("unused", labels={"app": "web"}, node_selector={"test-group": group})
        del template["metadata"]["name"]
        deployment: Any = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": template["metadata"], "spec": template["spec"]},
            },
        }
        await apps.create_namespaced_deployment(namespace, deployment)

        async def three_running() -> list[Any] | None:
            pods = (await core.list_namespaced_pod(namespace, label_selector="app=web")).items
            running = [pod for pod in pods if pod.status.phase == "Running"]
            return running if len(running) == 3 else None

        running = await eventually("3 Running pods of the Deployment", three_running)
        assert {pod.spec.node_name for pod in running} == {f"{group}-node"}

        async def ready_replicas() -> int | None:
            deployment = await apps.read_namespaced_deployment("web", namespace)
            return 3 if deployment.status.ready_replicas == 3 else None

        assert await eventually("the Deployment to report 3 ready replicas", ready_replicas) == 3


async def test_eviction_that_would_violate_the_pod_disruption_budget_is_refused_with_429(
    cluster: ControlPlane,
) -> None:
    group = _unique("pdb")
    async with (
        api_client(cluster.kubeconfig) as api,
        temporary_nodes(api, fake_node(f"{group}-node", labels={"test-group": group})),
        temporary_namespace(api, "pdb", ready_for_pods=True) as namespace,
    ):
        core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
        for name in ("server-0", "server-1"):
            await core.create_namespaced_pod(
                namespace, _pod(name, labels={"app": "server"}, node_selector={"test-group": group})
            )
        budget: Any = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "server"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "server"}}},
        }
        await policy.create_namespaced_pod_disruption_budget(namespace, budget)

        async def one_disruption_allowed() -> bool:
            pdb = await policy.read_namespaced_pod_disruption_budget("server", namespace)
            status = pdb.status
            return (
                status is not None
                and status.observed_generation == pdb.metadata.generation
                and status.current_healthy == 2
                and status.disruptions_allowed == 1
            )

        await eventually("the PDB to allow exactly one disruption", one_disruption_allowed)

        def eviction(pod: str) -> Any:
            return {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": pod, "namespace": namespace},
            }

        await core.create_namespaced_pod_eviction("server-0", namespace, eviction("server-0"))
        with pytest.raises(ApiException) as refused:
            await core.create_namespaced_pod_eviction("server-1", namespace, eviction("server-1"))
        assert refused.value.status == 429
        assert "disruption budget" in str(refused.value.body)
        pod = await core.read_namespaced_pod("server-1", namespace)
        assert pod.metadata.deletion_timestamp is None
