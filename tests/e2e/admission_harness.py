"""The admission webhook on the local cluster: the chart's webhook objects, pointed at a real
``ccc run`` on loopback.

The chart renders the MutatingWebhookConfiguration, its Service and the (empty) certificate
Secret. The local control plane has no pod network, so the configuration is rendered with
``webhook.url=https://127.0.0.1:PORT/mutate-pods`` instead of the Service, and ``ccc run``
(a real process) serves that port with a certificate for ``127.0.0.1`` that it creates itself
and publishes as the configuration's ``caBundle``. Everything else is what a cluster gets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.controller.kube import request_json
from tests.e2e.controller_harness import install_crd
from tests.e2e.test_helm_chart import render, run_tool
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually


@dataclass(frozen=True, slots=True)
class WebhookInstall:
    """The chart's webhook objects for one release, served on ``port``."""

    plane: ControlPlane
    release: str
    namespace: str
    port: int

    @property
    def fullname(self) -> str:
        return f"{self.release}-ccc"

    @property
    def secret(self) -> str:
        return f"{self.fullname}-webhook-cert"

    @property
    def config(self) -> str:
        return self.fullname

    def url(self, port: int | None = None) -> str:
        return f"https://127.0.0.1:{port or self.port}/mutate-pods"

    def args(self, *, port: int | None = None, extra: Sequence[str] = ()) -> tuple[str, ...]:
        """``ccc run`` flags that serve this install (what the chart's Deployment passes,
        with loopback for the Service)."""
        return (
            "--webhook",
            "--webhook-host",
            "127.0.0.1",
            "--webhook-port",
            str(port or self.port),
            "--webhook-namespace",
            self.namespace,
            "--webhook-secret",
            self.secret,
            "--webhook-config",
            self.config,
            "--webhook-cert-hosts",
            "127.0.0.1",
            *extra,
        )


def kubectl(plane: ControlPlane, *args: str, stdin: str | None = None, check: bool = True) -> Any:
    return run_tool(plane.bin_dir, "kubectl", *args, env=plane.env(), stdin=stdin, check=check)


def install_webhook(
    plane: ControlPlane, *, release: str, namespace: str, port: int, values: Sequence[str] = ()
) -> WebhookInstall:
    """Create the namespace and apply the chart's ``templates/webhook.yaml`` (URL on loopback).
    Call from synchronous code (a module fixture): it runs kubectl."""
    install = WebhookInstall(plane, release, namespace, port)
    kubectl(plane, "create", "namespace", namespace)
    objects = render(
        plane.bin_dir,
        release=release,
        namespace=namespace,
        values=("provider=kwok", f"webhook.url={install.url()}", *values),
        show_only=("templates/webhook.yaml",),
    )
    kubectl(plane, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    return install


def install_crd_now(plane: ControlPlane) -> None:
    """The ComputeClass CRD, from synchronous code."""

    async def install() -> None:
        async with api_client(plane.kubeconfig) as api:
            await install_crd(api)

    asyncio.run(install())


@asynccontextmanager
async def labelled_namespace(
    api: client.ApiClient, prefix: str, labels: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """A namespace created with ``labels`` (so no cache can have seen it without them), ready
    for pods; deleted on exit."""
    core = client.CoreV1Api(api)
    created = await core.create_namespace(
        {"metadata": {"generateName": f"{prefix}-", "labels": labels or {}}}
    )
    name: str = created.metadata.name

    async def default_service_account() -> bool:
        accounts = await core.list_namespaced_service_account(name)
        return any(a.metadata.name == "default" for a in accounts.items)

    try:
        await eventually(f"the default ServiceAccount of {name}", default_service_account)
        yield name
    finally:
        await core.delete_namespace(name)


def uninstall_webhook(install: WebhookInstall) -> None:
    """Remove the configuration first (nothing may call a stopped webhook), then the rest."""
    plane = install.plane
    kubectl(plane, "delete", "mutatingwebhookconfiguration", install.config, "--ignore-not-found")
    kubectl(plane, "delete", "namespace", install.namespace, "--wait=false", "--ignore-not-found")


async def published_bundle(api: client.ApiClient, install: WebhookInstall) -> bytes | None:
    """The caBundle of every webhook of the configuration, when all are set and equal."""
    config = await request_json(
        api,
        "GET",
        f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{install.config}",
    )
    bundles = {(w.get("clientConfig") or {}).get("caBundle") for w in config["webhooks"]}
    if len(bundles) != 1 or None in bundles:
        return None
    return base64.b64decode(bundles.pop())


async def wait_published(api: client.ApiClient, install: WebhookInstall) -> bytes:
    return await eventually(
        "the caBundle published", lambda: published_bundle(api, install), timeout_s=60
    )


def served_certificate(port: int, *, ca_bundle: bytes | None = None) -> bytes:
    """The PEM certificate the webhook on ``port`` presents. With ``ca_bundle`` the handshake
    verifies it for 127.0.0.1, as the API server does.

    Raises:
        ssl.SSLError: verification failed.
    """
    if ca_bundle is None:
        return ssl.get_server_certificate(("127.0.0.1", port)).encode()
    context = ssl.create_default_context(cadata=ca_bundle.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return ssl.DER_cert_to_PEM_cert(der).encode()


async def admitted(
    api: client.ApiClient, namespace: str, pod: dict[str, Any], *, dry_run: bool = True
) -> dict[str, Any]:
    """Create ``pod`` (by default as a server-side dry run: admission runs, nothing is stored)
    and return the pod as admitted."""
    got: dict[str, Any] = await request_json(
        api,
        "POST",
        f"/api/v1/namespaces/{namespace}/pods",
        query={"dryRun": "All"} if dry_run else None,
        body=pod,
    )
    return got


def create_with_kubectl(
    plane: ControlPlane, obj: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """``kubectl create`` (its stderr carries the admission warnings)."""
    result: subprocess.CompletedProcess[str] = kubectl(
        plane, "create", "-o", "json", "-f", "-", stdin=json.dumps(obj), check=False
    )
    return result


def class_tolerations(pod: dict[str, Any]) -> list[str]:
    """Values of the pod's tolerations of the class taint."""
    return [
        t.get("value", "")
        for t in pod["spec"].get("tolerations") or ()
        if t.get("key") == L.CLASS_LABEL
    ]


def pod_manifest(
    name: str,
    *,
    selector: dict[str, str] | None = None,
    affinity_class: tuple[str, str] | None = None,
    gpus: int = 0,
    tpus: int = 0,
    owner: str | None = None,
    gated: bool = False,
    generate: bool = False,
) -> dict[str, Any]:
    """A pod as a GKE user writes it: no toleration of any kind."""
    resources: dict[str, Any] = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    limits = {}
    if gpus:
        limits[L.GPU_RESOURCE] = str(gpus)
    if tpus:
        limits[L.TPU_RESOURCE] = str(tpus)
    if limits:
        resources["limits"] = limits
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "image": "registry.invalid/app:1", "resources": resources}]
    }
    if selector:
        spec["nodeSelector"] = selector
    if affinity_class is not None:
        key, value = affinity_class
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}
                    ]
                }
            }
        }
    if gated:
        spec["schedulingGates"] = [{"name": "ccc.dev/test-hold"}]
    meta: dict[str, Any] = {"generateName": f"{name}-"} if generate else {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner,
                "name": f"{name}-owner",
                "uid": "00000000-0000-0000-0000-000000000001",
                "controller": True,
            }
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def owned_pods(kind: str, name: str, replicas: int, pod: dict[str, Any]) -> dict[str, Any]:
    """A Deployment or ReplicaSet of ``replicas`` copies of ``pod`` (labelled ``app: name``)."""
    template = {**pod, "metadata": {"labels": {"app": name}}}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        },
    }
