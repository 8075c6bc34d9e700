"""Leader election on a real Lease: one leader among candidates, takeover after a crash within
the lease duration, immediate takeover after a graceful release, optimistic concurrency, and a
leader that stops leading when it cannot renew.

Timings are shortened (3-5 s leases, 0.3 s retry period) so the tests take seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from ccc.controller.kube import api_client_from, fresh_connections, request_json
from ccc.controller.leader import LeaderElector, LeadershipLost
from tests.support.controlplane import REPO_ROOT, ControlPlane
from tests.support.faultproxy import apiserver_proxy
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = pytest.mark.controlplane

LEASE = "ccc-controller"
RETRY_S = 0.3


def elector(api: Any, namespace: str, identity: str, **kwargs: Any) -> LeaderElector:
    options: dict[str, Any] = {
        "lease_duration_s": 3,
        "renew_deadline_s": 2,
        "retry_period_s": RETRY_S,
        **kwargs,
    }
    return LeaderElector(api, namespace=namespace, name=LEASE, identity=identity, **options)


class Candidate:
    """An elector running ``lead()`` = record the start, then work until cancelled."""

    def __init__(self, elector: LeaderElector) -> None:
        self.elector = elector
        self.led = asyncio.Event()
        self.stopped = asyncio.Event()
        self.task: asyncio.Task[None] = asyncio.create_task(elector.run(self._lead))

    async def _lead(self) -> None:
        self.led.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.stopped.set()

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, LeadershipLost):
            await self.task


@contextlib.asynccontextmanager
async def candidates(*electors: LeaderElector) -> AsyncIterator[list[Candidate]]:
    running = [Candidate(e) for e in electors]
    try:
        yield running
    finally:
        for candidate in running:
            await candidate.stop()


async def lease_spec(api: Any, namespace: str) -> dict[str, Any]:
    lease = await request_json(
        api, "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}"
    )
    spec: dict[str, Any] = lease["spec"]
    return spec


async def the_leader(group: list[Candidate]) -> Candidate:
    async def probe() -> Candidate | None:
        leaders = [c for c in group if c.elector.is_leader]
        return leaders[0] if len(leaders) == 1 else None

    return await eventually("a single leader", probe, timeout_s=20, interval_s=0.05)


async def test_of_two_electors_only_one_leads(control_plane: ControlPlane) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "lease") as ns,
        candidates(elector(api, ns, "a"), elector(api, ns, "b")) as group,
    ):
        leader = await the_leader(group)
        for _ in range(40):  # 2 s: several renewals and follower attempts
            assert [c.elector.is_leader for c in group].count(True) == 1
            assert sum(c.led.is_set() for c in group) == 1
            await asyncio.sleep(0.05)
        assert leader.elector.is_leader
        spec = await lease_spec(api, ns)
        assert spec["holderIdentity"] == leader.elector.identity
        follower = next(c for c in group if c is not leader)
        assert follower.elector.observed_holder == leader.elector.identity


async def test_when_the_leader_crashes_the_follower_takes_over_within_the_lease_duration(
    control_plane: ControlPlane,
) -> None:
    """The crash is simulated by cancelling the leader with ``release_on_cancel=False``: it
    stops renewing and leaves the Lease held, as a killed process would."""
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "lease") as ns,
    ):
        first = Candidate(elector(api, ns, "crasher", release_on_cancel=False))
        await eventually("the first leader", lambda: _async(first.elector.is_leader))
        async with candidates(elector(api, ns, "survivor")) as (survivor,):
            await asyncio.sleep(1.0)  # the survivor observes renewals
            assert not survivor.elector.is_leader
            crashed_at = time.monotonic()
            await first.stop()
            assert (await lease_spec(api, ns))["holderIdentity"] == "crasher"
            await eventually(
                "the survivor leads",
                lambda: _async(survivor.elector.is_leader),
                timeout_s=10,
                interval_s=0.05,
            )
            took_over_s = time.monotonic() - crashed_at
            # It waited for the lease to expire (3 s after the last renewal it observed)...
            assert took_over_s > 3 - 2 * 1.2 * RETRY_S
            # ...and no longer than the lease duration plus one retry period (and slack for a
            # loaded machine).
            assert took_over_s < 3 + 1.2 * RETRY_S + 2.0
            spec = await lease_spec(api, ns)
            assert spec["holderIdentity"] == "survivor"
            assert spec["leaseTransitions"] == 1


async def test_graceful_release_lets_the_follower_take_over_at_once(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "lease") as ns,
    ):
        first = Candidate(elector(api, ns, "leaving", lease_duration_s=10, renew_deadline_s=5))
        await eventually("the first leader", lambda: _async(first.elector.is_leader))
        async with candidates(
            elector(api, ns, "successor", lease_duration_s=10, renew_deadline_s=5)
        ) as (successor,):
            await asyncio.sleep(0.5)
            released_at = time.monotonic()
            with capture_logs() as logs:
                await first.stop()
            assert first.stopped.is_set()
            assert any(e["event"] == "leader.released" for e in logs)
            await eventually(
                "the successor leads",
                lambda: _async(successor.elector.is_leader),
                timeout_s=10,
                interval_s=0.05,
            )
            # Far below the 10 s lease: one retry period, not an expiry.
            assert time.monotonic() - released_at < 2 * 1.2 * RETRY_S + 3.0


async def test_a_follower_watching_the_lease_takes_over_a_release_within_a_round_trip(
    control_plane: ControlPlane,
) -> None:
    """With a 3 s retry period, polling alone would take up to 3.6 s after the release; the
    follower's watch on its Lease wakes it as soon as the holder is cleared."""
    slow = {"lease_duration_s": 10, "renew_deadline_s": 5, "retry_period_s": 3}
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "lease") as ns,
    ):
        first = Candidate(elector(api, ns, "leaving", **slow))
        await eventually("the first leader", lambda: _async(first.elector.is_leader))
        async with candidates(elector(api, ns, "successor", **slow)) as (successor,):
            await eventually(
                "the follower sees the holder",
                lambda: _async(successor.elector.observed_holder == "leaving"),
            )
            await asyncio.sleep(0.5)  # the follower is between two polls, watching
            released_at = time.monotonic()
            await first.stop()
            await eventually(
                "the successor leads",
                lambda: _async(successor.elector.is_leader),
                timeout_s=10,
                interval_s=0.02,
            )
            took_s = time.monotonic() - released_at
        assert took_s < 1.0, f"took over {took_s:.2f}s after the release"


def _read_together(electors: list[LeaderElector]) -> None:
    """Make every elector's first read of the Lease end together, so all of them try to take it
    with the same resourceVersion (on a loaded machine the first candidate could otherwise take
    it before the others have read it, and no race would happen). Only the timing of the real
    reads is arranged; the updates and the API server's verdicts are untouched."""
    barrier = asyncio.Barrier(len(electors))
    for e in electors:

        async def read_then_wait(
            first_read: Any = e._get,
            waited: list[bool] = [],  # noqa: B006 (one list per elector)
        ) -> dict[str, Any] | None:
            lease: dict[str, Any] | None = await first_read()
            if not waited:
                waited.append(True)
                await asyncio.wait_for(barrier.wait(), timeout=30)
            return lease

        e._get = read_then_wait  # type: ignore[method-assign]


async def test_racing_candidates_are_serialized_by_resource_version_so_exactly_one_wins(
    control_plane: ControlPlane,
) -> None:
    """Five candidates find a released Lease at the same moment and all try to take it with a
    resourceVersion-guarded update: the API server accepts one and answers 409 to the rest."""
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "lease") as ns,
    ):
        released = {
            "metadata": {"name": LEASE},
            "spec": {"holderIdentity": None, "leaseDurationSeconds": 1, "leaseTransitions": 0},
        }
        await request_json(
            api, "POST", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", body=released
        )
        electors = [elector(api, ns, f"c{i}") for i in range(5)]
        _read_together(electors)
        with capture_logs() as logs:
            async with candidates(*electors) as group:
                leader = await the_leader(group)
                await asyncio.sleep(1.0)
                assert [c.elector.is_leader for c in group].count(True) == 1
                assert sum(c.led.is_set() for c in group) == 1
                spec = await lease_spec(api, ns)
        assert spec["holderIdentity"] == leader.elector.identity
        assert spec["leaseTransitions"] == 1
        conflicts = [e for e in logs if e["event"] == "leader.conflict"]
        assert conflicts and {e["reason"] for e in conflicts} == {"Conflict"}


async def test_a_leader_whose_lease_is_taken_stops_leading_and_raises_leadership_lost(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "lease") as ns,
    ):
        candidate = Candidate(elector(api, ns, "ousted"))
        await eventually("leadership", lambda: _async(candidate.elector.is_leader))
        path = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{LEASE}"
        lease = await request_json(api, "GET", path)
        lease["spec"]["holderIdentity"] = "intruder"
        lease["spec"]["leaseDurationSeconds"] = 30
        await request_json(api, "PUT", path, body=lease)
        with pytest.raises(LeadershipLost):
            await asyncio.wait_for(candidate.task, timeout=5)
        assert candidate.stopped.is_set()
        assert not candidate.elector.is_leader
        assert (await lease_spec(api, ns))["holderIdentity"] == "intruder"


async def test_a_leader_that_cannot_reach_the_api_gives_up_after_the_renew_deadline(
    control_plane: ControlPlane,
) -> None:
    """The leader's own client is closed under it: every renewal fails as a dead connection
    would."""
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "lease") as ns,
    ):
        async with api_client(control_plane.kubeconfig) as doomed_api:
            candidate = Candidate(elector(doomed_api, ns, "cut-off"))
            await eventually("leadership", lambda: _async(candidate.elector.is_leader))
            await doomed_api.close()
            cut_at = time.monotonic()
            with pytest.raises(LeadershipLost):
                await asyncio.wait_for(candidate.task, timeout=10)
            gave_up_s = time.monotonic() - cut_at
        assert 2 - 1.2 * RETRY_S <= gave_up_s < 2 + 2 * 1.2 * RETRY_S + 2.0
        assert candidate.stopped.is_set()
        assert (await lease_spec(api, ns))["holderIdentity"] == "cut-off"


@pytest.mark.parametrize("reconnect", [True, False], ids=["reconnecting", "not-reconnecting"])
async def test_a_leader_whose_pooled_connections_go_silent_keeps_its_lease_by_reconnecting(
    control_plane: ControlPlane, tmp_path: Path, reconnect: bool
) -> None:
    """The elector's own client holds at least three pooled connections to the API server,
    through a fault proxy that then blackholes them all (no reset, no answer). Each attempt
    that picks one times out after 1 s. With ``reconnect`` (what ``ccc run`` passes) the
    client gets fresh connections after the first such attempt and the next one renews before
    the 2 s deadline; without it, the attempts use up the dead connections one by one and the
    lease is lost."""
    with apiserver_proxy(control_plane.server, control_plane.kubeconfig, tmp_path) as (
        proxy,
        proxied,
    ):
        async with (
            api_client(control_plane.kubeconfig) as api,
            temporary_namespace(api, "lease") as ns,
        ):
            lease_api = await api_client_from(str(proxied))
            try:
                options: dict[str, Any] = {}
                if reconnect:
                    options["reconnect"] = lambda: fresh_connections(lease_api)
                candidate = Candidate(elector(lease_api, ns, "steady", **options))
                await eventually("leadership", lambda: _async(candidate.elector.is_leader))
                path = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{LEASE}"
                # Eight at once: on a busy machine some GETs finish before others start and
                # share a connection. Three dead ones already outlast the 2 s renew deadline
                # at 1 s per attempt.
                await asyncio.gather(*(request_json(lease_api, "GET", path) for _ in range(8)))
                assert proxy.open_connections() >= 3
                with capture_logs() as logs:
                    assert proxy.blackhole_established() >= 3
                    blackholed_at = time.monotonic()
                    with contextlib.suppress(TimeoutError, LeadershipLost):
                        await asyncio.wait_for(asyncio.shield(candidate.task), timeout=5.0)
                assert any(e["event"] == "leader.attempt_failed" for e in logs)
                if reconnect:
                    assert not candidate.task.done(), "leadership was lost"
                    renewed = (await lease_spec(api, ns))["renewTime"]
                    assert _parse_micro(renewed) > time.time() - 2.0  # still renewing
                else:
                    assert candidate.task.done()
                    with pytest.raises(LeadershipLost):
                        candidate.task.result()
                    assert time.monotonic() - blackholed_at < 5.0
                await candidate.stop()
            finally:
                await lease_api.close()


def _parse_micro(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def test_when_lead_returns_the_lease_is_released_and_run_returns(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "lease") as ns,
    ):
        done: list[bool] = []

        async def lead() -> None:
            done.append(True)

        await asyncio.wait_for(elector(api, ns, "brief").run(lead), timeout=10)
        assert done == [True]
        spec = await lease_spec(api, ns)
        assert spec.get("holderIdentity") is None and spec["leaseDurationSeconds"] == 1

        async def failing_lead() -> None:
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await asyncio.wait_for(elector(api, ns, "failing").run(failing_lead), timeout=10)
        assert (await lease_spec(api, ns)).get("holderIdentity") is None


def test_inconsistent_timings_are_rejected_with_the_rule() -> None:
    with pytest.raises(ValueError, match="lease_duration_s > renew_deadline_s"):
        LeaderElector(
            None, namespace="ns", name="n", identity="i", lease_duration_s=5, renew_deadline_s=5
        )


async def _async(value: Any) -> Any:
    return value


_CANDIDATE_PROCESS = """
import asyncio, sys
from ccc.controller.kube import api_client_from
from ccc.controller.leader import LeaderElector

async def main() -> None:
    api = await api_client_from(sys.argv[1])
    elector = LeaderElector(
        api, namespace=sys.argv[2], name="ccc-controller", identity=sys.argv[3],
        lease_duration_s=3, renew_deadline_s=2, retry_period_s=0.3,
    )

    async def lead() -> None:
        print("LEADING", flush=True)
        await asyncio.Event().wait()

    await elector.run(lead)

asyncio.run(main())
"""


async def test_when_a_leading_process_is_killed_the_other_process_takes_over(
    control_plane: ControlPlane,
) -> None:
    """Two real processes; the leader gets SIGKILL (no release, no cleanup)."""
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "lease") as ns,
    ):
        processes: dict[str, asyncio.subprocess.Process] = {}
        try:
            for identity in ("proc-a", "proc-b"):
                processes[identity] = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    _CANDIDATE_PROCESS,
                    str(control_plane.kubeconfig),
                    ns,
                    identity,
                    stdout=asyncio.subprocess.PIPE,
                    cwd=REPO_ROOT,
                    env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                )
            readers = {
                asyncio.create_task(_wait_for_line(p, "LEADING")): identity
                for identity, p in processes.items()
            }
            done, _ = await asyncio.wait(readers, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            assert len(done) == 1, "exactly one process leads"
            leader = readers[done.pop()]
            follower = next(i for i in processes if i != leader)
            assert (await lease_spec(api, ns))["holderIdentity"] == leader
            processes[leader].kill()
            killed_at = time.monotonic()
            await processes[leader].wait()
            follower_task = next(t for t, i in readers.items() if i == follower)
            await asyncio.wait_for(follower_task, timeout=10)
            assert time.monotonic() - killed_at < 3 + 1.2 * RETRY_S + 3.0
            assert (await lease_spec(api, ns))["holderIdentity"] == follower
        finally:
            for process in processes.values():
                if process.returncode is None:
                    process.kill()
                    await process.wait()


async def _wait_for_line(process: asyncio.subprocess.Process, text: str) -> None:
    assert process.stdout is not None
    while True:
        line = await process.stdout.readline()
        if not line:
            raise AssertionError(f"process exited before printing {text!r}")
        if line.decode().strip() == text:
            return
