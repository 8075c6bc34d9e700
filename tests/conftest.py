"""Session fixtures for the control-plane test tiers (see docs/testing.md).

- `control_plane_bin`: the directory of the binaries built by `hack/control-plane/build.sh`.
- `control_plane`: etcd + kube-apiserver (the envtest tier); no controllers run, so objects stay
  exactly as the test writes them.
- `cluster`: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (the e2e tier).
- `lws_cluster`: the same `cluster` with the LeaderWorkerSet controller installed on first use
  (its webhooks only see LeaderWorkerSets and their pods, so other tests are unaffected).

Both control planes start once per session, on first use, and are stopped at session end; a final
check fails the session if any of their processes is still alive. When a test fails, the tail of
every component's log is attached to its report. A control plane that cannot be built or started
makes the tests that need it ERROR; they are never skipped.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.controlplane import (
    BIN_ENV,
    ControlPlane,
    ControlPlaneError,
    locate_binaries,
    processes_mentioning,
    start_control_plane,
)
from tests.support.lws import start_lws

_PLANE_FIXTURES = ("control_plane", "cluster")
_NEEDS_BINARIES = frozenset({"control_plane_bin", "lws_cluster", *_PLANE_FIXTURES})
_bin_dir_key = pytest.StashKey[Path | ControlPlaneError]()
_work_dirs: list[Path] = []


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Build (or find) the binaries before any test runs, outside the per-test timeout.

    A cold build takes tens of minutes, far beyond pytest-timeout's per-test budget, so it runs
    here, once, and only when a selected test needs the control plane.
    """
    if not any(_NEEDS_BINARIES & set(getattr(item, "fixturenames", ())) for item in items):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not os.environ.get(BIN_ENV):
        reporter.write_line("control plane: running hack/control-plane/build.sh (slow only once)")
    try:
        config.stash[_bin_dir_key] = found = locate_binaries()
    except ControlPlaneError as error:
        config.stash[_bin_dir_key] = error
        found_text = "not available (tests that need it will error)"
    else:
        found_text = str(found)
    if reporter is not None:
        reporter.write_line(f"control plane binaries: {found_text}")


@pytest.fixture(scope="session")
def control_plane_bin(pytestconfig: pytest.Config) -> Path:
    """Directory holding etcd, kube-*, kubectl, kwok and helm."""
    found = pytestconfig.stash.get(_bin_dir_key, None)
    if found is None:
        found = locate_binaries()
    if isinstance(found, ControlPlaneError):
        raise found
    return found


def _run_plane(bin_dir: Path, work_dir: Path, *, full: bool) -> Iterator[ControlPlane]:
    _work_dirs.append(work_dir)
    plane = start_control_plane(bin_dir, work_dir, full=full)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def control_plane(
    control_plane_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver with RBAC, secure port and service-account keys."""
    yield from _run_plane(control_plane_bin, tmp_path_factory.mktemp("control-plane"), full=False)


@pytest.fixture(scope="session")
def cluster(
    control_plane_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """The full local cluster: control plane + controller-manager, scheduler and kwok."""
    yield from _run_plane(control_plane_bin, tmp_path_factory.mktemp("cluster"), full=True)


@pytest.fixture(scope="session")
def lws_cluster(cluster: ControlPlane) -> ControlPlane:
    """The full cluster with the LeaderWorkerSet controller running (started once)."""
    start_lws(cluster)
    return cluster


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the tail of every component log of the planes the test used."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for fixture in _PLANE_FIXTURES:
            plane = funcargs.get(fixture)
            if isinstance(plane, ControlPlane):
                for component, text in plane.log_tails().items():
                    report.sections.append(
                        (f"{fixture}: {component} log ({plane.logs[component]})", text)
                    )
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if any control-plane process outlived its fixture (and kill it)."""
    leaked = [pid for work_dir in _work_dirs for pid in processes_mentioning(str(work_dir))]
    if not leaked:
        return
    for pid in leaked:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"control plane processes leaked and were killed: {leaked}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
