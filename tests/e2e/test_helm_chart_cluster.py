"""The Helm chart against the local cluster: a server-side dry run (``dryRun=All``) of every
rendered kind against the local API server, and ``helm install`` / ``helm upgrade`` /
``helm uninstall`` into the local cluster (the rendering checks are in test_helm_chart.py).

The chart's pods never run here (no image registry; kwok marks pods Running only on its own
nodes), so readiness is not waited for: installs are checked through the objects they create.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from ccc.api import labels as L
from ccc.controller.admission import pki
from ccc.controller.admission.cabundle import CaBundlePublisher
from ccc.controller.admission.secret import SecretStore
from tests.e2e.controller_harness import install_crd
from tests.e2e.test_helm_chart import (
    CHART,
    EVERYTHING_ON,
    GKE_VALUES,
    KWOK_VALUES,
    _uid,
    render,
    run_tool,
)
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# -- against the API server -----------------------------------------------------------------

_OPEN_VERSION = [
    {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        },
    }
]


def stand_in_crd(group: str, kind: str, plural: str) -> dict[str, Any]:
    """A CRD that makes ``kind`` known with an open spec (the real one ships with its operator)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural},
            "scope": "Namespaced",
            "versions": _OPEN_VERSION,
        },
    }


STAND_IN_CRDS = (
    stand_in_crd("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
    stand_in_crd("cert-manager.io", "Issuer", "issuers"),
    stand_in_crd("cert-manager.io", "Certificate", "certificates"),
)


def kubectl(plane: ControlPlane, *args: str, stdin: str | None = None) -> str:
    return run_tool(plane.bin_dir, "kubectl", *args, env=plane.env(), stdin=stdin).stdout


@contextmanager
def namespaces(plane: ControlPlane, *names: str) -> Iterator[None]:
    for name in names:
        kubectl(plane, "create", "namespace", name)
    try:
        yield
    finally:
        for name in names:
            with suppress(AssertionError):
                kubectl(plane, "delete", "namespace", name, "--wait=false")


@pytest.mark.parametrize(
    "values",
    [
        (*KWOK_VALUES, *EVERYTHING_ON),
        (*GKE_VALUES, *EVERYTHING_ON),
        (
            *GKE_VALUES,
            *EVERYTHING_ON,
            "webhook.certManager.enabled=true",
            "webhook.defaultComputeClass=general",
            "webhook.url=https://127.0.0.1:9443/mutate-pods",
        ),
    ],
    ids=["kwok-everything-on", "gke-everything-on", "gke-cert-manager-cluster-default-url"],
)
async def test_every_rendered_kind_passes_a_server_side_dry_run(
    cluster: ControlPlane, values: tuple[str, ...]
) -> None:
    """The ServiceMonitor, Issuer and Certificate CRDs installed here are stand-ins
    (prometheus-operator and cert-manager are not part of the local cluster): they make the kinds
    known, so the dry run checks those objects' envelope. The MutatingWebhookConfiguration is
    checked in full, its CEL matchConditions compiled by the API server."""
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
    for crd in STAND_IN_CRDS:
        kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=json.dumps(crd))
        kubectl(
            cluster,
            "wait",
            "--for=condition=Established",
            f"crd/{crd['metadata']['name']}",
            "--timeout=30s",
        )
    ns, cloud = f"helm-dry-{_uid()}", f"helm-dry-cloud-{_uid()}"
    objects = render(
        cluster.bin_dir,
        release="dry",
        namespace=ns,
        values=(*values, f"kwok.namespace={cloud}"),
        include_crds=True,
    )
    kinds = {o["kind"] for o in objects}
    assert {
        "CustomResourceDefinition",
        "Deployment",
        "ServiceMonitor",
        "NetworkPolicy",
        "MutatingWebhookConfiguration",
    } <= kinds
    with namespaces(cluster, ns, cloud):
        out = kubectl(
            cluster,
            "apply",
            "--dry-run=server",
            "--validate=strict",
            "-o",
            "name",
            "-f",
            "-",
            stdin=yaml.safe_dump_all(objects),
        )
    accepted = out.split()
    assert len(accepted) == len(objects), out
    assert {name.split("/")[0].split(".")[0] for name in accepted} == {k.lower() for k in kinds}
    # A dry run persists nothing.
    assert "dry-ccc" not in kubectl(cluster, "get", "clusterroles", "-o", "name")


def helm(plane: ControlPlane, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_tool(plane.bin_dir, "helm", *args, env=plane.env(), check=check)


def _get(plane: ControlPlane, *args: str) -> dict[str, Any]:
    got: dict[str, Any] = json.loads(kubectl(plane, "get", *args, "-o", "json"))
    return got


async def test_helm_install_then_upgrade_then_uninstall_in_the_local_cluster(
    cluster: ControlPlane,
) -> None:
    release, ns, cloud = f"it-{_uid()}", f"helm-it-{_uid()}", f"helm-it-cloud-{_uid()}"
    full = f"{release}-ccc"
    installed = False
    try:
        helm(
            cluster,
            "install",
            release,
            str(CHART),
            "--namespace",
            ns,
            "--create-namespace",
            "--set",
            "provider=kwok",
            "--set",
            f"kwok.namespace={cloud}",
        )
        installed = True
        notes = helm(cluster, "get", "notes", release, "-n", ns).stdout
        assert "kubectl get computeclasses" in notes and "port-forward" in notes
        assert "admission webhook" in notes and "--dry-run=server" in notes
        deployment = _get(cluster, "deployment", full, "-n", ns)
        assert deployment["spec"]["replicas"] == 2
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == full
        _get(cluster, "serviceaccount", full, "-n", ns)
        _get(cluster, "clusterrole", full)
        _get(cluster, "clusterrolebinding", full)
        _get(cluster, "role", f"{full}-leader-election", "-n", ns)
        _get(cluster, "role", f"{full}-kwok-cloud", "-n", cloud)
        _get(cluster, "poddisruptionbudget", full, "-n", ns)
        _get(cluster, "service", f"{full}-metrics", "-n", ns)
        _get(cluster, "crd", f"computeclasses.{L.GROUP}")
        _get(cluster, "service", f"{full}-webhook", "-n", ns)
        _get(cluster, "role", f"{full}-webhook", "-n", ns)
        config = _get(cluster, "mutatingwebhookconfiguration", full)
        assert [w["name"] for w in config["webhooks"]] == [
            "class-toleration.ccc.dev",
            "namespace-default-non-daemonset.ccc.dev",
            "namespace-default.ccc.dev",
            "gke-namespace-default-non-daemonset.ccc.dev",
            "gke-namespace-default.ccc.dev",
        ]
        assert not any(w["clientConfig"].get("caBundle") for w in config["webhooks"])
        assert not _get(cluster, "secret", f"{full}-webhook-cert", "-n", ns).get("data")
        # What a replica writes (the real code, as admin): certificates and the caBundle...
        async with api_client(cluster.kubeconfig) as api:
            secrets = SecretStore(api, namespace=ns, name=f"{full}-webhook-cert")
            ca = pki.new_ca(datetime.now(UTC), timedelta(days=1))
            await secrets.write(await secrets.read(), {pki.CA_CERT: ca.cert}, {})
            publisher = CaBundlePublisher(api, name=full)
            bundles, version = await publisher.read()
            await publisher.publish(ca.cert, webhooks=len(bundles), resource_version=version)

        helm(
            cluster,
            "upgrade",
            release,
            str(CHART),
            "--namespace",
            ns,
            "--reuse-values",
            "--set",
            "replicas=3",
            "--set",
            "networkPolicy.enabled=true",
        )
        status = json.loads(helm(cluster, "status", release, "-n", ns, "-o", "json").stdout)
        assert status["version"] == 2 and status["info"]["status"] == "deployed"
        assert _get(cluster, "deployment", full, "-n", ns)["spec"]["replicas"] == 3
        _get(cluster, "networkpolicy", full, "-n", ns)
        # ... survives an upgrade: Helm's three-way merge leaves fields the chart never sets.
        config = _get(cluster, "mutatingwebhookconfiguration", full)
        assert {base64.b64decode(w["clientConfig"]["caBundle"]) for w in config["webhooks"]} == {
            ca.cert
        }
        secret = _get(cluster, "secret", f"{full}-webhook-cert", "-n", ns)
        assert base64.b64decode(secret["data"][pki.CA_CERT]) == ca.cert

        helm(cluster, "uninstall", release, "--namespace", ns)
        installed = False
        gone = run_tool(
            cluster.bin_dir,
            "kubectl",
            "get",
            "clusterrole",
            full,
            env=cluster.env(),
            check=False,
        )
        assert gone.returncode != 0 and "NotFound" in gone.stderr
        # The kwok cloud's namespace holds the records of the pools ccc made: kept.
        assert _get(cluster, "namespace", cloud)["metadata"]["name"] == cloud
    finally:
        if installed:
            helm(cluster, "uninstall", release, "--namespace", ns, check=False)
        for name in (ns, cloud):
            run_tool(
                cluster.bin_dir,
                "kubectl",
                "delete",
                "namespace",
                name,
                "--wait=false",
                "--ignore-not-found",
                env=cluster.env(),
                check=False,
            )
