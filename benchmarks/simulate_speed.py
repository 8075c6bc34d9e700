"""How long ``ccc simulate`` takes in real time for long windows (its targets: 14 days x 13 zones
at the built-in trace's 10-minute resolution with 16 pods in <= 10 s; 1,000 pods over 14 days in
<= 60 s).

Runs exactly what ``ccc simulate`` runs (:func:`ccc.simulate.run.simulate`: the controller's
loop over the in-memory cluster, the simulated cloud and the virtual clock) on the built-in
``skynomad-h100`` trace: a class of ``a3-highgpu-1g`` Spot in the trace's 13 zones with an
on-demand fallback, one-GPU pods, 240 s boot, strict preemption. Prints wall time, passes and
the run's summary.

    .venv/bin/python -m benchmarks.simulate_speed [--pods 16] [--days 14] [--zones 13]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks.decision_quality import POD, prices_for
from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.controller.logs import configure_logging
from ccc.simulate.run import Simulation, SimulationSpec, WorkloadDemand
from providers.simulated.trace_sources import resolve_trace

MACHINE = "a3-highgpu-1g"


REGION = "us-central1"
"""The cluster's region: the trace's region with the most zones (3 of its 13)."""


def spot_class(zones: list[str]) -> dict[str, Any]:
    """Spot in every traced zone (the walk uses those of the cluster's region), then on-demand
    in the region's traced zones."""
    in_region = [z for z in zones if z.startswith(f"{REGION}-")] or zones[:1]
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": "h100"},
        "spec": {
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {"machineType": MACHINE, "spot": True, "location": {"zones": zones}},
                {"machineType": MACHINE, "location": {"zones": in_region}},
            ],
            "whenUnsatisfiable": "DoNotScaleUp",
        },
    }


def run(pods: int, days: int, zones: int) -> None:
    import asyncio

    catalog = load_builtin_catalog()
    trace = resolve_trace("skynomad-h100")
    chosen = sorted({o.zone for o in trace.offerings})[:zones]
    assert trace.start_time is not None
    spec = SimulationSpec(
        prices=prices_for(catalog, chosen)[0],
        classes=[spot_class(chosen)],
        demand=[WorkloadDemand(name="vllm", pod=POD, replicas=pods)],
        start=trace.start_time,
        duration_s=days * 86400,
        region=REGION,
        catalog=catalog,
        traces=trace,
    )
    runner = Simulation(spec, None)
    started = time.perf_counter()
    result = asyncio.run(runner.run())
    wall = time.perf_counter() - started
    s = result.summary
    print(
        f"{pods} pods x {days} d x {len(chosen)} zones: {wall:.2f} s wall, "
        f"{runner.passes} passes, {len(result.timeline)} timeline points, "
        f"{len(result.decisions)} decisions, {s.preemptions} preemptions, "
        f"served {s.served_fraction:.4f}, cost ${s.cost:,.0f} (on-demand ${s.on_demand_cost:,.0f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--pods", type=int, default=16)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--zones", type=int, default=13)
    args = ap.parse_args()
    configure_logging("console", "error")
    run(args.pods, args.days, args.zones)


if __name__ == "__main__":
    main()
