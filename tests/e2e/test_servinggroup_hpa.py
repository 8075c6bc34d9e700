"""Proof that a real HorizontalPodAutoscaler drives a ServingGroup on the local cluster.

kube-controller-manager's HPA controller reads the group through its scale subresource
(`spec.capacity`, `status.capacity`, `status.selector`), reports AbleToScale=True, and writes
`spec.capacity` back through `/scale`: below the HPA's minReplicas it scales the group up without
needing any metric. No metrics server runs, so the metric-based part reports
FailedGetResourceMetric, which also shows the selector was accepted. The ServingGroup controller
will write `status.selector`; until then the test sets it through the status subresource.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.support.controlplane import ControlPlane
from tests.support.crds import apply_ccc_crds
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.controlplane, pytest.mark.e2e]

GROUP, VERSION, PLURAL = "ccc.dev", "v1alpha1", "servinggroups"


def _group(name: str, capacity: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ServingGroup",
        "metadata": {"name": name},
        "spec": {
            "capacity": capacity,
            "capacityUnit": "requests/s",
            "variants": [
                {
                    "name": "v6e",
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "a"},
                    "capacityPerReplica": 8,
                },
                {
                    "name": "h100",
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "b"},
                    "capacityPerReplica": 10,
                },
            ],
        },
    }


def _hpa(name: str, *, min_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ServingGroup",
                "name": name,
            },
            "minReplicas": min_replicas,
            "maxReplicas": 400,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 60},
                    },
                }
            ],
        },
    }


async def test_an_hpa_reads_the_scale_subresource_and_scales_the_capacity(
    cluster: ControlPlane,
) -> None:
    await asyncio.to_thread(apply_ccc_crds, cluster, kind="ServingGroup")
    async with (
        api_client(cluster.kubeconfig) as api,
        temporary_namespace(api, "sg-hpa") as namespace,
    ):
        custom = client.CustomObjectsApi(api)
        autoscaling = client.AutoscalingV2Api(api)
        await custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, _group("llama", 40)
        )
        status = {"capacity": 40, "readyCapacity": 40, "selector": "ccc.dev/serving-group=llama"}
        await asyncio.to_thread(
            cluster.kubectl,
            "patch",
            "-n",
            namespace,
            "servinggroup/llama",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
        )
        await autoscaling.create_namespaced_horizontal_pod_autoscaler(
            namespace, _hpa("llama", min_replicas=64)
        )

        async def conditions() -> dict[str, Any] | None:
            hpa = await autoscaling.read_namespaced_horizontal_pod_autoscaler("llama", namespace)
            found = {c.type: c for c in hpa.status.conditions or []}
            return found if "AbleToScale" in found and "ScalingActive" in found else None

        found = await eventually("the HPA's conditions", conditions, timeout_s=60)
        assert found["AbleToScale"].status == "True", found["AbleToScale"]
        assert found["ScalingActive"].reason != "InvalidSelector", found["ScalingActive"]

        async def scaled_up() -> int | None:
            got = await custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, "llama"
            )
            capacity: int = got["spec"]["capacity"]
            return capacity if capacity == 64 else None

        assert await eventually("the HPA to set spec.capacity to minReplicas", scaled_up) == 64
        hpa = await autoscaling.read_namespaced_horizontal_pod_autoscaler("llama", namespace)
        assert hpa.status.desired_replicas == 64
