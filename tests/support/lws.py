"""Run the LeaderWorkerSet controller (sigs.k8s.io/lws) on a local control plane.

`hack/control-plane/build.sh` builds `lws-controller` from the Go module proxy and copies the CRD
of the same module version next to the binaries (`<cache>/lws/leaderworkersets.yaml`).
`start_lws(plane)` then does what LWS's Helm chart does, on loopback:

- applies the CRD (only `v1` is served, so the chart's conversion-webhook patch is not needed);
- starts the manager with a configuration file: no leader election, no internal certificate
  management (it would write a Secret and patch the webhook configurations for an in-cluster
  Service), the webhook server on a free `127.0.0.1` port with the plane's serving certificate
  (valid for 127.0.0.1), metrics off and the health probe on a free port;
- registers its four admission webhooks (mutating and validating, for LeaderWorkerSets and for
  their pods) with `clientConfig.url` pointing at that port and the plane's CA as `caBundle`,
  like controller-runtime's envtest does. The pod webhooks carry the chart's `objectSelector`
  (pods labelled `leaderworkerset.sigs.k8s.io/name`), so no other pod is sent to them.

The webhooks are not optional: the pod webhook labels leader pods with their group index and
the controller creates the worker StatefulSets from those labels, so `ENABLE_WEBHOOKS=false`
would leave every group without workers.
"""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import yaml

from ccc.devcluster.processes import http_ok

from .controlplane import ControlPlane, ControlPlaneError, free_port
from .crds import crd_established

LWS_BINARY = "lws-controller"
CRD_NAME = "leaderworkersets.leaderworkerset.x-k8s.io"
_WEBHOOKS = "ccc-test-lws"


def lws_crd_path(bin_dir: Path) -> Path:
    """The LWS CRD that build.sh copied from the module next to the binaries."""
    return bin_dir.parent / "lws" / "leaderworkersets.yaml"


def _webhook_configurations(port: int, ca_bundle: str) -> list[dict[str, Any]]:
    """LWS's config/webhook/manifests.yaml with the chart's pod objectSelector, served by URL."""

    def hook(name: str, path: str, group: str, resource: str, ops: list[str]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca_bundle},
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "timeoutSeconds": 10,
            "rules": [
                {
                    "apiGroups": [group],
                    "apiVersions": ["v1"],
                    "operations": ops,
                    "resources": [resource],
                }
            ],
        }
        if resource == "pods":
            entry["objectSelector"] = {
                "matchExpressions": [
                    {"key": "leaderworkerset.sigs.k8s.io/name", "operator": "Exists"}
                ]
            }
        return entry

    group = "leaderworkerset.x-k8s.io"
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": _WEBHOOKS},
            "webhooks": [
                hook(
                    "mleaderworkerset.kb.io",
                    "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset",
                    group,
                    "leaderworkersets",
                    ["CREATE", "UPDATE"],
                ),
                hook("mpod.kb.io", "/mutate--v1-pod", "", "pods", ["CREATE"]),
            ],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": _WEBHOOKS},
            "webhooks": [
                hook(
                    "vleaderworkerset.kb.io",
                    "/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset",
                    group,
                    "leaderworkersets",
                    ["CREATE", "UPDATE"],
                ),
                hook("vpod.kb.io", "/validate--v1-pod", "", "pods", ["CREATE", "UPDATE"]),
            ],
        },
    ]


def _serves_tls(port: int, context: ssl.SSLContext) -> bool:
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def start_lws(plane: ControlPlane, *, timeout_s: float = 120.0) -> float:
    """Install LeaderWorkerSet on a running full control plane and wait until it admits objects.

    Idempotent per plane (a second call returns at once).

    Returns:
        Seconds from the CRD apply to a working webhook server.

    Raises:
        ControlPlaneError: the binary or CRD is missing (rebuild with build.sh), the manager
            exited, or it did not become ready within ``timeout_s``.
    """
    if LWS_BINARY in plane.logs:
        return 0.0
    began = time.monotonic()
    crd = lws_crd_path(plane.bin_dir)
    if not (plane.bin_dir / LWS_BINARY).exists() or not crd.exists():
        raise ControlPlaneError(
            f"{plane.bin_dir} lacks {LWS_BINARY} or {crd}; rebuild with hack/control-plane/build.sh"
        )
    plane.kubectl("apply", "--server-side", "-f", str(crd))
    # Before the manager starts: its LeaderWorkerSet watch would otherwise retry for 10 s.
    plane.wait_until(
        f"CRD {CRD_NAME} to be Established",
        lambda: crd_established(plane, CRD_NAME),
        timeout_s=timeout_s,
    )
    work = plane.work_dir / "lws"
    certs = work / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    # The plane's serving certificate is signed by its CA and valid for 127.0.0.1.
    shutil.copyfile(plane.pki.serving_cert, certs / "tls.crt")
    shutil.copyfile(plane.pki.serving_key, certs / "tls.key")
    webhook_port, health_port = free_port(), free_port()
    config = {
        "apiVersion": "config.lws.x-k8s.io/v1alpha1",
        "kind": "Configuration",
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(certs)},
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "metrics": {"bindAddress": "0"},
    }
    config_file = work / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    plane.spawn(
        LWS_BINARY,
        [f"--config={config_file}", f"--kubeconfig={plane.kubeconfig}", "--zap-log-level=info"],
    )

    plane.wait_until(
        "lws-controller /readyz",
        lambda: http_ok(f"http://127.0.0.1:{health_port}/readyz"),
        timeout_s=timeout_s,
    )
    trusting = ssl.create_default_context(cafile=str(plane.pki.ca_cert))
    plane.wait_until(
        "the LWS webhook server", lambda: _serves_tls(webhook_port, trusting), timeout_s=timeout_s
    )
    ca_bundle = base64.b64encode(plane.pki.ca_cert.read_bytes()).decode()
    manifests = "---\n".join(
        yaml.safe_dump(c) for c in _webhook_configurations(webhook_port, ca_bundle)
    )
    plane.kubectl("apply", "--server-side", "-f", "-", stdin=manifests)
    return time.monotonic() - began
