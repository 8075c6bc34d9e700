"""The chart's RBAC in real controller runs: ``ccc run`` (a real process, kwok provider) with
a kubeconfig holding a token of the chart's ServiceAccount (rendered by ``helm template`` and
applied; the token from the TokenRequest API) provisions a GPU pod end to end; without the rule
that creates Nodes it reports the denial and makes no node. The rule-by-rule proofs are in
test_rbac.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType
from providers.kwok import KwokProvider
from tests.e2e.admission_harness import WebhookInstall, wait_published
from tests.e2e.controller_harness import (
    ControllerProcess,
    class_status,
    create_class,
    create_pods,
    events_for,
    events_until,
    gpu_class,
    gpu_pod,
    install_crd,
    pods_running,
    wait_ready_endpoint,
)
from tests.e2e.test_helm_chart import render
from tests.e2e.test_helm_chart_cluster import kubectl
from tests.e2e.test_rbac import (
    CAPABILITIES,
    ZONES,
    Install,
    _uid,
    chart_rbac,
    replace_role,
    token_kubeconfig,
    without,
)
from tests.support.controlplane import ControlPlane, free_port
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

# -- real controller runs with the ServiceAccount's token -----------------------------------


def _controller(
    cluster: ControlPlane,
    tmp_path: Path,
    install: Install,
    kubeconfig: Path,
    webhook: WebhookInstall | None = None,
) -> ControllerProcess:
    return ControllerProcess(
        cluster,
        tmp_path,
        kwok_namespace=install.cloud_namespace,
        kubeconfig=kubeconfig,
        extra=(
            "--leader-elect",
            "--lease-namespace",
            install.namespace,
            "--lease-name",
            install.fullname,
            *(webhook.args() if webhook is not None else ()),
        ),
    )


@asynccontextmanager
async def chart_webhook(plane: ControlPlane, install: Install) -> AsyncIterator[WebhookInstall]:
    """The chart's webhook objects of the same release (URL on loopback, see
    tests/e2e/admission_harness.py); the configuration is removed on exit."""
    webhook = WebhookInstall(plane, install.release, install.namespace, free_port())
    objects = render(
        plane.bin_dir,
        release=install.release,
        namespace=install.namespace,
        values=(
            "provider=kwok",
            f"kwok.namespace={install.cloud_namespace}",
            f"webhook.url={webhook.url()}",
        ),
        show_only=("templates/webhook.yaml",),
    )
    kubectl(plane, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    try:
        yield webhook
    finally:
        kubectl(
            plane, "delete", "mutatingwebhookconfiguration", webhook.config, "--ignore-not-found"
        )


def _problems(lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log lines that would betray a missing permission."""
    denied = re.compile(r"\b403\b|[Ff]orbidden|PERMISSION_DENIED")
    return [
        line
        for line in lines
        if line.get("level") in ("warning", "error") and denied.search(json.dumps(line))
    ]


async def test_controller_with_the_chart_service_account_provisions_a_gpu_pod(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """With the admission webhook on: the pod is written as for GKE (no toleration), ccc's
    webhook adds the class toleration, with its certificate Secret and caBundle written under
    the same token."""
    async with (
        api_client(cluster.kubeconfig) as api,
        chart_rbac(cluster, api) as install,
        chart_webhook(cluster, install) as webhook,
    ):
        await install_crd(api)
        cloud = KwokProvider(api, namespace=install.cloud_namespace)
        await cloud.set_capacity("a3-highgpu-8g", ZONES[0], CapacityType.SPOT, 0)
        cls = f"rbac-{_uid()}"
        await create_class(api, gpu_class(cls, ZONES))
        kubeconfig = await token_kubeconfig(cluster, api, install, tmp_path / "sa.kubeconfig")
        proc = _controller(cluster, tmp_path, install, kubeconfig, webhook).start()
        try:
            await wait_ready_endpoint(proc)
            await wait_published(api, webhook)
            async with temporary_namespace(api, "rbac-e2e", ready_for_pods=True) as ns:
                gke_style = gpu_pod("trainer-0", cls, gpus=8)
                del gke_style["spec"]["tolerations"]
                await create_pods(api, ns, [gke_style])
                try:
                    (pod,) = await eventually(
                        "GPU pod Running", lambda: pods_running(api, ns, 1), timeout_s=120
                    )
                except TimeoutError:
                    raise AssertionError(f"controller log:\n{proc.tail()}") from None
                node = await client.CoreV1Api(api).read_node(pod.spec.node_name)
                assert node.metadata.labels[L.CLASS_LABEL] == cls
                assert [t.value for t in pod.spec.tolerations if t.key == L.CLASS_LABEL] == [cls]
                assert node.metadata.labels[L.ZONE_LABEL] == ZONES[1]
                # Each permission was used: Events written, status patched, Lease held.
                await events_until(
                    api,
                    kind="ComputeClass",
                    name=cls,
                    done=lambda evs: (
                        {"OfferingUnavailable", "Provisioning"} <= {e.reason for e in evs}
                    ),
                )
                status = await class_status(api, cls)
                assert [o["zone"] for o in status["unavailableOfferings"]] == [ZONES[0]]
                lease = await client.CoordinationV1Api(api).read_namespaced_lease(
                    install.fullname, install.namespace
                )
                assert lease.spec.holder_identity

                await events_until(
                    api,
                    kind="Pod",
                    name="trainer-0",
                    done=lambda evs: any(e.reason == "Provisioning" for e in evs),
                )
                denied = _problems(proc.log_lines())
                assert not denied, denied[:5]
        finally:
            kubectl(cluster, "delete", "mutatingwebhookconfiguration", webhook.config)
            proc.stop()
            for pool in await cloud.list_node_pools():
                await cloud.delete_node_pool(pool.name)


async def test_without_node_create_the_controller_reports_permission_denied_and_makes_no_node(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    async with api_client(cluster.kubeconfig) as api, chart_rbac(cluster, api) as install:
        await install_crd(api)
        cap = next(c for c in CAPABILITIES if c.rule == ("", "", "nodes", "create"))
        await replace_role(api, without(install.role(""), cap))
        cls = f"rbac-nocreate-{_uid()}"
        await create_class(api, gpu_class(cls, ZONES[:1]))
        kubeconfig = await token_kubeconfig(cluster, api, install, tmp_path / "sa.kubeconfig")
        proc = _controller(cluster, tmp_path, install, kubeconfig).start()
        cloud = KwokProvider(api, namespace=install.cloud_namespace)
        try:
            async with temporary_namespace(api, "rbac-e2e") as ns:
                await create_pods(api, ns, [gpu_pod("trainer-0", cls, gpus=8)])

                async def denied_line() -> dict[str, Any] | None:
                    if not proc.alive:
                        raise AssertionError(f"controller exited:\n{proc.tail()}")
                    return next(
                        (
                            line
                            for line in proc.log_lines()
                            if line.get("event") == "offering.marked_unavailable"
                            and line.get("reason") == "PERMISSION_DENIED"
                        ),
                        None,
                    )

                try:
                    await eventually("PERMISSION_DENIED logged", denied_line, timeout_s=90)
                except TimeoutError:
                    raise AssertionError(f"controller log:\n{proc.tail()}") from None
                nodes = await client.CoreV1Api(api).list_node(
                    label_selector=f"{L.CLASS_LABEL}={cls}"
                )
                assert nodes.items == []
                pod = await client.CoreV1Api(api).read_namespaced_pod("trainer-0", ns)
                assert pod.status.phase == "Pending"
                events = await events_for(api, kind="ComputeClass", name=cls)
                assert any("PERMISSION_DENIED" in (e.message or "") for e in events)
        finally:
            proc.stop()
            for pool in await cloud.list_node_pools():
                await cloud.delete_node_pool(pool.name)
