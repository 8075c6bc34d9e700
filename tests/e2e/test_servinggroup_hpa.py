"""Proof that a real HorizontalPodAutoscaler drives a ServingGroup on the local cluster.

kube-controller-manager's HPA controller reads the group through its scale subresource
(`spec.capacity`, `status.capacity`, `status.selector`), reports AbleToScale=True, and writes
`spec.capacity` back through `/scale`: below the HPA's minReplicas it scales the group up without
needing any metric. No metrics server runs, so the metric-based part reports
FailedGetResourceMetric, which also shows the selector was accepted. `ccc run` (a real process)
writes `status.capacity` and `status.selector`.

An HPA aimed at a variant's workload instead is another owner: ccc leaves that workload alone and
reports the group `Conflicting`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.e2e.controller_harness import ControllerProcess, install_crd, serving_deployment
from tests.e2e.serving_harness import serving_group, variant
from tests.support.controlplane import ControlPlane
from tests.support.crds import apply_ccc_crds
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.controlplane, pytest.mark.e2e]

GROUP, VERSION, PLURAL = "ccc.dev", "v1alpha1", "servinggroups"


def _group(name: str, capacity: int) -> dict[str, Any]:
    variants = [variant("v6e", 8, target="a"), variant("h100", 10, target="b")]
    return serving_group(variants, capacity=capacity, name=name)


def _hpa(
    name: str, *, min_replicas: int, kind: str = "ServingGroup", api_version: str = ""
) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": api_version or f"{GROUP}/{VERSION}",
                "kind": kind,
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
    cluster: ControlPlane, tmp_path: Path
) -> None:
    async with _with_ccc(cluster, tmp_path) as (api, namespace):
        custom = client.CustomObjectsApi(api)
        autoscaling = client.AutoscalingV2Api(api)
        await custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, _group("llama", 40)
        )

        async def selector() -> str | None:
            got = await custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, "llama"
            )
            return (got.get("status") or {}).get("selector") or None

        assert await eventually("ccc writes status.selector", selector) == (
            "ccc.dev/serving-group=llama"
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


@contextlib.asynccontextmanager
async def _with_ccc(
    cluster: ControlPlane, tmp_path: Path, *, hpas: Sequence[dict[str, Any]] = ()
) -> AsyncIterator[tuple[client.ApiClient, str]]:
    """A namespace with the variants' Deployments a and b (their class does not exist, so their
    pods stay Pending) and ``hpas``, then ``ccc run`` with the kwok provider."""
    await asyncio.to_thread(apply_ccc_crds, cluster, kind="ServingGroup")
    async with (
        api_client(cluster.kubeconfig) as api,
        temporary_namespace(api, "sg-hpa") as namespace,
    ):
        await install_crd(api)
        apps = client.AppsV1Api(api)
        for name in ("a", "b"):
            await apps.create_namespaced_deployment(namespace, serving_deployment(name, "absent"))
        for hpa in hpas:
            await client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
                namespace, hpa
            )
        proc = ControllerProcess(
            cluster, tmp_path, kwok_namespace=f"hpa-cloud-{tmp_path.name[-6:]}"
        )
        proc.start()
        try:
            yield api, namespace
        finally:
            proc.stop()


async def test_an_hpa_on_a_variants_workload_is_reported_as_conflicting_and_left_alone(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    hpa = _hpa("a", min_replicas=2, kind="Deployment", api_version="apps/v1")
    async with _with_ccc(cluster, tmp_path, hpas=[hpa]) as (api, namespace):
        custom = client.CustomObjectsApi(api)
        apps = client.AppsV1Api(api)
        await custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, _group("llama", 40)
        )

        async def conflicting() -> dict[str, Any] | None:
            got = await custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, "llama"
            )
            conds = {c["type"]: c for c in (got.get("status") or {}).get("conditions") or []}
            c = conds.get("Conflicting")
            return c if c is not None and c["status"] == "True" else None

        cond = await eventually("Conflicting=True", conflicting, timeout_s=60)
        assert cond["reason"] == "AnotherOwnerScales"
        assert "HorizontalPodAutoscaler a" in cond["message"]

        async def b_scaled() -> int | None:
            replicas = (await apps.read_namespaced_deployment("b", namespace)).spec.replicas
            return replicas or None

        # Variant a is left to its HPA (which does not act on a workload at 0 replicas): ccc
        # plans the group around a's 0 replicas and scales b for all of it (40 / 10 per replica).
        assert await eventually("ccc scales the other variant", b_scaled, timeout_s=30) == 4
        assert (await apps.read_namespaced_deployment("a", namespace)).spec.replicas == 0
