"""``make demo`` end to end: the real demo process starts the local control plane and the
controller, the vLLM replicas reach Running through the stockout, and Ctrl-C leaves nothing
behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ccc.devcluster.demo import RUNNING_BANNER
from tests.support.controlplane import BIN_ENV, REPO_ROOT, processes_mentioning

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


def _wait_for(path: Path, marker: str, proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """What the demo printed (to ``path``) once a line contains ``marker``; polls with a
    deadline and fails with everything printed so far."""
    deadline, text = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline and proc.poll() is None:
        text = path.read_text(errors="replace")
        if marker in text:
            return text
        time.sleep(0.5)
    raise AssertionError(f"no {marker!r} within {timeout_s:.0f}s; the demo printed:\n" + text)


def _cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}") / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def test_the_demo_shows_the_fallback_and_stops_cleanly_on_ctrl_c(
    control_plane_bin: Path, tmp_path: Path
) -> None:
    work, out = tmp_path / "demo", tmp_path / "demo.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ccc.devcluster.demo", "--work-dir", str(work)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env={**os.environ, BIN_ENV: str(control_plane_bin), "PYTHONUNBUFFERED": "1"},
        )
    try:
        printed = _wait_for(out, RUNNING_BANNER, proc, timeout_s=240)
        children = _children_of(proc.pid)
        started = {pid: _cmdline(pid) for pid in processes_mentioning(str(work / "cluster"))}

        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    everything = out.read_text(errors="replace")

    assert "STOCKOUT of a3-highgpu-8g in us-central1-a" in printed
    assert "admission webhook serving" in printed  # the shipped workload relies on it
    assert "OfferingUnavailable" in printed and "ZONE_RESOURCE_POOL_EXHAUSTED" in printed
    assert "after stockout in us-central1-a" in printed  # the fallback, as an Event
    assert "requested: " in printed and "in us-central1-b" in printed
    assert printed.count(": Running on ") == 3
    assert f"KUBECONFIG={work / 'cluster' / 'admin.kubeconfig'}" in everything
    assert proc.returncode == 0, everything
    assert everything.rstrip().endswith("nothing left running"), everything
    # Before Ctrl-C: etcd, kube-apiserver, -controller-manager, -scheduler, kwok and ccc run.
    assert len(started) >= 6, started
    assert any(" ccc run " in cmdline for cmdline in started.values()), started
    assert children
    assert processes_mentioning(str(work)) == []
    for pid in {*children, *started}:
        assert _state(pid) == "gone", (pid, started.get(pid))


def _state(pid: int) -> str:
    """The process state letter, or ``gone`` (a zombie counts as gone: it runs nothing)."""
    try:
        state = (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
    return "gone" if state == "Z" else state
