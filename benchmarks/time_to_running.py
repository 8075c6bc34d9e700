"""Time from N pending GPU pods to all Running, with ``ccc run`` provisioning the nodes, divided
by the time the real scheduler alone needs when the same nodes already exist (issue 4, item 9a;
target: ratio <= 1.5 at N = 1,000).

For each N, two fresh local clusters (etcd, kube-apiserver, controller-manager, scheduler, kwok):

1. **ccc**: a ComputeClass with one rule (``a3-highgpu-8g`` spot in one zone), ``ccc run`` with
   the kwok provider (no capacity limits, provisioning delay 0) synced and idle; then N pods
   asking for 1 GPU each (8 fit a node) are created, 32 requests in flight, and the clock runs
   until no pod is outside Running. The node pools the controller made are recorded.
2. **baseline**: the same pools (same spec and final size, so the same Node labels, taints and
   capacity) are created with the kwok provider directly and waited for Ready; then the same N
   pods are created by the same code and timed the same way.

    .venv/bin/python -m benchmarks.time_to_running [--sizes 100,1000] [--scheduler-qps Q] \
        [-- <ccc run flags>]

kube-scheduler's own client rate limit (50 requests/s, burst 100) bounds both runs: each binding
is a request, and so is each failed attempt's ``PodScheduled=False`` status write, which only
the ccc run has (pods are tried once before their nodes exist). ``--scheduler-qps`` lifts it to
show what is left.

Prints both times, the ratio, and when the controller issued its requests (from its JSON log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks._cluster import (
    CccRun,
    api_for,
    create_class,
    create_namespace,
    create_pods,
    gpu_class,
    gpu_pod,
    local_cluster,
    wait_all_running,
    wait_nodes_ready,
)
from ccc.api.values import NodePoolSpec
from ccc.controller.kube import request_json
from providers.kwok import CLOUD_LABEL, POOL_MARKER_LABEL, KwokProvider

ZONE = "us-central1-a"
CLASS = "bench"
NAMESPACE = "bench"
CLOUD = "bench-cloud"


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    created_s: float  # when the last pod create returned, from the start
    pools: list[tuple[NodePoolSpec, int]]
    requests: list[tuple[float, str]]  # (seconds from start, what) of provisioning.requested
    failed_attempts: int  # the scheduler's FailedScheduling count (each one a status write)
    passes: str = ""


def pods(n: int) -> list[dict[str, Any]]:
    return [gpu_pod(f"p-{i:05d}", CLASS, gpus=1) for i in range(n)]


async def _pools(api: Any) -> list[tuple[NodePoolSpec, int]]:
    got = await request_json(
        api,
        "GET",
        f"/api/v1/namespaces/{CLOUD}/configmaps",
        query={"labelSelector": f"{POOL_MARKER_LABEL}=true"},
    )
    return [
        (NodePoolSpec.model_validate_json(cm["data"]["spec"]), int(cm["data"]["nodeCount"]))
        for cm in got["items"]
    ]


async def _failed_attempts(api: Any) -> int:
    got = await request_json(
        api,
        "GET",
        f"/api/v1/namespaces/{NAMESPACE}/events",
        query={"fieldSelector": "reason=FailedScheduling"},
    )
    return sum(
        max(e.get("count") or 1, (e.get("series") or {}).get("count") or 0) for e in got["items"]
    )


def _requests(log: Path, wall0: float) -> list[tuple[float, str]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "provisioning.requested":
            at = datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).timestamp()
            out.append((at - wall0, f"{rec['node_pool']} -> {rec['nodes']} nodes"))
    return out


async def with_ccc(n: int, extra: list[str], work: Path, qps: int | None) -> Run:
    with local_cluster(work / f"ccc-{n}", scheduler_qps=qps) as plane:
        async with api_for(plane) as api:
            await create_class(api, gpu_class(CLASS, [ZONE]))
            await create_namespace(api, NAMESPACE)
            with CccRun(plane, work, kwok_namespace=CLOUD, extra=extra) as ccc:
                await ccc.wait_ready()
                await ccc.wait_reconciles(1, timeout_s=30)  # the startup pass is behind us
                bodies = pods(n)
                wall0, t0 = time.time(), time.monotonic()
                await create_pods(api, NAMESPACE, bodies)
                created = time.monotonic() - t0
                done = await wait_all_running(api, NAMESPACE)
                requests = _requests(ccc.log_path, wall0)
                count = await ccc.metric("ccc_reconcile_duration_seconds_count")
                total = await ccc.metric("ccc_reconcile_duration_seconds_sum")
            passes = f"{count:.0f} reconcile passes, {total:.2f} s in total"
            failed = await _failed_attempts(api)
            return Run(done - t0, created, await _pools(api), requests, failed, passes)


async def scheduler_alone(
    n: int, pools: list[tuple[NodePoolSpec, int]], work: Path, qps: int | None
) -> Run:
    with local_cluster(work / f"baseline-{n}", scheduler_qps=qps) as plane:
        async with api_for(plane) as api:
            cloud = KwokProvider(api, namespace=CLOUD)
            for spec, count in pools:
                await cloud.create_node_pool(spec.model_copy(update={"node_count": count}))
            await wait_nodes_ready(api, f"{CLOUD_LABEL}={CLOUD}", sum(c for _, c in pools))
            await create_namespace(api, NAMESPACE)
            t0 = time.monotonic()
            await create_pods(api, NAMESPACE, pods(n))
            created = time.monotonic() - t0
            done = await wait_all_running(api, NAMESPACE)
            return Run(done - t0, created, pools, [], await _failed_attempts(api))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument(
        "--scheduler-qps",
        type=int,
        default=None,
        help="kube-scheduler client rate limit (default: its own, 50/s with a burst of 100)",
    )
    parser.add_argument("ccc_flags", nargs="*", help="extra `ccc run` flags (after --)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ccc-bench-ttr-"))
    qps = args.scheduler_qps
    print(
        f"# logs under {work}; ccc run flags: {args.ccc_flags or 'defaults'}; "
        f"scheduler QPS: {qps or 'default (50, burst 100)'}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        ccc = await with_ccc(n, args.ccc_flags, work, qps)
        base = await scheduler_alone(n, ccc.pools, work, qps)
        nodes = sum(c for _, c in ccc.pools)
        print(
            f"N={n}: ccc {ccc.seconds:.2f} s (pods created in {ccc.created_s:.2f} s), "
            f"scheduler alone {base.seconds:.2f} s (pods created in {base.created_s:.2f} s), "
            f"ratio {ccc.seconds / base.seconds:.2f}; {len(ccc.pools)} pool(s), {nodes} nodes"
        )
        print(
            f"    ccc: {ccc.passes}; scheduler failed attempts: {ccc.failed_attempts} with ccc, "
            f"{base.failed_attempts} alone"
        )
        for at, what in ccc.requests:
            print(f"    +{at:6.2f} s  provisioning.requested {what}")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
