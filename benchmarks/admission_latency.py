"""What ccc's admission webhook adds to a pod create, seen from the client and from ccc.

On one local cluster (the e2e tests' setup: the chart's webhook objects with a loopback URL,
a real ``ccc run --webhook``), pods are created as server-side dry runs (admission runs in
full, nothing is stored, so the figures are not about etcd):

1. **baseline**: no webhook configuration installed; a pod that selects a class.
2. **class pod**: the webhook installed; the same pod (ccc adds the toleration).
3. **other pod**: the webhook installed; a pod that selects no class, in a namespace without a
   default label (the chart's filters keep it away from ccc: ccc's review counter must not move).
4. **burst**: class pods ``--concurrency`` at a time, with and without the webhook: pods/s.

ccc's own time per review is ``ccc_admission_review_seconds`` (sum / count) from its metrics.

    .venv/bin/python -m benchmarks.admission_latency [--requests 300] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._cluster import (
    CccRun,
    api_for,
    create_class,
    create_namespace,
    gpu_class,
    local_cluster,
)
from ccc.api import labels as L
from ccc.controller.kube import request_json
from tests.e2e.admission_harness import install_webhook, pod_manifest, wait_published
from tests.support.controlplane import ControlPlane, free_port

CLASS = "adm-bench"
NAMESPACE = "adm-bench"


async def _timed_creates(api: Any, pods: list[dict[str, Any]], concurrency: int) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    path = f"/api/v1/namespaces/{NAMESPACE}/pods"

    async def one(pod: dict[str, Any]) -> float:
        async with gate:
            began = time.perf_counter()
            await request_json(api, "POST", path, query={"dryRun": "All"}, body=pod)
            return time.perf_counter() - began

    return list(await asyncio.gather(*(one(p) for p in pods)))


def _pods(n: int, *, with_class: bool) -> list[dict[str, Any]]:
    selector = {L.CLASS_LABEL: CLASS} if with_class else None
    return [pod_manifest(f"p{i}", selector=selector) for i in range(n)]


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered) * 1000:.2f} ms | {p99 * 1000:.2f} ms"


async def _measure(plane: ControlPlane, work: Path, requests: int, concurrency: int) -> None:
    async with api_for(plane) as api:
        await create_class(api, gpu_class(CLASS, ["us-central1-a"]))
        await create_namespace(api, NAMESPACE)
        await _timed_creates(api, _pods(50, with_class=True), 1)  # warm the API server
        baseline = await _timed_creates(api, _pods(requests, with_class=True), 1)
        began = time.perf_counter()
        await _timed_creates(api, _pods(requests * 4, with_class=True), concurrency)
        burst_off = requests * 4 / (time.perf_counter() - began)

        install = install_webhook(plane, release="bench", namespace="bench-ccc", port=free_port())
        with CccRun(plane, work, kwok_namespace="bench-cloud", extra=install.args()) as ccc:
            await ccc.wait_ready()
            await wait_published(api, install)
            await _timed_creates(api, _pods(50, with_class=True), 1)
            reviews_before = await ccc.metric("ccc_admission_reviews_total")
            seconds_before = await ccc.metric("ccc_admission_review_seconds_sum")
            with_webhook = await _timed_creates(api, _pods(requests, with_class=True), 1)
            reviews = await ccc.metric("ccc_admission_reviews_total") - reviews_before
            in_ccc = await ccc.metric("ccc_admission_review_seconds_sum") - seconds_before
            others = await _timed_creates(api, _pods(requests, with_class=False), 1)
            leaked = await ccc.metric("ccc_admission_reviews_total") - reviews_before - reviews
            began = time.perf_counter()
            await _timed_creates(api, _pods(requests * 4, with_class=True), concurrency)
            burst_on = requests * 4 / (time.perf_counter() - began)
            rss = ccc.memory_kib()["VmRSS"] / 1024

    print(f"pod creates (server-side dry run), n={requests} each, sequential")
    print("| case | median | p99 |")
    print("|---|---:|---:|")
    print(f"| no webhook, class pod | {_ms(baseline)} |")
    print(f"| webhook, class pod (toleration added) | {_ms(with_webhook)} |")
    print(f"| webhook, pod without class (filtered out) | {_ms(others)} |")
    print(
        f"ccc reviews: {reviews:.0f} for {requests} class pods, {leaked:.0f} for {requests} others"
    )
    print(f"ccc time per review (mean): {in_ccc / max(reviews, 1) * 1000:.3f} ms")
    print(
        f"burst of {requests * 4} class pods, {concurrency} in flight: "
        f"{burst_off:.0f} pods/s without, {burst_on:.0f} pods/s with the webhook"
    )
    print(f"ccc run RSS with the webhook: {rss:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ccc-bench-admission-"))
    with local_cluster(work / "cluster") as plane:
        asyncio.run(_measure(plane, work, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
