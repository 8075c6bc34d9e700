"""Spot preemption of TPU replicas -> GPU replicas requested -> Ready capacity restored, for a
ServingGroup on the local cluster (targets: <= 1 s, and <= provider latency + 5 s).

Each repetition builds the world of ``tests/e2e/test_servinggroup_controller.py`` afresh (a
namespace, a TPU v6e and an H100 class, two Deployments, a group of 32 requests/s, ``ccc run`` as
a real process with the kwok provider), waits until the TPU variant carries the group, sets the
kwok provisioning latency, preempts two TPU nodes (termination taint, then deletion) and
measures from the moment before the first taint:

* to the controller's ``serving.scale`` log line for the GPU Deployment (its JSON timestamp);
* to the GPU Deployment's ``spec.replicas`` changing, as seen by a 50 ms poll;
* to Ready capacity (Ready pods on live nodes x capacity per replica) being >= 32 again.

    .venv/bin/python -m benchmarks.serving_shift [--repeat 5] [--latency 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchmarks._cluster import local_cluster
from tests.e2e.test_servinggroup_controller import TARGET, World, world
from tests.support.controlplane import ControlPlane


def _log_time(w: World, since: float) -> float | None:
    """Wall-clock time of the first ``serving.scale`` of the GPU Deployment after ``since``."""
    assert w.controller is not None
    for line in w.controller.log_path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "serving.scale" and rec.get("workload") == "h100":
            at = datetime.fromisoformat(str(rec["timestamp"])).timestamp()
            if at >= since:
                return at
    return None


async def once(plane: ControlPlane, work: Path, latency_s: float) -> tuple[float, float, float]:
    async with world(plane, work, tpu_capacity=None) as w:
        w.start()
        deadline = time.monotonic() + 120
        while (await w.ready())["v6e"] != 4:
            if time.monotonic() > deadline:
                raise RuntimeError(f"TPU variant never Ready:\n{w.log()}")
            await asyncio.sleep(0.1)
        await w.cloud.set_provisioning_delay(latency_s)
        nodes = (await w.tpu_nodes())[:2]
        wall, mono = time.time(), time.monotonic()
        await asyncio.gather(*(w.cloud.preempt(n) for n in nodes))
        while True:
            polled = next((t for t, d, r in w.replicas if d == "h100" and r > 0), None)
            back = next((t for t, c in w.capacity if t > mono and c >= TARGET), None)
            if polled is not None and back is not None:
                break
            if time.monotonic() > mono + 60:
                raise RuntimeError(f"no shift within 60 s:\n{w.log()}")
            await asyncio.sleep(0.05)
        logged = _log_time(w, wall)
        return (logged - wall if logged else float("nan"), polled - mono, back - mono)


async def measure(repeat: int, latency_s: float, work: Path) -> None:
    with local_cluster(work / "cluster") as plane:
        rows = []
        for i in range(repeat):
            run = work / f"run-{i}"
            run.mkdir()
            logged, polled, back = await once(plane, run, latency_s)
            rows.append((logged, polled, back))
            print(
                f"run {i}: scale logged {logged * 1000:6.0f} ms, seen {polled * 1000:6.0f} ms,"
                f" capacity back {back:5.2f} s",
                flush=True,
            )
        figures = (
            ("signal -> serving.scale logged", [r[0] * 1000 for r in rows], "ms"),
            ("signal -> h100 spec.replicas seen (50 ms poll)", [r[1] * 1000 for r in rows], "ms"),
            (
                f"signal -> Ready capacity >= {TARGET} (provider latency {latency_s:g} s)",
                [r[2] for r in rows],
                "s",
            ),
        )
        for name, xs, unit in figures:
            xs = sorted(xs)
            print(
                f"{name}: n={len(xs)} median {statistics.median(xs):.2f} {unit},"
                f" max {xs[-1]:.2f} {unit}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency", type=float, default=2.0, help="kwok provisioning delay (s)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ccc-bench-serving-"))
    asyncio.run(measure(args.repeat, args.latency, work))


if __name__ == "__main__":
    main()
