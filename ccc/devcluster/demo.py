"""``make demo``: watch ccc provision GPU nodes on a local cluster, through a stockout.

What it does, printing each step as it happens:

1. starts the local control plane (etcd, kube-apiserver, kube-controller-manager,
   kube-scheduler, kwok: the Go-built binaries ``hack/control-plane/build.sh`` caches in
   ``~/.cache/ccc``, the same ones the tests use) and installs ccc's CRDs;
2. scripts the kwok provider's simulated cloud: no ``a3-highgpu-8g`` capacity at all in the
   first zone of the shipped class (the stockout);
3. runs ``ccc run --provider kwok`` as a child process (its JSON log in the work directory),
   with its admission webhook registered from the Helm chart's ``templates/webhook.yaml``
   (URL on loopback: the local cluster has no pod network), as a cluster install has it;
4. applies the shipped class ``examples/computeclasses/h100-obtainability.yaml`` and the
   vLLM Deployment ``examples/workloads/vllm-h100.yaml`` unchanged (the webhook adds the class
   toleration, as on GKE);
5. prints, live, pods and their phases, the node pools ccc asks the cloud for, the nodes that
   join, and every Event (the stockout, the fallback to the next zone), then how to look with
   ``kubectl`` while it keeps running.

Ctrl-C (SIGINT) or SIGTERM stops the controller and the control plane and removes the work
directory (``--keep`` keeps it); the exit code is 0 when nothing is left running. See
docs/design/024-local-demo.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio import config as kube_config

from ccc.api import labels as L
from ccc.api.values import CapacityType
from ccc.devcluster.controlplane import (
    REPO_ROOT,
    ControlPlane,
    ControlPlaneError,
    die_with_parent,
    free_port,
    locate_binaries,
    processes_mentioning,
    start_control_plane,
)
from ccc.devcluster.crds import apply_ccc_crds
from providers.kwok import KwokProvider

CLASS_FILE = REPO_ROOT / "examples" / "computeclasses" / "h100-obtainability.yaml"
WORKLOAD_FILE = REPO_ROOT / "examples" / "workloads" / "vllm-h100.yaml"
CLASS_NAME = "h100-obtainability"
NAMESPACE = "serving"
MACHINE_TYPE = "a3-highgpu-8g"
STOCKED_OUT_ZONE = "us-central1-a"
CLOUD_NAMESPACE = "ccc-demo-cloud"
CHART = REPO_ROOT / "charts" / "ccc"
WEBHOOK_NAMESPACE = "ccc-system"
#: Printed once every replica runs; tests wait for it.
RUNNING_BANNER = "ALL REPLICAS RUNNING"
_POLL_S = 1.0


class Narrator:
    """Prints what changed since the last look, each line stamped with seconds since start."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self._events: set[str] = set()
        self._pods: dict[str, str] = {}
        self._pools: dict[str, int] = {}
        self._nodes: set[str] = set()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.began:6.1f}s] {text}", flush=True)

    def pods(self, pods: list[Any]) -> None:
        for pod in pods:
            name = pod.metadata.name
            phase = pod.status.phase or "Unknown"
            where = f" on {pod.spec.node_name}" if pod.spec.node_name else ""
            state = f"{phase}{where}"
            if self._pods.get(name) != state:
                self._pods[name] = state
                self.say(f"pod   {NAMESPACE}/{name}: {state}")

    def pools(self, pools: list[Any]) -> None:
        for pool in pools:
            if self._pools.get(pool.name) != pool.node_count:
                verb = "requested" if pool.name not in self._pools else "resized"
                self._pools[pool.name] = pool.node_count
                self.say(
                    f"pool  {pool.name} {verb}: {pool.node_count} x {pool.machine_type} "
                    f"{pool.capacity_type.value} in {','.join(pool.zones)} (rule "
                    f"{pool.rule_index})"
                )

    def nodes(self, nodes: list[Any]) -> None:
        for node in nodes:
            labels = node.metadata.labels or {}
            if node.metadata.name not in self._nodes:
                self._nodes.add(node.metadata.name)
                self.say(
                    f"node  {node.metadata.name} joined: zone {labels.get(L.ZONE_LABEL)}, "
                    f"{labels.get(L.CAPACITY_TYPE_LABEL)}"
                )

    def events(self, events: list[Any]) -> None:
        for event in sorted(events, key=_event_time):
            key = f"{event.metadata.uid}/{event.count}"
            if key in self._events:
                continue
            self._events.add(key)
            obj = event.involved_object
            self.say(f"event {obj.kind}/{obj.name} {event.reason}: {event.message}")


def _event_time(event: Any) -> float:
    stamp = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
    return stamp.timestamp() if stamp is not None else 0.0


def install_webhook(plane: ControlPlane, port: int) -> tuple[str, list[str]]:
    """Apply the chart's webhook objects (Secret, Service, MutatingWebhookConfiguration) with
    the webhook URL on loopback ``port``; returns the configuration's name and the ``ccc run``
    flags that serve it (what the chart's Deployment passes)."""
    plane.kubectl("create", "namespace", WEBHOOK_NAMESPACE)
    rendered = subprocess.run(
        [
            str(plane.bin_dir / "helm"),
            "template",
            "ccc",
            str(CHART),
            "--namespace",
            WEBHOOK_NAMESPACE,
            "--set",
            "provider=kwok",
            "--set",
            f"webhook.url=https://127.0.0.1:{port}/mutate-pods",
            "--show-only",
            "templates/webhook.yaml",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if rendered.returncode != 0:
        raise ControlPlaneError(f"helm template failed: {rendered.stderr.strip()}")
    plane.kubectl("apply", "-f", "-", stdin=rendered.stdout)
    names = {
        doc["kind"]: doc["metadata"]["name"] for doc in yaml.safe_load_all(rendered.stdout) if doc
    }
    config = names["MutatingWebhookConfiguration"]
    flags = [
        "--webhook",
        "--webhook-host",
        "127.0.0.1",
        "--webhook-port",
        str(port),
        "--webhook-namespace",
        WEBHOOK_NAMESPACE,
        "--webhook-secret",
        names["Secret"],
        "--webhook-config",
        config,
        "--webhook-cert-hosts",
        "127.0.0.1",
    ]
    return config, flags


async def webhook_ready(api: client.ApiClient, config: str, *, timeout_s: float = 90) -> None:
    """Wait until ``ccc run`` published its CA in every webhook of ``config`` (it serves then).

    Raises:
        ControlPlaneError: not within ``timeout_s``.
    """
    admission = client.AdmissionregistrationV1Api(api)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = await admission.read_mutating_webhook_configuration(config)
        if got.webhooks and all(w.client_config.ca_bundle for w in got.webhooks):
            return
        await asyncio.sleep(0.5)
    raise ControlPlaneError(f"the admission webhook did not publish its CA in {timeout_s:.0f}s")


def start_controller(
    plane: ControlPlane, work_dir: Path, extra: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """``ccc run`` with the kwok provider, in its own session (Ctrl-C reaches only the demo,
    which stops it), killed by the kernel should the demo die first."""
    log = work_dir / "ccc-run.log"
    args = [
        sys.executable,
        "-m",
        "ccc",
        "run",
        "--kubeconfig",
        str(plane.kubeconfig),
        "--provider",
        "kwok",
        "--kwok-namespace",
        CLOUD_NAMESPACE,
        "--no-leader-elect",
        "--metrics-host",
        "127.0.0.1",
        "--metrics-port",
        "0",
        "--log-format",
        "json",
        *extra,
    ]
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=work_dir,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


def stop_controller(proc: subprocess.Popen[bytes], *, grace_s: float = 10.0) -> None:
    """SIGTERM to the controller's process group, SIGKILL after ``grace_s``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _hints(plane: ControlPlane, log: Path) -> list[str]:
    return [
        "Look around from another terminal (the same kubectl as the tests):",
        f"  export KUBECONFIG={plane.kubeconfig} PATH={plane.bin_dir}:$PATH",
        f"  kubectl get pods -n {NAMESPACE} -o wide",
        f"  kubectl get nodes -L {L.ZONE_LABEL},{L.CAPACITY_TYPE_LABEL},{L.RULE_INDEX_LABEL}",
        f"  kubectl get computeclass {CLASS_NAME} -o yaml   # status: unavailable offerings",
        "  kubectl get events -A --sort-by=.lastTimestamp",
        f"  kubectl get configmaps -n {CLOUD_NAMESPACE} -o yaml   # the simulated cloud",
        f"  controller log: {log}",
        "Ctrl-C stops everything.",
    ]


async def narrate(plane: ControlPlane, work_dir: Path, stop: asyncio.Event) -> None:
    """Set up the cloud, start the controller, apply the workload and print until ``stop``."""
    n = Narrator()
    n.say(f"control plane up in {plane.startup_s:.1f}s; kubeconfig: {plane.kubeconfig}")
    names = await asyncio.to_thread(apply_ccc_crds, plane)
    n.say(f"installed CRDs: {', '.join(names)}")
    api = await kube_config.new_client_from_config(config_file=str(plane.kubeconfig))
    proc: subprocess.Popen[bytes] | None = None
    try:
        cloud = KwokProvider(api, namespace=CLOUD_NAMESPACE)
        for capacity_type in (CapacityType.FLEX_START, CapacityType.SPOT, CapacityType.ON_DEMAND):
            await cloud.set_capacity(MACHINE_TYPE, STOCKED_OUT_ZONE, capacity_type, 0)
        n.say(f"simulated cloud: STOCKOUT of {MACHINE_TYPE} in {STOCKED_OUT_ZONE} (every model)")
        webhook, flags = await asyncio.to_thread(install_webhook, plane, free_port())
        proc = start_controller(plane, work_dir, flags)
        n.say(f"started ccc run --provider kwok (pid {proc.pid}, log {work_dir / 'ccc-run.log'})")
        await webhook_ready(api, webhook)
        n.say(f"admission webhook serving (MutatingWebhookConfiguration {webhook})")
        await asyncio.to_thread(plane.kubectl, "apply", "-f", str(CLASS_FILE))
        n.say(f"applied ComputeClass {CLASS_NAME} ({CLASS_FILE.relative_to(REPO_ROOT)})")
        await asyncio.to_thread(plane.kubectl, "create", "namespace", NAMESPACE)
        await asyncio.to_thread(plane.kubectl, "apply", "-f", str(WORKLOAD_FILE))
        n.say(f"applied the vLLM Deployment ({WORKLOAD_FILE.relative_to(REPO_ROOT)})")
        await _watch(api, cloud, plane, work_dir, proc, n, stop)
    finally:
        if proc is not None:
            await asyncio.to_thread(stop_controller, proc)
        await api.close()


async def _watch(
    api: client.ApiClient,
    cloud: KwokProvider,
    plane: ControlPlane,
    work_dir: Path,
    proc: subprocess.Popen[bytes],
    n: Narrator,
    stop: asyncio.Event,
) -> None:
    core = client.CoreV1Api(api)
    announced = False
    while not stop.is_set():
        if proc.poll() is not None:
            raise ControlPlaneError(
                f"ccc run exited with code {proc.returncode}; see {work_dir / 'ccc-run.log'}"
            )
        pods = (await core.list_namespaced_pod(NAMESPACE)).items
        n.pods(pods)
        n.pools(list(await cloud.list_node_pools()))
        n.nodes((await core.list_node(label_selector=L.CLASS_LABEL)).items)
        n.events((await core.list_event_for_all_namespaces()).items)
        running = [p for p in pods if p.status.phase == "Running"]
        if not announced and pods and len(running) == len(pods):
            announced = True
            n.say(f"{RUNNING_BANNER}: {len(running)} vLLM replicas on H100 nodes")
            for line in _hints(plane, work_dir / "ccc-run.log"):
                print(f"         {line}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _POLL_S)


async def _serve(plane: ControlPlane, work_dir: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(narrate(plane, work_dir, stop))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task  # raises what narrate raised
    stopper.cancel()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM during the blocking start-up unwinds like Ctrl-C (so clean-up runs)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(work_dir: Path, *, keep: bool) -> int:
    """Run the demo until interrupted; 0 when everything stopped cleanly."""
    print(
        "ccc demo: locating the control-plane binaries (the first run builds them from the Go "
        "module proxy, which takes tens of minutes; later runs reuse ~/.cache/ccc)",
        flush=True,
    )
    plane: ControlPlane | None = None
    code = 0
    try:
        with _sigterm_as_interrupt():
            bin_dir = locate_binaries()
            print(f"ccc demo: starting the local control plane in {work_dir}", flush=True)
            plane = start_control_plane(bin_dir, work_dir / "cluster", full=True)
        asyncio.run(_serve(plane, work_dir))
    except KeyboardInterrupt:
        pass
    except (ControlPlaneError, client.ApiException, OSError) as exc:
        print(f"ccc demo: error: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        print("ccc demo: stopping the controller and the control plane", flush=True)
        if plane is not None:
            try:
                plane.stop()
            except ControlPlaneError as exc:
                print(f"ccc demo: error: {exc}", file=sys.stderr, flush=True)
                code = 1
    # The controller's command line names the kubeconfig under the cluster directory too.
    left = processes_mentioning(str(work_dir / "cluster"))
    if left:
        print(f"ccc demo: error: processes still running: {left}", file=sys.stderr, flush=True)
        return 1
    if not keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    print("ccc demo: stopped; nothing left running", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccc.devcluster.demo", description=__doc__)
    parser.add_argument("--work-dir", type=Path, help="where the cluster lives (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory afterwards")
    args = parser.parse_args(argv)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="ccc-demo-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    return run_demo(work_dir.resolve(), keep=args.keep or args.work_dir is not None)


if __name__ == "__main__":
    sys.exit(main())
