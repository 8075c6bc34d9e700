"""Run ``ccc run`` as a real process against the local cluster, and talk to what it drives.

The controller runs out of process (``python -m ccc run``) so tests can ``kill -9`` it like a
crashed pod; its JSON log goes to a file that is attached to failing tests' output by the caller.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.crd import compute_class_crd
from providers.kwok import KwokProvider
from tests.support.controlplane import ControlPlane, free_port
from tests.support.kube import eventually

REPO = Path(__file__).resolve().parents[2]


async def install_crd(api: client.ApiClient) -> None:
    """Create (or update) the ComputeClass CRD from ``ccc crd`` and wait until Established."""
    ext = client.ApiextensionsV1Api(api)
    crd = compute_class_crd()
    name = crd["metadata"]["name"]
    try:
        await ext.create_custom_resource_definition(crd)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        current = await ext.read_custom_resource_definition(name)
        crd["metadata"]["resourceVersion"] = current.metadata.resource_version
        await ext.replace_custom_resource_definition(name, crd)

    async def established() -> bool:
        got = await ext.read_custom_resource_definition(name)
        return any(
            c.type == "Established" and c.status == "True" for c in got.status.conditions or []
        )

    await eventually("CRD established", established, timeout_s=30)


#: ComputeClasses and kwok cloud namespaces made through this module by the running test module:
#: removed after its module (tests/e2e/conftest.py), so a later controller on the shared plane never
#: acts on nodes of a class whose cloud it cannot reach.
CREATED_CLASSES: list[str] = []
KWOK_CLOUDS: list[str] = []


async def remove_leftovers(api: client.ApiClient) -> None:
    """Delete the pools (and so the Nodes) of every kwok cloud in :data:`KWOK_CLOUDS`, their
    namespaces, and every class in :data:`CREATED_CLASSES`; missing ones are fine."""
    co, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    while KWOK_CLOUDS:
        cloud = KwokProvider(api, namespace=KWOK_CLOUDS.pop())
        for pool in await cloud.list_node_pools():
            await cloud.delete_node_pool(pool.name)
        await _ignore_missing(core.delete_namespace(cloud.namespace))
    while CREATED_CLASSES:
        name = CREATED_CLASSES.pop()
        await _ignore_missing(
            co.delete_cluster_custom_object(L.GROUP, L.VERSION, "computeclasses", name)
        )


async def _ignore_missing(call: Any) -> None:
    try:
        await call
    except client.ApiException as exc:
        if exc.status != 404:
            raise


_FAST_TIMINGS = ("--batch-idle", "0.2", "--batch-max", "2", "--resync", "1", "--repair-after", "2")


class ControllerProcess:
    """One ``ccc run`` subprocess.

    Args:
        kwok_namespace: the kwok provider's cloud namespace (``--kwok-namespace``).
        provider_args: replaces ``--provider kwok --kwok-namespace NS`` when given
            (``["--provider", "gke", "--gke-endpoint", ...]``).
        kubeconfig: replaces the plane's admin kubeconfig (e.g. one with a ServiceAccount's
            token, to run with the chart's RBAC).
        fast_timings: short batch, resync and repair windows so tests finish quickly; off to run
            with ``ccc run``'s defaults (benchmarks).
    """

    def __init__(
        self,
        plane: ControlPlane,
        log_dir: Path,
        *,
        kwok_namespace: str = "",
        extra: Sequence[str] = (),
        name: str = "ccc",
        provider_args: Sequence[str] | None = None,
        kubeconfig: Path | None = None,
        fast_timings: bool = True,
    ) -> None:
        if provider_args is None:
            provider_args = ["--provider", "kwok", "--kwok-namespace", kwok_namespace]
        if kwok_namespace and kwok_namespace not in KWOK_CLOUDS:
            KWOK_CLOUDS.append(kwok_namespace)
        self.plane = plane
        self.port = free_port()
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.args = [
            sys.executable,
            "-m",
            "ccc",
            "run",
            "--kubeconfig",
            str(kubeconfig or plane.kubeconfig),
            *provider_args,
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(self.port),
            *(_FAST_TIMINGS if fast_timings else ()),
            "--log-format",
            "json",
            "--log-level",
            "info",
            *(extra if "--leader-elect" in extra else ("--no-leader-elect", *extra)),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ControllerProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill9()

    def sigterm(self) -> None:
        """Send SIGTERM (what the kubelet does on a rolling update) and return at once."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)

    def events(self, name: str, **fields: Any) -> list[dict[str, Any]]:
        """Log records whose ``event`` is ``name`` and whose fields match ``fields``."""
        return [
            e
            for e in self.log_lines()
            if e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
        ]

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        if not self.log_path.exists():
            return out
        for line in self.log_path.read_text(errors="replace").splitlines():
            with suppress(ValueError):
                out.append(json.loads(line))
        return out

    def tail(self, n: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


@asynccontextmanager
async def controller(
    plane: ControlPlane,
    log_dir: Path,
    *,
    kwok_namespace: str = "",
    extra: Sequence[str] = (),
    provider_args: Sequence[str] | None = None,
) -> AsyncIterator[ControllerProcess]:
    proc = ControllerProcess(
        plane, log_dir, kwok_namespace=kwok_namespace, extra=extra, provider_args=provider_args
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def gpu_class(
    name: str,
    zones: Sequence[str],
    *,
    spot: bool = True,
    machine_type: str = "a3-highgpu-8g",
    extra_rules: Sequence[dict[str, Any]] = (),
    **spec: Any,
) -> dict[str, Any]:
    rules = [
        {"machineType": machine_type, "spot": spot, "location": {"zones": list(zones)}},
        *extra_rules,
    ]
    spec.setdefault("nodePoolAutoCreation", {"enabled": True})
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": name},
        "spec": {"priorities": rules, **spec},
    }


#: keeps pods bound to a node the lifecycle controller marks not-ready (a kwok node under load)
NOT_READY_TOLERATION = {"key": "node.kubernetes.io/not-ready", "operator": "Exists"}


def gpu_deployment(
    name: str,
    cls: str,
    replicas: int,
    *,
    gpus: int = 8,
    tolerations: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """``replicas`` pods of ``gpus`` GPUs on class ``cls``, with keyed tolerations (the class
    taint, the GPU taint, then ``tolerations``): not a wildcard, which would also tolerate
    ``node.kubernetes.io/unschedulable`` and let the scheduler put pods back on a cordoned
    node."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {L.CLASS_LABEL: cls},
                    "tolerations": [
                        {"key": L.CLASS_LABEL, "operator": "Exists"},
                        {"key": L.GPU_RESOURCE, "operator": "Exists"},
                        *(dict(t) for t in tolerations),
                    ],
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.invalid/vllm:1",
                            "resources": {
                                "requests": {"cpu": "1", "memory": "4Gi"},
                                "limits": {L.GPU_RESOURCE: str(gpus)},
                            },
                        }
                    ],
                },
            },
        },
    }


def pod_ready(pod: Any) -> bool:
    """Ready and not terminating (a kubernetes_asyncio V1Pod)."""
    return pod.metadata.deletion_timestamp is None and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
    )


def serving_deployment(
    name: str, cls: str, *, resource: str | None = None, group: str = "llama"
) -> dict[str, Any]:
    """A Deployment at 0 replicas whose pods serve ServingGroup ``group`` on class ``cls``
    (asking for one ``resource``, e.g. ``google.com/tpu``, when given)."""
    container: dict[str, Any] = {"name": "vllm", "image": "vllm"}
    if resource:
        container["resources"] = {
            "requests": {"cpu": "4", "memory": "16Gi"},
            "limits": {resource: "1"},
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "ccc.dev/serving-group": group}},
                "spec": {
                    "nodeSelector": {L.CLASS_LABEL: cls},
                    "tolerations": [{"operator": "Exists"}],
                    "terminationGracePeriodSeconds": 0,
                    "containers": [container],
                },
            },
        },
    }


async def create_class(api: client.ApiClient, body: dict[str, Any]) -> None:
    """Create the class; it is deleted after its test module (:func:`remove_leftovers`)."""
    co = client.CustomObjectsApi(api)
    await co.create_cluster_custom_object(L.GROUP, L.VERSION, "computeclasses", body)
    CREATED_CLASSES.append(str(body["metadata"]["name"]))


async def get_class(api: client.ApiClient, name: str) -> dict[str, Any]:
    co = client.CustomObjectsApi(api)
    got: dict[str, Any] = await co.get_cluster_custom_object(
        L.GROUP, L.VERSION, "computeclasses", name
    )
    return got


async def class_status(api: client.ApiClient, name: str, timeout_s: float = 30) -> Any:
    """The ComputeClass's status, once written: a pass writes it last, after its Events, so a
    test that saw the Events may read the class a moment too early."""

    async def written() -> Any:
        return (await get_class(api, name)).get("status")

    return await eventually(f"the status of ComputeClass {name}", written, timeout_s=timeout_s)


def gpu_pod(
    name: str, cls: str, *, gpus: int = 8, cpu: str = "8", memory: str = "64Gi"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "e2e"}},
        "spec": {
            "nodeSelector": {L.CLASS_LABEL: cls},
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/vllm:1",
                    "resources": {
                        "requests": {"cpu": cpu, "memory": memory},
                        "limits": {L.GPU_RESOURCE: str(gpus)},
                    },
                }
            ],
        },
    }


async def create_pods(
    api: client.ApiClient, namespace: str, pods: Sequence[dict[str, Any]]
) -> None:
    core = client.CoreV1Api(api)
    for p in pods:
        await core.create_namespaced_pod(namespace, p)


async def pods_running(api: client.ApiClient, namespace: str, expected: int) -> list[Any] | None:
    core = client.CoreV1Api(api)
    pods = (await core.list_namespaced_pod(namespace)).items
    running = [p for p in pods if p.status.phase == "Running"]
    return running if len(running) >= expected else None


async def events_for(api: client.ApiClient, *, kind: str, name: str) -> list[Any]:
    core = client.CoreV1Api(api)
    items = (
        await core.list_event_for_all_namespaces(
            field_selector=f"involvedObject.kind={kind},involvedObject.name={name}"
        )
    ).items
    return list(items)


async def events_until(
    api: client.ApiClient,
    *,
    kind: str,
    name: str,
    done: Callable[[list[Any]], bool],
    timeout_s: float = 30,
) -> list[Any]:
    """The Events about an object, once ``done`` holds for them. Events of a provider call's
    outcome are written by the pass after the call returns, which can come after the pods it
    served are Running: a test that waits for pods reads Events through this."""
    got: list[Any] = []

    async def probe() -> bool:
        got[:] = await events_for(api, kind=kind, name=name)
        return done(got)

    try:
        await eventually(f"Events of {kind} {name}", probe, timeout_s=timeout_s)
    except TimeoutError:
        raise AssertionError([(e.reason, e.message) for e in got]) from None
    return got


async def wait_ready_endpoint(proc: ControllerProcess, timeout_s: float = 60) -> None:
    import aiohttp

    async def probe() -> bool:
        if not proc.alive:
            raise RuntimeError(f"controller exited early:\n{proc.tail()}")
        try:
            async with (
                aiohttp.ClientSession() as s,
                s.get(
                    f"http://127.0.0.1:{proc.port}/readyz", timeout=aiohttp.ClientTimeout(total=2)
                ) as r,
            ):
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await eventually("controller /readyz", probe, timeout_s=timeout_s)


def monotonic() -> float:
    return time.monotonic()


async def sleep(s: float) -> None:
    await asyncio.sleep(s)
