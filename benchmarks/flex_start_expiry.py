"""DWS flex-start over 14 days: does the demand ever sit below target when nodes expire?

A flex-start class (``a3-highgpu-1g``, ``flexStart.nodeRecycling.leadTimeSeconds``) serving 16
one-GPU pods for 14 days, run by ``ccc simulate``'s loop (the controller's own lifecycle pass,
the in-memory cluster, the simulated cloud, whose flex-start VMs end at their 7-day maximum run
duration). The lifecycle replaces each node ``leadTimeSeconds`` before its deadline, drains it
only once the replacement is Ready, and deletes it before the deadline, so no node expires
under load. Prints the seconds below target after the first boot, the expiries (nodes that
reached their deadline), the replacements, and the time from each replacement to its node's
deadline.

    .venv/bin/python -m benchmarks.flex_start_expiry [--days 14] [--pods 16] [--lead 3600]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from benchmarks.decision_quality import one_gpu_pod
from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.controller.logs import configure_logging
from ccc.simulate.result import SimulationResult, parse_iso
from ccc.simulate.run import SimulationSpec, WorkloadDemand, simulate
from providers.clock import VIRTUAL_EPOCH

MACHINE = "a3-highgpu-1g"
ZONE = "us-central1-a"
BOOT_S = 240.0


def flex_class(lead_s: int) -> dict[str, Any]:
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": "h100-flex"},
        "spec": {
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {
                    "machineType": MACHINE,
                    "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": lead_s}},
                    "location": {"zones": [ZONE]},
                }
            ],
        },
    }


POD = one_gpu_pod("h100-flex")


def run(
    *, days: float = 14, pods: int = 16, lead_s: int = 3600, seed: int | None = None
) -> SimulationResult:
    """The run the module docstring describes (``seed``: jittered boot times)."""
    return simulate(
        SimulationSpec(
            classes=[flex_class(lead_s)],
            demand=[WorkloadDemand(name="vllm", pod=POD, replicas=pods)],
            start=VIRTUAL_EPOCH,
            duration_s=days * 86400,
            region="us-central1",
            catalog=load_builtin_catalog(),
            boot_time_s=BOOT_S,
            seed=seed,
        )
    )


def below_target_after_first_boot(result: SimulationResult) -> float:
    """Seconds with served < demand after served first reached demand."""
    end = parse_iso(result.end)
    points = result.timeline
    first = next(i for i, p in enumerate(points) if p.served >= p.demand > 0)
    total = 0.0
    for i in range(first, len(points)):
        stop = parse_iso(points[i + 1].t) if i + 1 < len(points) else end
        if points[i].served < points[i].demand:
            total += (stop - parse_iso(points[i].t)).total_seconds()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--days", type=float, default=14)
    ap.add_argument("--pods", type=int, default=16)
    ap.add_argument("--lead", type=int, default=3600, help="leadTimeSeconds")
    ap.add_argument("--seed", type=int, default=None, help="jitter boot times (docs/simulate.md)")
    args = ap.parse_args()
    configure_logging("console", "error")
    started = time.perf_counter()
    result = run(days=args.days, pods=args.pods, lead_s=args.lead, seed=args.seed)
    took = time.perf_counter() - started
    s = result.summary
    replaces = [d for d in result.decisions if d.command.startswith("replace")]
    print(
        f"{args.pods} pods, flex-start {MACHINE} in {ZONE}, {args.days:g} days, lead {args.lead} s"
    )
    print(f"  wall time                         {took:.2f} s")
    print(f"  served fraction                   {s.served_fraction:.6f}")
    print(f"  seconds below target (all)        {s.seconds_below_target:.0f}")
    print(f"  seconds below target after boot   {below_target_after_first_boot(result):.0f}")
    print(f"  expiries (nodes at deadline)      {s.expiries}")
    print(f"  replace decisions                 {len(replaces)}")
    for t, n in sorted(Counter(d.t for d in replaces).items()):
        print(f"    {t}  {n} node(s) replaced")
    print(f"  cost                              ${s.cost:,.0f}")


if __name__ == "__main__":
    main()
