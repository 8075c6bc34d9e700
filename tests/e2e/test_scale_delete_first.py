"""A ServingGroup variant's scale-down through ``KubeWorkloads`` keeps the replicas on healthy
nodes: the pods named in ``ScaleTarget.delete_first`` get the lowest
``controller.kubernetes.io/pod-deletion-cost`` before the ``/scale`` write, and the real
ReplicaSet controller (kube-controller-manager) removes those.

Without the mark the ReplicaSet chooses among Ready pods by age and spreading, so a variant that
lost a spot node could keep the doomed replicas and remove the healthy ones. Both nodes take the
doomed role in turn, so a tie-break that happens to favour one node cannot pass the test.
Nodes are KWOK nodes (no kubelet): the only simulated part.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes_asyncio import client

from ccc.controller.scale import KubeWorkloads
from policies.commands import Cause, ScaleTarget
from tests.support.controlplane import ControlPlane
from tests.support.kube import (
    api_client,
    eventually,
    fake_node,
    temporary_namespace,
    temporary_nodes,
)

pytestmark = [pytest.mark.controlplane, pytest.mark.e2e, pytest.mark.timeout(180)]


def _deployment(name: str, group: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"test-group": group},
                    "tolerations": [{"operator": "Exists"}],
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": labels},
                        }
                    ],
                    "containers": [
                        {
                            "name": "server",
                            "image": "registry.invalid/none",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ],
                },
            },
        },
    }


async def _live_pods(core: Any, ns: str, app: str) -> list[Any]:
    pods = await core.list_namespaced_pod(ns, label_selector=f"app={app}")
    return [p for p in pods.items if p.metadata.deletion_timestamp is None]


@pytest.mark.parametrize("leaving", [0, 1], ids=["first-node-leaves", "second-node-leaves"])
async def test_a_scale_down_removes_the_replicas_named_to_go_first_and_keeps_the_others(
    cluster: ControlPlane, leaving: int
) -> None:
    group = f"del-{uuid.uuid4().hex[:6]}"
    nodes = [f"{group}-a", f"{group}-b"]
    async with (
        api_client(cluster.kubeconfig) as api,
        temporary_nodes(api, *(fake_node(n, labels={"test-group": group}) for n in nodes)),
        temporary_namespace(api, "delfirst", ready_for_pods=True) as ns,
    ):
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        await apps.create_namespaced_deployment(ns, _deployment("llm", group, 4))

        async def four_running() -> list[Any] | None:
            pods = await _live_pods(core, ns, "llm")
            running = [p for p in pods if p.status.phase == "Running"]
            return running if len(running) == 4 else None

        pods = await eventually("4 replicas Running, 2 per node", four_running, timeout_s=90)
        by_node = {n: sorted(p.metadata.name for p in pods if p.spec.node_name == n) for n in nodes}
        assert [len(v) for v in by_node.values()] == [2, 2], by_node
        doomed, healthy = by_node[nodes[leaving]], by_node[nodes[1 - leaving]]

        await KubeWorkloads(api).set_replicas(
            ScaleTarget(
                api_version="apps/v1",
                kind="Deployment",
                namespace=ns,
                name="llm",
                replicas=2,
                reason="test",
                cause=Cause.SERVING_SHIFT,
                delete_first=(*doomed, "already-gone"),  # a missing pod is skipped
            )
        )

        async def two_left() -> list[str] | None:
            names = sorted(p.metadata.name for p in await _live_pods(core, ns, "llm"))
            return names if len(names) == 2 else None

        assert await eventually("2 replicas left", two_left, timeout_s=60) == healthy
        scale = await apps.read_namespaced_deployment_scale("llm", ns)
        assert scale.spec.replicas == 2
