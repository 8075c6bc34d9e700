"""End to end: the webhook's certificates rotate while pods are being created, and both
replicas serve the same certificate; the real kube-apiserver calls a real ``ccc run``.

Lifetimes are shortened so that within half a minute the serving certificate is replaced
twice and the CA once (new CA published next to the old one, serving certificate re-issued by
it, old CA retired): every step the controller takes in a year at the default lifetimes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from ccc.api import labels as L
from ccc.controller.admission import pki
from ccc.controller.kube import KubeApiError, request_json
from tests.e2e.admission_harness import (
    WebhookInstall,
    admitted,
    class_tolerations,
    install_crd_now,
    install_webhook,
    kubectl,
    labelled_namespace,
    pod_manifest,
    served_certificate,
    uninstall_webhook,
    wait_published,
)
from tests.e2e.controller_harness import (
    ControllerProcess,
    create_class,
    gpu_class,
    wait_ready_endpoint,
)
from tests.support.controlplane import ControlPlane, free_port
from tests.support.kube import api_client, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
#: Serving certificate 18 s, CA 30 s, re-read every 0.25 s: propagation allowance 2.75 s.
LIFETIMES = (
    "--webhook-cert-validity",
    "18",
    "--webhook-ca-validity",
    "30",
    "--webhook-cert-check",
    "0.25",
)


@pytest.fixture
def install(cluster: ControlPlane) -> Iterator[WebhookInstall]:
    uid = uuid.uuid4().hex[:6]
    install_crd_now(cluster)
    installed = install_webhook(
        cluster, release=f"rot{uid}", namespace=f"rot-{uid}", port=free_port()
    )
    try:
        yield installed
    finally:
        uninstall_webhook(installed)


def _steps(procs: list[ControllerProcess]) -> list[str]:
    """The certificate steps either replica took, in time order."""
    changes = [
        (line["timestamp"], line["step"])
        for proc in procs
        for line in proc.log_lines()
        if line.get("event") == "webhook.cert_changed"
    ]
    return [step for _, step in sorted(changes)]


def _rotated(steps: list[str]) -> bool:
    """A CA rotation completed (and, before it, a serving certificate renewal)."""
    if "add_ca" not in steps or "drop_old_cas" not in steps:
        return False
    after_add = steps[steps.index("add_ca") :]
    return "issue" in steps[: steps.index("add_ca")] and "issue" in after_add


async def test_rotation_while_pods_are_created_causes_no_admission_error_and_both_replicas_agree(
    cluster: ControlPlane, install: WebhookInstall, tmp_path: Path
) -> None:
    cls = f"rot-{uuid.uuid4().hex[:6]}"
    second_port = free_port()
    procs = [
        ControllerProcess(
            cluster,
            tmp_path,
            kwok_namespace=f"{install.namespace}-cloud",
            name=f"ccc-{i}",
            extra=(
                *install.args(port=port, extra=LIFETIMES),
                "--leader-elect",
                "--lease-namespace",
                install.namespace,
                "--lease-name",
                install.fullname,
            ),
        )
        for i, port in enumerate((install.port, second_port))
    ]
    async with api_client(cluster.kubeconfig) as api:
        await create_class(api, gpu_class(cls, ["us-central1-a"]))
        try:
            for proc in procs:
                proc.start()
            for proc in procs:
                await wait_ready_endpoint(proc)
            await wait_published(api, install)
            async with labelled_namespace(api, "rot") as ns:
                created, errors = [], []
                began = time.monotonic()

                async def keep_creating() -> None:
                    # Gated pods: admitted and stored for real, never demand for ccc.
                    n = 0
                    while True:
                        pod = pod_manifest(f"p{n}", selector={L.CLASS_LABEL: cls}, gated=True)
                        try:
                            created.append(await admitted(api, ns, pod, dry_run=False))
                        except KubeApiError as exc:
                            errors.append(f"{time.monotonic() - began:.1f}s: {exc}")
                        n += 1
                        await asyncio.sleep(0.1)

                creator = asyncio.create_task(keep_creating())
                try:

                    async def rotated() -> bool:
                        return _rotated(_steps(procs))

                    try:
                        await eventually(
                            "a serving certificate renewal and a whole CA rotation",
                            rotated,
                            timeout_s=90,
                            interval_s=0.5,
                        )
                    except TimeoutError:
                        logs = "\n".join(p.tail(30) for p in procs)
                        raise AssertionError(f"steps {_steps(procs)}; logs:\n{logs}") from None
                    # Both replicas present the same certificate, trusted by the caBundle the
                    # API server uses, for the name it calls.
                    bundle = await wait_published(api, install)

                    async def same_certificate() -> bytes | None:
                        first = served_certificate(install.port, ca_bundle=bundle)
                        second = served_certificate(second_port, ca_bundle=bundle)
                        return first if first == second else None

                    served = await eventually("both replicas agree", same_certificate, timeout_s=10)
                    secret = await request_json(
                        api,
                        "GET",
                        f"/api/v1/namespaces/{install.namespace}/secrets/{install.secret}",
                    )
                    assert base64.b64decode(secret["data"][pki.TLS_CERT]).strip() == served.strip()
                    # The API server calls the other replica just as well.
                    before = await _tolerated(procs[1])
                    kubectl(
                        cluster,
                        "patch",
                        "mutatingwebhookconfiguration",
                        install.config,
                        "--type=json",
                        "-p",
                        _url_patch(install, second_port),
                    )

                    async def second_answers() -> bool:
                        probe = pod_manifest("probe", selector={L.CLASS_LABEL: cls})
                        admitted_probe = await admitted(api, ns, probe)
                        assert class_tolerations(admitted_probe) == [cls]
                        return await _tolerated(procs[1]) > before

                    await eventually("the second replica answers", second_answers, timeout_s=30)
                finally:
                    creator.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await creator
                late = await admitted(
                    api, ns, pod_manifest("late", selector={L.CLASS_LABEL: cls}, gated=True)
                )
                assert class_tolerations(late) == [cls]
        finally:
            uninstall_webhook(install)  # first: nothing may call a webhook that no longer answers
            for proc in procs:
                proc.stop()
            kubectl(cluster, "delete", f"computeclasses.{L.GROUP}", cls, "--ignore-not-found")
    steps = _steps(procs)
    assert not errors, f"admission errors during rotation: {errors[:5]}; steps {steps}"
    assert len(created) >= 50, len(created)
    assert all(class_tolerations(p) == [cls] for p in created)
    assert steps.count("create") == 1, steps  # one replica made the first CA, the other read it
    assert 1 <= len(pki.load_bundle(bundle)) <= 2


async def _tolerated(proc: ControllerProcess) -> float:
    """``ccc_admission_reviews_total{outcome="tolerated"}`` of one replica."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{proc.port}/metrics") as response,
    ):
        text = await response.text()
    for line in text.splitlines():
        if line.startswith('ccc_admission_reviews_total{outcome="tolerated"}'):
            return float(line.split()[-1])
    return 0.0


def _url_patch(install: WebhookInstall, port: int) -> str:
    config = kubectl(
        install.plane, "get", "mutatingwebhookconfiguration", install.config, "-o", "json"
    ).stdout
    count = len(json.loads(config)["webhooks"])
    return json.dumps(
        [
            {"op": "replace", "path": f"/webhooks/{i}/clientConfig/url", "value": install.url(port)}
            for i in range(count)
        ]
    )
