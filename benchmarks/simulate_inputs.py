"""What ``ccc simulate``'s inputs and outputs cost, apart from the controller loop.

Each figure is the median wall and CPU time of ``--repeat`` runs (after a warm-up, except the
first parse of the built-in trace, which is measured cold, imports included, in a fresh
interpreter):

* trace: parse the built-in ``skynomad-h100`` (13 zones x 14 days); replay it on the simulated
  cloud under a virtual clock (every capacity change applied, nothing else running), strict
  preemption, with 16 spot nodes held;
* scenario: parse a 1,000-event scenario file;
* bound: the clairvoyant lower bound over the whole trace for 16 and 1,000 one-GPU pods
  (13 spot zones + on-demand; one node size, so greedy) and for a capacity of 1,000 on mixed
  node sizes (1- and 8-GPU machines: the exact knapsack);
* result: record a 14-day run (a state every 10 minutes, 2,000 decisions) and finish it; its
  JSON size; render the HTML report (matplotlib, three plots).

    .venv/bin/python benchmarks/simulate_inputs.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from ccc.api.values import CapacityType, NodePoolName, NodePoolSpec, OfferingKey
from ccc.simulate.bound import BoundOffering, availability_for, clairvoyant_bound
from ccc.simulate.recorder import PriceBook, Recorder, Tally
from ccc.simulate.report import render_report
from ccc.simulate.scenario import parse_scenario
from providers.clock import VirtualClock
from providers.simulated import SimulatedCloud
from providers.simulated.trace_sources import load_builtin_trace

REPO = Path(__file__).resolve().parents[1]
TRACES = load_builtin_trace("skynomad-h100")
START, END = TRACES.start_time, TRACES.end_time
assert START is not None and END is not None
OD = OfferingKey(
    machine_type="a3-highgpu-1g", zone="us-central1-a", capacity_type=CapacityType.ON_DEMAND
)
OD8 = OfferingKey(
    machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.ON_DEMAND
)


def timed(fn: Callable[[], object], repeat: int) -> str:
    """Median wall and CPU seconds of ``repeat`` runs after a warm-up (CPU time, this
    process only, is what the work costs when other jobs share the machine)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return f"{statistics.median(wall):.3f} s wall, {statistics.median(cpu):.3f} s CPU"


def cold_trace_parse() -> str:
    code = (
        "import time; w, c = time.perf_counter(), time.process_time()\n"
        "from providers.simulated.trace_sources import load_builtin_trace\n"
        "load_builtin_trace('skynomad-h100')\n"
        "print(f'{time.perf_counter() - w:.3f} s wall, {time.process_time() - c:.3f} s CPU')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def replay() -> tuple[int, int]:
    async def run() -> tuple[int, int]:
        clock = VirtualClock(start=START)
        cloud = SimulatedCloud(clock=clock)
        changes = TRACES.apply(cloud, start=START, end=END)
        for i, zone in enumerate(("us-central1-a", "us-central1-b", "us-central1-c", "us-east4-a")):
            spec = NodePoolSpec(
                name=NodePoolName(f"p{i}"),
                class_name="c",
                rule_index=0,
                machine_type="a3-highgpu-1g",
                zone=zone,
                capacity_type=CapacityType.SPOT,
                node_count=4,
            )
            await cloud.create_node_pool(spec)
        await clock.run(cloud.run_events(until=END, idle_poll_s=86400))
        return changes, len(cloud.preemptions_since(START))

    return asyncio.run(run())


def scenario_text(n: int) -> str:
    lines = ["events:"]
    for i in range(n):
        lines.append(
            f"- {{at: {i}m, capacity: {{machineType: a3-highgpu-1g, zone: us-central1-a, "
            f"available: {i % 17}}}}}"
        )
    return "\n".join(lines) + "\n"


def bound(pods: int, *, mixed: bool = False) -> float:
    offerings = [
        BoundOffering(o, 2.25, 1, availability_for(o, start=START, end=END, traces=TRACES))
        for o in TRACES.offerings
    ]
    offerings.append(BoundOffering(OD, 11.06, 1))
    if mixed:
        offerings.append(BoundOffering(OD8, 82.53, 8))
    return clairvoyant_bound(
        start=START, end=END, demand=[(START, pods)], offerings=offerings
    ).summary.cost


def recorded_run() -> Recorder:
    spot = TRACES.offerings
    rec = Recorder(start=START, region="us-central1", prices=PriceBook(lambda m, z, c: 2.25))
    t = START
    i = 0
    while t < END:
        nodes = {spot[i % 13]: 8, spot[(i + 1) % 13]: 8 - i % 3}
        rec.state(t, demand=16, served=16 - i % 3, nodes=nodes)
        if i < 2000:
            rec.decision(t, f"provision {spot[i % 13]} x{i % 3}", "preempted")
            rec.count(Tally.PROVISIONING_REQUESTS)
        t += timedelta(minutes=10)
        i += 1
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    r = args.repeat
    changes, preempted = replay()
    text = scenario_text(1000)
    result = recorded_run().finish(END)
    figures = [
        ("trace: parse built-in skynomad-h100 (cold process)", cold_trace_parse()),
        (
            f"trace: replay {changes} capacity changes, {preempted} preemptions",
            timed(replay, r),
        ),
        (
            "scenario: parse 1,000 events",
            timed(lambda: parse_scenario(text, origin="b"), r),
        ),
        ("bound: 16 pods, 14 days", timed(lambda: bound(16), r)),
        ("bound: 1,000 pods, 14 days", timed(lambda: bound(1000), r)),
        (
            "bound: capacity 1,000 on 1- and 8-GPU nodes",
            timed(lambda: bound(1000, mixed=True), r),
        ),
        (
            f"result: record + finish {len(result.timeline)} states",
            timed(lambda: recorded_run().finish(END), r),
        ),
        ("result: JSON size", f"{len(result.to_json(indent=None)) / 1e6:.2f} MB"),
        ("report: render HTML with 3 plots", timed(lambda: render_report(result), r)),
        ("report: page size", f"{len(render_report(result)) / 1e3:.0f} kB"),
    ]
    width = max(len(name) for name, _ in figures)
    for name, value in figures:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
