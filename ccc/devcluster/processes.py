"""The host side of a local control plane: where its binaries are (built by
``hack/control-plane/build.sh`` on first use), and helpers for the child processes that run them
(free loopback ports, health probes, log tails, finding leftover processes, dying with the
parent).

:mod:`ccc.devcluster.controlplane` assembles the control plane from these.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "control-plane" / "build.sh"
BIN_ENV = "CCC_CONTROL_PLANE_BIN"
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "helm",
    "lws-controller",
)
_PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or stopped cleanly."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 40) -> str:
    """Return the last `lines` lines of a text file ('' if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes (other than this one) whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def locate_binaries(*, build: bool = True) -> Path:
    """Find the control-plane bin directory.

    Uses `$CCC_CONTROL_PLANE_BIN` when set, else runs `hack/control-plane/build.sh`, which builds
    the binaries on first use (tens of minutes) and afterwards only prints the cached directory.

    Raises:
        ControlPlaneError: the directory lacks a binary, or the build failed (its output is in
            the message).
    """
    configured = os.environ.get(BIN_ENV)
    if configured:
        bin_dir = Path(configured)
    elif build:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ControlPlaneError(
                f"{BUILD_SCRIPT} failed with exit code {result.returncode}; its output:\n"
                + "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            )
        bin_dir = Path(result.stdout.strip().splitlines()[-1])
    else:
        raise ControlPlaneError(f"{BIN_ENV} is not set; run {BUILD_SCRIPT} and export its output")
    missing = [name for name in BINARIES if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        raise ControlPlaneError(
            f"{bin_dir} lacks {', '.join(missing)}; run {BUILD_SCRIPT} (or fix ${BIN_ENV})"
        )
    return bin_dir


# Loaded here, in the parent: the child of a multi-threaded process must not dlopen() after fork.
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)


def die_with_parent() -> None:
    """``preexec_fn`` for children that must not outlive this process (PR_SET_PDEATHSIG)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    """A GET of ``url`` answers 200 within 2 s (a readiness probe of a component)."""
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            return int(response.status) == 200
    except OSError:  # URLError, refused, reset, timed out
        return False


def insecure_context() -> ssl.SSLContext:
    """TLS without verification, for local health probes only."""
    # kube-controller-manager and kube-scheduler serve /healthz with a self-signed certificate.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
