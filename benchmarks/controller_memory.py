"""Resident memory of ``ccc run`` with 5,000 pods and 500 nodes in its caches (issue 4, item 9b;
target <= 200 MiB).

On one local cluster:

1. **idle**: ``ccc run`` (kwok provider, no leader election) against the empty cluster, read
   once ``/readyz`` is 200 and a reconcile pass has run; then stopped.
2. **loaded**: 500 KWOK Nodes (32 vCPU, 256 GiB) and 4,950 bare non-GPU pods bound to them
   (``spec.nodeName``, 10 per node over 10 namespaces, kwok runs them), plus 50 pending pods
   asking for 1 GPU each that select a ComputeClass, so the controller has real work (it
   provisions 7 ``a3-highgpu-8g`` nodes). A fresh ``ccc run`` is started; once ``/readyz`` is
   200, the 50 GPU pods are Running and a later reconcile pass has run, ``VmRSS`` and ``VmHWM``
   (peak) are read from ``/proc/<pid>/status``.

    .venv/bin/python -m benchmarks.controller_memory [--nodes 500] [--pods 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._cluster import (
    CccRun,
    api_for,
    create_all,
    create_class,
    create_namespace,
    create_pods,
    gpu_class,
    gpu_pod,
    local_cluster,
    wait_all_running,
)
from tests.support.controlplane import ControlPlane
from tests.support.kube import fake_node

CLASS = "mem"
CLOUD = "mem-cloud"
GPU_PODS = 50
NAMESPACES = 10


def app_pod(i: int, node: str) -> dict[str, Any]:
    """A small web-service-like pod bound to ``node``."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"app-{i:05d}",
            "labels": {"app": f"svc-{i % 50}", "tier": "web", "pod-template-hash": "7d9f8c"},
            "annotations": {"bench.ccc.dev/index": str(i)},
        },
        "spec": {
            "nodeName": node,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "app",
                    "image": "registry.invalid/app:1.2.3",
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "MODE", "value": "bench"}],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                }
            ],
        },
    }


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


async def _read(ccc: CccRun, *, ready_s: float, after_reconciles: int) -> dict[str, int]:
    await ccc.wait_reconciles(after_reconciles, timeout_s=60)
    await asyncio.sleep(1.0)
    mem = ccc.memory_kib()
    print(f"    ready after {ready_s:.1f} s; {json.dumps(_cache_sizes(ccc))}")
    return mem


def _cache_sizes(ccc: CccRun) -> dict[str, Any]:
    for line in ccc.log_path.read_text(errors="replace").splitlines():
        if '"caches.synced"' in line:
            rec = json.loads(line)
            return {k: rec[k] for k in ("pods", "nodes", "classes")}
    return {}


async def populate(api: Any, nodes: int, pods: int) -> None:
    began = time.monotonic()
    names = [f"kwok-{i:04d}" for i in range(nodes)]
    await create_all(api, "/api/v1/nodes", [fake_node(n, cpu="32", memory="256Gi") for n in names])
    bound = pods - GPU_PODS
    for ns in range(NAMESPACES):
        await create_namespace(api, f"app-{ns}")
    for ns in range(NAMESPACES):
        await create_pods(
            api,
            f"app-{ns}",
            [app_pod(i, names[i % nodes]) for i in range(ns, bound, NAMESPACES)],
        )
    print(f"# {nodes} nodes and {bound} bound pods created in {time.monotonic() - began:.0f} s")
    for ns in range(NAMESPACES):
        await wait_all_running(api, f"app-{ns}", interval_s=1.0)
    print(f"# ... all Running after {time.monotonic() - began:.0f} s")


async def measure(plane: ControlPlane, work: Path, nodes: int, pods: int) -> None:
    async with api_for(plane) as api:
        with CccRun(plane, work, kwok_namespace=CLOUD) as ccc:
            # No class and no pods: nothing wakes the loop, so the first pass is the resync.
            mem = await _read(ccc, ready_s=await ccc.wait_ready(), after_reconciles=1)
        print(f"idle ccc run (empty caches): RSS {mib(mem['VmRSS'])}, peak {mib(mem['VmHWM'])}")

        await populate(api, nodes, pods)
        await create_class(api, gpu_class(CLASS, ["us-central1-a"]))
        await create_namespace(api, "gpu")
        await create_pods(api, "gpu", [gpu_pod(f"gpu-{i:03d}", CLASS) for i in range(GPU_PODS)])
        with CccRun(plane, work, kwok_namespace=CLOUD) as ccc:
            ready_s = await ccc.wait_ready()
            await wait_all_running(api, "gpu", interval_s=0.5, timeout_s=300)
            passes = int(await ccc.metric("ccc_reconcile_duration_seconds_count"))
            mem = await _read(ccc, ready_s=ready_s, after_reconciles=passes + 1)
            seconds = await ccc.metric("ccc_reconcile_duration_seconds_sum")
            count = await ccc.metric("ccc_reconcile_duration_seconds_count")
        print(
            f"loaded ccc run ({pods} pods, {nodes} nodes + its own): "
            f"RSS {mib(mem['VmRSS'])}, peak {mib(mem['VmHWM'])}; "
            f"{count:.0f} reconcile passes, mean {seconds / max(count, 1) * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--pods", type=int, default=5000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ccc-bench-mem-"))
    print(f"# logs under {work}")
    with local_cluster(work / "cluster") as plane:
        asyncio.run(measure(plane, work, args.nodes, args.pods))


if __name__ == "__main__":
    main()
