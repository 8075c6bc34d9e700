"""Proof that the envtest-tier control plane is a real, securely configured kube-apiserver: it
serves the pinned version, authenticates client certificates and service-account tokens, enforces
RBAC, admits accelerator pods as GKE does, and the launcher leaves no process behind when it
stops.
"""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.support.controlplane import (
    REPO_ROOT,
    ControlPlane,
    processes_mentioning,
    start_control_plane,
)
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = pytest.mark.controlplane


def _pinned_kubernetes_version() -> str:
    for line in (REPO_ROOT / "hack" / "control-plane" / "versions.env").read_text().splitlines():
        if line.startswith("KUBERNETES_VERSION="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("KUBERNETES_VERSION missing from versions.env")


def _get_with_token(plane: ControlPlane, path: str, token: str) -> int:
    context = ssl.create_default_context(cafile=str(plane.pki.ca_cert))
    request = urllib.request.Request(
        plane.server + path, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_apiserver_serves_the_pinned_version(control_plane: ControlPlane) -> None:
    status, body = control_plane.get("/version")
    assert status == 200
    assert json.loads(body)["gitVersion"] == _pinned_kubernetes_version()


def test_anonymous_requests_cannot_read_resources(control_plane: ControlPlane) -> None:
    context = ssl.create_default_context(cafile=str(control_plane.pki.ca_cert))
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(control_plane.server + "/api/v1/pods", context=context, timeout=5)
    assert denied.value.code in (401, 403)


async def test_a_pod_requesting_gpus_or_tpus_is_admitted_with_their_tolerations_as_on_gke(
    control_plane: ControlPlane,
) -> None:
    """The ExtendedResourceToleration admission plugin (enabled on GKE) adds a toleration of the
    ``nvidia.com/gpu`` / ``google.com/tpu`` taint to pods requesting that resource; ccc's walk
    assumes it (policies/admission.py)."""
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "admission") as namespace,
    ):
        core = client.CoreV1Api(api)
        added: dict[str, list[tuple[str, str, str]]] = {}
        for name, resource in (("gpu", "nvidia.com/gpu"), ("tpu", "google.com/tpu"), ("cpu", "")):
            limits = {resource: "1"} if resource else {}
            pod: Any = {
                "metadata": {"name": name},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "busybox", "resources": {"limits": limits}}
                    ]
                },
            }
            created = await core.create_namespaced_pod(namespace, pod)
            added[name] = [
                (t.key, t.operator, t.effect)
                for t in created.spec.tolerations or ()
                if t.key in ("nvidia.com/gpu", "google.com/tpu")
            ]
    assert added == {
        "gpu": [("nvidia.com/gpu", "Exists", "NoSchedule")],
        "tpu": [("google.com/tpu", "Exists", "NoSchedule")],
        "cpu": [],
    }


async def test_service_account_token_is_denied_until_rbac_grants_access(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "rbac") as namespace,
    ):
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        account: Any = {"metadata": {"name": "reader"}}
        await core.create_namespaced_service_account(namespace, account)
        request: Any = {"spec": {"expirationSeconds": 600}}
        token_request = await core.create_namespaced_service_account_token(
            "reader", namespace, request
        )
        token = token_request.status.token
        pods = f"/api/v1/namespaces/{namespace}/pods"
        assert _get_with_token(control_plane, pods, token) == 403

        role: Any = {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        }
        await rbac.create_namespaced_role(namespace, role)
        binding: Any = {
            "metadata": {"name": "reader-reads-pods"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        }
        await rbac.create_namespaced_role_binding(namespace, binding)

        # kube-apiserver's RBAC authorizer reads roles and bindings from its own watch cache:
        # a new binding takes effect within moments, not within the create call.
        async def granted() -> bool:
            return _get_with_token(control_plane, pods, token) == 200

        await eventually("the binding grants the list", granted, timeout_s=10)


def test_kubectl_talks_to_the_control_plane_with_the_admin_kubeconfig(
    control_plane: ControlPlane,
) -> None:
    assert control_plane.kubectl("auth", "can-i", "create", "nodes").strip() == "yes"


def test_stopping_a_control_plane_leaves_no_process_behind(
    control_plane_bin: Path, tmp_path: Path
) -> None:
    plane = start_control_plane(control_plane_bin, tmp_path / "plane")
    pids = plane.pids
    assert len(pids) == 2
    assert processes_mentioning(str(plane.work_dir))
    plane.stop()
    assert processes_mentioning(str(plane.work_dir)) == []
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert set(plane.logs) == {"etcd", "kube-apiserver"}
    assert plane.logs["kube-apiserver"].stat().st_size > 0


_LAUNCH_AND_HANG = """
import pathlib, sys, time
from tests.support.controlplane import start_control_plane
plane = start_control_plane(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
print(" ".join(map(str, plane.pids)), flush=True)
time.sleep(600)
"""


def test_components_die_with_a_test_process_killed_without_cleanup(
    control_plane_bin: Path, tmp_path: Path
) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH_AND_HANG, str(control_plane_bin), str(tmp_path / "plane")],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        pids = [int(pid) for pid in launcher.stdout.readline().split()]
        assert len(pids) == 2
    finally:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
    deadline = time.monotonic() + 10
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(str(tmp_path)) == []
