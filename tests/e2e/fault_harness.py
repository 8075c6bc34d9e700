"""``ccc run`` behind a fault proxy (``tests.support.faultproxy``), for end-to-end tests that
run a scenario with faults on: the controller leads through the proxy, and the checks every
such test makes (faults really happened; no crash; one leadership throughout)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests.e2e.controller_harness import ControllerProcess, wait_ready_endpoint
from tests.support.controlplane import ControlPlane
from tests.support.faultproxy import FaultProxy, FaultSchedule, apiserver_proxy
from tests.support.kube import eventually, temporary_namespace

T = TypeVar("T")


async def _now(value: T) -> T:
    return value


@contextlib.asynccontextmanager
async def leading_behind(
    cluster: ControlPlane,
    tmp_path: Path,
    api: Any,
    schedule: FaultSchedule,
    *,
    name: str,
    kwok_namespace: str = "",
    provider_args: Sequence[str] | None = None,
    extra: Sequence[str] = (),
) -> AsyncIterator[tuple[ControllerProcess, FaultProxy]]:
    """``ccc run`` with leader election, reaching kube-apiserver through a fault proxy; yields
    once it is ready and leads, and stops it (SIGTERM) on exit. A failure inside gets the
    controller's log tail."""
    async with temporary_namespace(api, "lease") as lease_ns:
        with apiserver_proxy(cluster.server, cluster.kubeconfig, tmp_path, schedule) as (
            proxy,
            kubeconfig,
        ):
            proc = ControllerProcess(
                cluster,
                tmp_path,
                kwok_namespace=kwok_namespace,
                provider_args=provider_args,
                kubeconfig=kubeconfig,
                extra=["--leader-elect", "--lease-namespace", lease_ns, *extra],
                name=name,
            ).start()
            try:
                await wait_ready_endpoint(proc)
                await eventually("leadership", lambda: _now(proc.events("leader.started")))
                yield proc, proxy
            except (TimeoutError, AssertionError) as exc:
                raise AssertionError(f"{exc}\n{proc.tail()}") from None
            finally:
                proc.stop()


def assert_faults_happened(proxy: FaultProxy, *, cut: bool = True) -> None:
    """The seeds used here refuse one of the second to fifth connections and reset another at the
    server's first answer, so both happen whatever the traffic. Cuts come 2-30 s into a
    connection, so only a test that runs long enough is sure to see one."""
    stats = proxy.stats
    assert stats["refused"] >= 1 and stats["reset"] >= 1, dict(stats)
    assert stats["cut"] >= 1 or not cut, dict(stats)


def assert_never_crashed_or_lost_the_lease(proc: ControllerProcess) -> None:
    assert proc.alive, "ccc run exited"
    assert len(proc.events("leader.acquired")) == 1
    assert proc.events("leader.lost") == []
