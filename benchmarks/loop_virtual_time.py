"""The controller's own loop over virtual time: how long a long run takes in real time.

Groundwork for ``ccc simulate`` (its target: 14 days x 13 zones at a 10-minute trace
resolution in <= 10 s). Runs the production loop (observe -> decide -> execute -> record) over
the in-memory cluster, the simulated cloud and a virtual clock: a class of ``a3-highgpu-1g``
Spot in 13 zones, 16 one-GPU pods, nodes that boot in 240 s, and a synthetic availability
script that changes every zone's spot capacity every 10 minutes (a seeded random walk between 0
and 24 nodes in steps of 4; capacity below what runs preempts, as ``--preemption strict``
will). Logging is at warning level, as ``ccc simulate`` would run it. Prints wall
time, passes, provider calls and how many of the pods ran at the end.

    .venv/bin/python -m benchmarks.loop_virtual_time [--days 14] [--zones 13] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from ccc.api.values import CapacityType, OfferingKey
from ccc.controller.config import ControllerConfig
from ccc.controller.logs import configure_logging
from tests.support.memloop import Loop, gpu_class, gpu_pod

MACHINE = "a3-highgpu-1g"
STEP_S = 600


async def run(days: int, zones: int, seed: int) -> None:
    config = ControllerConfig(batch_idle_s=1.0, batch_max_s=10.0, resync_s=24 * 3600.0)
    loop = Loop.create(config=config, boot_delay_s=240)
    machine = loop.cluster.catalog.machine_type(MACHINE)
    assert machine is not None
    chosen = list(machine.zones[:zones])
    loop.cluster.add_class(gpu_class("spot", zones=chosen, machine_type=MACHINE))
    rng = random.Random(seed)
    level = {z: rng.choice((0, 8, 16, 24)) for z in chosen}
    for step in range(days * 86400 // STEP_S):
        for z in chosen:
            level[z] = max(0, min(24, level[z] + rng.choice((-4, 0, 0, 0, 4))))
            key = OfferingKey(machine_type=MACHINE, zone=z, capacity_type=CapacityType.SPOT)
            loop.cloud.set_capacity(key, level[z], at=float(step * STEP_S))
    await loop.start()
    for i in range(16):
        loop.cluster.add_pod(gpu_pod(f"vllm-{i}", "spot", gpus=1))
    started = time.perf_counter()
    await loop.advance(days * 86400)
    wall = time.perf_counter() - started
    await loop.stop()
    calls = sum(1 for c in loop.cloud.calls if c.method != "list_node_pools")
    print(
        f"{days} days x {len(chosen)} zones: {wall:.2f} s wall, {len(loop.reports)} passes, "
        f"{calls} provider calls (besides listings), {len(loop.running())}/16 pods running at "
        f"the end, {len(loop.cloud.preemptions_since(0.0))} preemptions"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--zones", type=int, default=13)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    configure_logging("console", "warning")
    asyncio.run(run(args.days, args.zones, args.seed))


if __name__ == "__main__":
    main()
