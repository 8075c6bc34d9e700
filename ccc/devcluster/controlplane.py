"""Start and stop a real local Kubernetes control plane for tests, benchmarks and the demo.

The binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, kubectl, helm)
are built from the Go module proxy by `hack/control-plane/build.sh`; see
docs/design/002-control-plane-from-go-modules.md. This module runs them directly, the way
controller-runtime's envtest does, rather than through kwokctl: no `~/.kwok` state, no downloads,
no version sniffing.

- `start_control_plane(bin_dir, work_dir)` starts etcd and kube-apiserver (secure port, RBAC,
  service-account issuer and keys, client-certificate auth, the ExtendedResourceToleration
  admission plugin as on GKE).
- With `full=True` it also starts kube-controller-manager, kube-scheduler and kwok; kwok manages
  the nodes annotated `kwok.x-k8s.io/node=fake` and moves their pods to Running.
- `after_start` runs more set-up before the plane counts as started (the tests start the
  LeaderWorkerSet controller this way: `tests.support.controlplane`).
- Finding (or building) the binaries and the helpers for child processes are in
  `ccc.devcluster.processes`; their names are importable from here too.

It lives in the package (not under tests/) because `make demo` runs it too
(docs/design/024-local-demo.md); it needs the `dev` extra (`cryptography`) and a source checkout
(`hack/control-plane/build.sh`).

Every component listens on free loopback ports, runs in its own process group with its output in a
log file under `work_dir/logs/`, and is stopped by `ControlPlane.stop()` (SIGTERM to the group,
then SIGKILL). Children also get PR_SET_PDEATHSIG, so they die with the Python process even when
it is killed without running finalizers.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

from .pki import Pki, generate_pki
from .processes import (
    BIN_ENV,
    BINARIES,
    BUILD_SCRIPT,
    REPO_ROOT,
    ControlPlaneError,
    die_with_parent,
    free_port,
    http_ok,
    insecure_context,
    locate_binaries,
    processes_mentioning,
    tail,
)

__all__ = [
    "BINARIES",
    "BIN_ENV",
    "BUILD_SCRIPT",
    "KWOK_NODE_ANNOTATION",
    "REPO_ROOT",
    "SERVICE_CLUSTER_IP_RANGE",
    "ControlPlane",
    "ControlPlaneError",
    "die_with_parent",
    "free_port",
    "locate_binaries",
    "processes_mentioning",
    "start_control_plane",
    "tail",
]

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


@dataclass(slots=True)
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass(slots=True, eq=False)
class ControlPlane:
    """A running local control plane. Stop it with `stop()` or use it as a context manager.

    Attributes:
        bin_dir: directory of the binaries (kubectl and helm included).
        work_dir: directory holding certificates, etcd data, kubeconfig and logs.
        kubeconfig: admin kubeconfig (client certificate in `system:masters`).
        server: https URL of kube-apiserver.
        logs: component name -> log file.
        startup_s: seconds from the first process start to readiness.
    """

    bin_dir: Path
    work_dir: Path
    pki: Pki
    kubeconfig: Path = field(init=False)
    server: str = ""
    logs: dict[str, Path] = field(default_factory=dict)
    startup_s: float = 0.0
    _processes: list[_Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kubeconfig = self.work_dir / "admin.kubeconfig"

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        """Pids of the component processes started (alive or not)."""
        return [process.popen.pid for process in self._processes]

    def env(self) -> dict[str, str]:
        """Environment for subprocesses: KUBECONFIG set, the bin dir first on PATH, and kubectl's
        discovery cache inside the work dir (not in ~/.kube)."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.work_dir / "kube-cache"),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        """Run the built kubectl against this control plane and return its stdout.

        Raises:
            ControlPlaneError: kubectl exited non-zero and `check` is true (stderr in message).
        """
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        """Component name -> last `lines` lines of its log."""
        return {name: tail(path, lines) for name, path in self.logs.items()}

    def spawn(
        self, name: str, args: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> None:
        """Start one component in its own process group, output appended to logs/<name>.log."""
        log_path = self.work_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log_file:
            popen = subprocess.Popen(
                [str(self.bin_dir / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.work_dir,
                env=dict(env) if env is not None else None,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._processes.append(_Process(name=name, popen=popen, log=log_path))
        self.logs[name] = log_path
        _LIVE.add(self)

    def wait_until(
        self, what: str, probe: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.1
    ) -> None:
        """Poll `probe` until it returns True.

        Raises:
            ControlPlaneError: a component exited, or `timeout_s` passed; the message carries
                the tail of every component log.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            for process in self._processes:
                code = process.popen.poll()
                if code is not None:
                    raise ControlPlaneError(
                        f"{process.name} exited with code {code} while waiting for {what}\n"
                        + self._describe_logs()
                    )
            with contextlib.suppress(OSError, ValueError):
                if probe():
                    return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"timed out after {timeout_s:.0f}s waiting for {what}\n" + self._describe_logs()
                )
            time.sleep(interval_s)

    def _describe_logs(self) -> str:
        return "\n".join(
            f"----- {name} ({self.logs[name]}) -----\n{text}"
            for name, text in self.log_tails().items()
        )

    def stop(self, *, grace_s: float = 10.0) -> None:
        """Stop every component, last started first: SIGTERM to its process group, SIGKILL after
        `grace_s`. Idempotent.

        Raises:
            ControlPlaneError: a process group still had live processes after SIGKILL.
        """
        for process in reversed(self._processes):
            if process.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in reversed(self._processes):
            try:
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                # Anything left in the group (children of the component) goes too.
                os.killpg(process.popen.pid, signal.SIGKILL)
        _LIVE.discard(self)
        leftovers = processes_mentioning(str(self.work_dir))
        if leftovers:
            raise ControlPlaneError(f"processes still running after stop: {leftovers}")

    # --- HTTP probes -----------------------------------------------------------------------

    def admin_ssl_context(self) -> ssl.SSLContext:
        """TLS context that trusts the cluster CA and presents the admin client certificate."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def get(self, path: str) -> tuple[int, bytes]:
        """GET `path` on kube-apiserver as admin; returns (status, body)."""
        try:
            with urllib.request.urlopen(
                self.server + path, context=self.admin_ssl_context(), timeout=5
            ) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()


_LIVE: set[ControlPlane] = set()


@atexit.register
def _stop_forgotten() -> None:
    for plane in list(_LIVE):
        with contextlib.suppress(ControlPlaneError):
            plane.stop(grace_s=5)


def _write_kubeconfig(plane: ControlPlane) -> None:
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "ccc-local",
                "cluster": {
                    "server": plane.server,
                    "certificate-authority-data": b64(plane.pki.ca_cert),
                },
            }
        ],
        "users": [
            {
                "name": "ccc-admin",
                "user": {
                    "client-certificate-data": b64(plane.pki.admin_cert),
                    "client-key-data": b64(plane.pki.admin_key),
                },
            }
        ],
        "contexts": [
            {"name": "ccc-local", "context": {"cluster": "ccc-local", "user": "ccc-admin"}}
        ],
        "current-context": "ccc-local",
    }
    plane.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
    plane.kubeconfig.chmod(0o600)


def start_control_plane(
    bin_dir: Path,
    work_dir: Path,
    *,
    full: bool = False,
    timeout_s: float = 120.0,
    scheduler_args: Sequence[str] = (),
    after_start: Callable[[ControlPlane], None] | None = None,
) -> ControlPlane:
    """Start etcd + kube-apiserver (and, with `full`, controller-manager, scheduler and kwok).

    Args:
        bin_dir: directory with the binaries (see `locate_binaries`).
        work_dir: empty or new directory for certificates, data, kubeconfig and logs.
        full: also start kube-controller-manager, kube-scheduler and kwok, and wait until the
            `default` ServiceAccount exists (pods can then be created in `default`).
        timeout_s: readiness budget per component.
        scheduler_args: extra kube-scheduler flags (benchmarks: ``--kube-api-qps=500``).
        after_start: called with the started plane; a failure stops the plane like any other.

    Returns:
        The running control plane; the caller must `stop()` it.

    Raises:
        ControlPlaneError: a component exited or did not become ready; everything already
            started is stopped before raising.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    pki_dir = work_dir / "pki"
    pki_dir.mkdir(exist_ok=True)
    plane = ControlPlane(bin_dir=bin_dir, work_dir=work_dir, pki=generate_pki(pki_dir))
    began = time.monotonic()
    try:
        _start_etcd_and_apiserver(plane, full=full, timeout_s=timeout_s)
        if full:
            _start_cluster_components(plane, timeout_s=timeout_s, scheduler_args=scheduler_args)
        if after_start is not None:
            after_start(plane)
    except BaseException:
        with contextlib.suppress(ControlPlaneError):
            plane.stop(grace_s=3)
        raise
    plane.startup_s = time.monotonic() - began
    return plane


def _start_etcd_and_apiserver(plane: ControlPlane, *, full: bool, timeout_s: float) -> None:
    work, pki = plane.work_dir, plane.pki
    client_port, peer_port, api_port = free_port(), free_port(), free_port()
    client_url, peer_url = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    plane.spawn(
        "etcd",
        [
            "--name=node0",
            f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=node0={peer_url}",
            "--listen-metrics-urls=",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
    )
    plane.wait_until("etcd /health", lambda: http_ok(f"{client_url}/health"), timeout_s=timeout_s)
    plane.server = f"https://127.0.0.1:{api_port}"
    args = [
        f"--etcd-servers={client_url}",
        "--bind-address=127.0.0.1",
        f"--secure-port={api_port}",
        f"--cert-dir={work / 'apiserver'}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.sa_public_key}",
        f"--service-account-signing-key-file={pki.sa_private_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        # The `kubernetes` Service would get 127.0.0.1 as endpoint, which is rejected as loopback
        # (and noisy in the log); nothing in the tests talks to the Service.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        # As on GKE: pods that request an extended resource (nvidia.com/gpu, google.com/tpu)
        # tolerate the taints of that resource's nodes without writing the toleration. Admission
        # webhooks (ccc's included) are called on loopback URLs; nothing else is needed for that.
        "--enable-admission-plugins=ExtendedResourceToleration",
    ]
    if not full:
        # Without kube-controller-manager no `default` ServiceAccount is ever created, so the
        # ServiceAccount admission plugin would reject every pod (envtest does the same).
        args.append("--disable-admission-plugins=ServiceAccount")
    plane.spawn("kube-apiserver", args)
    _write_kubeconfig(plane)
    plane.wait_until(
        "kube-apiserver /readyz", lambda: plane.get("/readyz")[0] == 200, timeout_s=timeout_s
    )


def _start_cluster_components(
    plane: ControlPlane, *, timeout_s: float, scheduler_args: Sequence[str] = ()
) -> None:
    work, pki, kubeconfig = plane.work_dir, plane.pki, str(plane.kubeconfig)
    delegated = [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
    ]
    kcm_port, scheduler_port, kwok_port = free_port(), free_port(), free_port()
    plane.spawn(
        "kube-controller-manager",
        [
            *delegated,
            f"--secure-port={kcm_port}",
            f"--cert-dir={work / 'kube-controller-manager'}",
            f"--service-account-private-key-file={pki.sa_private_key}",
            f"--root-ca-file={pki.ca_cert}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--node-monitor-period=5s",
            "--node-monitor-grace-period=40s",
        ],
    )
    plane.spawn(
        "kube-scheduler",
        [
            *delegated,
            f"--secure-port={scheduler_port}",
            f"--cert-dir={work / 'kube-scheduler'}",
            *scheduler_args,
        ],
    )
    kwok_home = work / "kwok-home"
    kwok_home.mkdir(exist_ok=True)
    plane.spawn(
        "kwok",
        [
            f"--kubeconfig={kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--node-ip=10.0.0.1",
            "--cidr=10.0.0.1/24",
            f"--server-address=127.0.0.1:{kwok_port}",
            # Node leases, renewed every 10 s: without them kwok's status heartbeats can miss
            # the 40 s grace on a loaded machine, and kube-controller-manager then marks every
            # pod of the node not Ready for good (no kubelet resets it), which blocks evictions
            # under a PodDisruptionBudget.
            "--node-lease-duration-seconds=40",
        ],
        # kwok reads ~/.kwok/kwok.yaml when present: keep the user's home out of it.
        env={**os.environ, "HOME": str(kwok_home)},
    )
    insecure = insecure_context()
    for name, port in (("kube-controller-manager", kcm_port), ("kube-scheduler", scheduler_port)):
        url = f"https://127.0.0.1:{port}/healthz"
        plane.wait_until(
            f"{name} /healthz",
            lambda url=url: http_ok(url, insecure),  # type: ignore[misc]
            timeout_s=timeout_s,
        )
    plane.wait_until(
        "kwok /healthz",
        lambda: http_ok(f"http://127.0.0.1:{kwok_port}/healthz"),
        timeout_s=timeout_s,
    )
    plane.wait_until(
        "the default ServiceAccount (created by kube-controller-manager)",
        lambda: plane.get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
        timeout_s=timeout_s,
    )
