"""Chaos benchmark: ``ccc run`` behind a fault proxy, and ``kill -9`` at random points.

**latency**: for each fault rate (0 = baseline), a fresh ComputeClass and kwok cloud on one
local cluster, ``ccc run`` (defaults, leader election on) reaching kube-apiserver through a
fault proxy (``tests.support.faultproxy``, ``FaultSchedule.at_rate``: that share of new
connections refused or reset, that share with a setup delayed 50-500 ms, every connection cut
after 2-30 s; ``--slow S`` adds slow links, every chunk held 50-500 ms, on a share S).
``--pods`` 8-GPU pods arrive in batches of ``--batch`` every ``--interval`` seconds; zone a holds
``--zone-a-nodes`` nodes, so a later batch stocks it out and the walk falls back to zone b. Per
pod, latency = first seen Running (a watch from the benchmark, not through the proxy) minus the
return of its create. Reported per rate: p50, p90, max, pools and nodes created against needed,
controller crashes (restarted like a Deployment would) and leases lost, faults injected.
Target: p90 under 25 % faults <= 1.5 x the baseline's.

**kills**: rounds of ``tests/e2e/kill_rounds.py`` (one 8-GPU pod per kill, each controller
killed a random 0-2.5 s after its caches synced while creates take 0.7 s and zone a stocks out
after 3 nodes, then a final controller must converge) until ``--kills`` controllers were
killed. Reports duplicates, leaks, rounds that did not converge, where the kills landed, and
seconds per kill.

**expiry-kills**: rounds of ``tests/e2e/expiry_kills.py`` (replicas on expiring flex-start
nodes with a PDB of ``minAvailable: replicas - 1``, controllers killed a random 0-2.5 s after
their caches synced while the nodes are replaced, drained and deleted) until ``--kills`` kills
landed during replacement or drain. Reports where the kills landed, double drains, PDB
violations, leaked or lost nodes, pools and replicas, and convergence.

    .venv/bin/python -m benchmarks.chaos latency [--rates 0,0.1,0.25] [--repeat 1]
    .venv/bin/python -m benchmarks.chaos kills [--kills 1000] [--per-round 20] [--minutes M]
    .venv/bin/python -m benchmarks.chaos expiry-kills [--kills 20] [--per-round 8] [--replicas 3]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._cluster import (
    GPU_MACHINE,
    CccRun,
    api_for,
    create_class,
    create_namespace,
    gpu_class,
    gpu_pod,
    local_cluster,
)
from ccc.api.values import CapacityType
from ccc.controller.informer import Informer, Resource
from ccc.controller.kube import KubeApiError, request_json
from ccc.controller.logs import configure_logging
from providers.kwok import KwokProvider
from tests.e2e.expiry_kills import ExpiryKillRound, expiry_kill_round
from tests.e2e.kill_rounds import KillRound, kill_round, remove_class_and_cloud
from tests.support.controlplane import ControlPlane
from tests.support.faultproxy import FaultSchedule, apiserver_proxy
from tests.support.kube import eventually

ZONES = ("us-central1-a", "us-central1-b")
PODS = Resource("", "v1", "pods", True)


@dataclass(frozen=True, slots=True)
class LatencyRun:
    rate: float
    latencies_s: list[float]
    pools: int
    pools_needed: int
    nodes: int
    nodes_needed: int
    crashes: int
    leases_lost: int
    faults: dict[str, int]
    wall_s: float


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def _phase(obj: dict[str, Any]) -> tuple[str, str]:
    return (str(obj["metadata"]["name"]), str((obj.get("status") or {}).get("phase", "")))


async def latency_run(
    plane: ControlPlane, work: Path, *, rate: float, seed: int, index: int, args: argparse.Namespace
) -> LatencyRun:
    tag = f"{index:02d}-{round(rate * 100):02d}"
    cls, cloud_ns, ns, lease_ns = (
        f"chaos-{tag}",
        f"chaos-cloud-{tag}",
        f"chaos-{tag}",
        f"lease-{tag}",
    )
    running_at: dict[str, float] = {}

    def on_change(_: str, __: object, new: tuple[str, str] | None) -> None:
        if new is not None and new[1] == "Running":
            running_at.setdefault(new[0], time.monotonic())

    async with api_for(plane) as api:
        cloud = KwokProvider(api, namespace=cloud_ns)
        await cloud.set_capacity(GPU_MACHINE, ZONES[0], CapacityType.SPOT, args.zone_a_nodes)
        await create_class(api, gpu_class(cls, ZONES))
        await create_namespace(api, ns)
        await create_namespace(api, lease_ns)
        watcher = Informer(api, PODS, project=_phase, namespace=ns, on_change=on_change)
        watch_task = asyncio.create_task(watcher.run())
        schedule = FaultSchedule.at_rate(rate, seed=seed, **args.fault_overrides)
        began = time.monotonic()
        with apiserver_proxy(plane.server, plane.kubeconfig, work, schedule) as (proxy, config):
            ccc = CccRun(
                plane,
                work,
                kwok_namespace=cloud_ns,
                kubeconfig=config,
                extra=["--leader-elect", "--lease-namespace", lease_ns],
            )
            crashes = 0
            with ccc:
                await ccc.wait_ready()

                async def leading() -> bool:
                    return await ccc.metric("ccc_leader") >= 1

                # Pods are timed once it leads (winning the Lease under faults is not latency).
                await eventually("ccc run leads", leading, timeout_s=60, interval_s=0.1)
                created_at: dict[str, float] = {}

                async def create(name: str) -> None:
                    body = gpu_pod(name, cls, gpus=8)
                    await request_json(api, "POST", f"/api/v1/namespaces/{ns}/pods", body=body)
                    created_at[name] = time.monotonic()

                for b in range(0, args.pods, args.batch):
                    if not ccc.alive:
                        crashes += 1
                        ccc.start()
                    names = [f"p-{i:03d}" for i in range(b, min(b + args.batch, args.pods))]
                    await asyncio.gather(*(create(n) for n in names))
                    await asyncio.sleep(args.interval)
                deadline = time.monotonic() + args.timeout
                while len(running_at.keys() & created_at.keys()) < args.pods:
                    if not ccc.alive:
                        crashes += 1
                        ccc.start()
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"rate {rate}: pods not Running\n{ccc.tail()}")
                    await asyncio.sleep(0.2)
                leases_lost = len(ccc.events("leader.lost"))
            faults = {k: v for k, v in proxy.stats.items() if k != "accepted"}
            faults["connections"] = proxy.stats["accepted"]
        wall_s = time.monotonic() - began
        watch_task.cancel()
        pools = await cloud.list_node_pools()
        # A clean slate for the next run: its controller must not start among terminating
        # pods and nodes (their events would keep its batch window open).
        for namespace in (ns, lease_ns):
            await request_json(api, "DELETE", f"/api/v1/namespaces/{namespace}")

        async def gone() -> bool:
            try:
                await request_json(api, "GET", f"/api/v1/namespaces/{ns}")
            except KubeApiError as error:
                return error.status == 404
            return False

        await eventually(f"namespace {ns} deleted", gone, timeout_s=180, interval_s=0.5)
        await remove_class_and_cloud(api, cls, cloud)
    return LatencyRun(
        rate=rate,
        latencies_s=[running_at[n] - created_at[n] for n in created_at],
        pools=len(pools),
        pools_needed=1 if args.pods <= args.zone_a_nodes else 2,
        nodes=sum(p.node_count for p in pools),
        nodes_needed=args.pods,
        crashes=crashes,
        leases_lost=leases_lost,
        faults=faults,
        wall_s=wall_s,
    )


def _row(label: str, latencies: list[float], runs: list[LatencyRun]) -> str:
    faults: Counter[str] = Counter()
    for r in runs:
        faults.update(r.faults)
    shown = ", ".join(
        f"{k} {faults[k]}" for k in ("connections", "refused", "reset", "cut", "delayed")
    )
    return (
        f"{label:>8} | {percentile(latencies, 50):6.2f} | {percentile(latencies, 90):6.2f} | "
        f"{max(latencies):6.2f} | {sum(r.pools for r in runs)}/{sum(r.pools_needed for r in runs)}"
        f" | {sum(r.nodes for r in runs)}/{sum(r.nodes_needed for r in runs)}"
        f" | {sum(r.crashes for r in runs)} | {sum(r.leases_lost for r in runs)} | {shown}"
    )


async def latency(args: argparse.Namespace, work: Path) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    results: dict[float, list[LatencyRun]] = {r: [] for r in rates}
    with local_cluster(work / "cluster") as plane:
        index = 0
        for repeat in range(args.repeat):
            for rate in rates:
                run = await latency_run(
                    plane, work, rate=rate, seed=args.seed + repeat, index=index, args=args
                )
                index += 1
                results[rate].append(run)
                lat = run.latencies_s
                print(
                    f"# rate {rate:.2f} run {repeat + 1}: p50 {percentile(lat, 50):.2f} s, "
                    f"p90 {percentile(lat, 90):.2f} s, max {max(lat):.2f} s, "
                    f"pools {run.pools}/{run.pools_needed}, nodes {run.nodes}/{run.nodes_needed}, "
                    f"crashes {run.crashes}, leases lost {run.leases_lost}, {run.faults}, "
                    f"{run.wall_s:.0f} s",
                    flush=True,
                )
    print(
        f"{args.pods} pods x {args.repeat} run(s) per rate, batches of {args.batch} every "
        f"{args.interval:g} s, zone a holds {args.zone_a_nodes} nodes"
    )
    print(
        "  faults |  p50 s |  p90 s |  max s | pools/needed | nodes/needed | crashes | "
        "leases lost | faults injected"
    )
    for rate, runs in results.items():
        print(_row(f"{rate * 100:.0f} %", [x for r in runs for x in r.latencies_s], runs))
    if 0.0 not in results:
        return
    base_runs = results[0.0]
    base = percentile([x for r in base_runs for x in r.latencies_s], 90)
    base_median = statistics.median(percentile(r.latencies_s, 90) for r in base_runs)
    for rate, runs in results.items():
        if rate:
            p90 = percentile([x for r in runs for x in r.latencies_s], 90)
            median = statistics.median(percentile(r.latencies_s, 90) for r in runs)
            print(
                f"p90 at {rate * 100:.0f} % faults / baseline: {p90 / base:.2f} pooled, "
                f"{median / base_median:.2f} median of runs (target <= 1.5)"
            )


async def kills(args: argparse.Namespace, work: Path) -> None:
    rounds: list[KillRound] = []
    began = time.monotonic()
    with local_cluster(work / "cluster") as plane:
        async with api_for(plane) as api:
            done = 0
            while done < args.kills and time.monotonic() - began < args.minutes * 60:
                n = min(args.per_round, args.kills - done)
                started = time.monotonic()
                got = await kill_round(api, plane, work, kills=n, seed=args.seed + len(rounds))
                rounds.append(got)
                done += n
                converged = (
                    f"converged in {got.converged_s:.1f} s" if got.converged_s else "NOT CONVERGED"
                )
                print(
                    f"# round {len(rounds)} (seed {got.seed}): {n} kills, {converged}"
                    f", duplicates {got.duplicates}, leaks {got.leaks}, pools {list(got.pools)}, "
                    f"{time.monotonic() - started:.0f} s; {done}/{args.kills} kills",
                    flush=True,
                )
                if not got.ok and got.log_tail:
                    print(got.log_tail, file=sys.stderr)
    wall = time.monotonic() - began
    total = sum(r.kills for r in rounds)
    print(f"kills: {total} in {len(rounds)} rounds of <= {args.per_round}")
    print(f"killed while running: {sum(r.killed_while_running for r in rounds)}/{total}")
    landed: Counter[str] = Counter()
    for r in rounds:
        landed.update(r.last_events)
    print(
        f"kills of a controller that had already changed the cloud: "
        f"{sum(r.acted for r in rounds)}/{total}; last event logged before the kill: "
        + ", ".join(f"{k} {v}" for k, v in landed.most_common())
    )
    print(f"duplicates: {sum(r.duplicates for r in rounds)}; leaks: {sum(r.leaks for r in rounds)}")
    print(
        f"rounds not converged: {sum(r.converged_s is None for r in rounds)}; "
        f"convergence after the last kill: median "
        f"{statistics.median(r.converged_s for r in rounds if r.converged_s):.1f} s"
    )
    print(
        f"wall time {wall:.0f} s ({wall / total:.2f} s per kill, cluster start included); "
        f"1,000 kills would take about {wall / total * 1000 / 60:.0f} min"
    )


async def expiry_kills(args: argparse.Namespace, work: Path) -> None:
    """Rounds of ``tests/e2e/expiry_kills.py`` until ``--kills`` kills landed during a
    flex-start replacement or drain."""
    rounds: list[ExpiryKillRound] = []
    began = time.monotonic()
    with local_cluster(work / "cluster") as plane:
        async with api_for(plane) as api:
            while (
                sum(r.during for r in rounds) < args.kills
                and time.monotonic() - began < args.minutes * 60
            ):
                started = time.monotonic()
                got = await expiry_kill_round(
                    api,
                    plane,
                    work,
                    kills=args.per_round,
                    seed=args.seed + len(rounds),
                    replicas=args.replicas,
                )
                rounds.append(got)
                converged = f"{got.converged_s:.1f} s" if got.converged_s else "NOT CONVERGED"
                print(
                    f"# round {len(rounds)} (seed {got.seed}): {got.kills} kills {got.phases}, "
                    f"converged {converged}, double drains {len(got.double_drains)}, min Ready "
                    f"{got.min_ready}/{got.min_available}, leaks {got.leaks}, lost {got.lost}, "
                    f"{time.monotonic() - started:.0f} s",
                    flush=True,
                )
                if not got.ok:
                    print(f"{got}\n{got.log_tail}", file=sys.stderr)
    total = sum(r.kills for r in rounds)
    phases: Counter[str] = Counter()
    for r in rounds:
        phases.update(r.phases)
    print(f"{args.replicas} replicas per round (PDB minAvailable {args.replicas - 1})")
    print(
        f"kills: {total} in {len(rounds)} rounds; during replacement or drain: "
        f"{sum(r.during for r in rounds)} ("
        + ", ".join(f"{k} {phases[k]}" for k in ("before", "replacing", "draining", "after"))
        + f"); killed while running: {sum(r.killed_while_running for r in rounds)}/{total}"
    )
    print(
        f"double drains: {sum(len(r.double_drains) for r in rounds)}; PDB violations: "
        f"{sum(r.pdb_violations for r in rounds)}; leaks: {sum(r.leaks for r in rounds)}; "
        f"lost replicas: {sum(r.lost for r in rounds)}; rounds not converged: "
        f"{sum(r.converged_s is None for r in rounds)}"
    )
    done = [r.converged_s for r in rounds if r.converged_s]
    if done:
        print(f"convergence after the last kill: median {statistics.median(done):.1f} s")
    print(f"wall time {time.monotonic() - began:.0f} s (cluster start included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    lat = sub.add_parser("latency", help="pod latency at several fault rates")
    lat.add_argument("--rates", default="0,0.1,0.25", help="comma-separated fault rates")
    lat.add_argument("--repeat", type=int, default=1, help="runs per rate (pooled)")
    lat.add_argument("--pods", type=int, default=60)
    lat.add_argument("--batch", type=int, default=10)
    lat.add_argument("--interval", type=float, default=5.0, help="seconds between batches")
    lat.add_argument("--zone-a-nodes", type=int, default=16)
    lat.add_argument("--timeout", type=float, default=300.0)
    lat.add_argument("--seed", type=int, default=1)
    lat.add_argument(
        "--slow",
        type=float,
        default=0.0,
        help="also make this share of connections slow links (every chunk held 50-500 ms)",
    )
    kill = sub.add_parser("kills", help="kill -9 rounds")
    kill.add_argument("--kills", type=int, default=1000)
    kill.add_argument("--per-round", type=int, default=20)
    kill.add_argument("--seed", type=int, default=1)
    kill.add_argument(
        "--minutes",
        type=float,
        default=math.inf,
        help="start no new round after this many minutes (the summary says how many kills ran)",
    )
    expiry = sub.add_parser("expiry-kills", help="kill -9 during flex-start replacement/drain")
    expiry.add_argument("--kills", type=int, default=20, help="kills during replacement/drain")
    expiry.add_argument("--per-round", type=int, default=8)
    expiry.add_argument("--replicas", type=int, default=3)
    expiry.add_argument("--seed", type=int, default=1)
    expiry.add_argument("--minutes", type=float, default=math.inf)
    args = parser.parse_args()
    args.fault_overrides = {"slow": args.slow} if getattr(args, "slow", 0) else {}
    work = Path(tempfile.mkdtemp(prefix="ccc-bench-chaos-"))
    configure_logging("console", "warning")  # the benchmark's own pod watch stays quiet
    print(f"# logs in {work}", file=sys.stderr)
    modes = {"latency": latency, "kills": kills, "expiry-kills": expiry_kills}
    asyncio.run(modes[args.mode](args, work))


if __name__ == "__main__":
    main()
