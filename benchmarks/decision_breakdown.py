"""Where served and money go: one decision-quality window of ccc, broken down.

For each ccc setting asked for, over one window of :mod:`benchmarks.decision_quality`:

* **unserved pod-hours** (∫ max(0, demand - served) dt), split by what the nodes were doing:
  ``booting`` (nodes held >= demand, so the gap is pods on nodes not Ready yet), ``short``
  (fewer nodes held than demand: a preemption not yet answered, or nothing obtainable);
* **cost** split into Spot and on-demand node-hours, and the node-hours held beyond demand
  (a hedge, or the overlap while a replacement boots before the old node goes);
* the bound's cost and its Spot share, so the gap to the bound reads as "paid on-demand while
  the bound had Spot" plus "held beyond demand";
* decisions counted by cause.

    .venv/bin/python -m benchmarks.decision_breakdown --region us-east4 --window 0 [--only ...]
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime, timedelta

from benchmarks.decision_quality import CCC_POLICIES, PODS, make_window, run_window
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.controller.logs import configure_logging
from ccc.simulate.result import SimulationResult
from providers.simulated.trace_sources import resolve_trace


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def breakdown(result: SimulationResult) -> dict[str, float]:
    """Pod-hours unserved (booting / short), node-hours by capacity type and beyond demand."""
    out: Counter[str] = Counter()
    end = _t(result.end)
    points = result.timeline
    for i, p in enumerate(points):
        stop = _t(points[i + 1].t) if i + 1 < len(points) else end
        hours = (stop - _t(p.t)).total_seconds() / 3600
        held = sum(p.nodes.values())
        gap = max(0.0, p.demand - p.served)
        out["unserved booting" if held >= p.demand else "unserved short"] += gap * hours
        for key, n in p.nodes.items():
            ct = key.rsplit("/", 1)[-1]
            out[f"node-hours {ct}"] += n * hours
        out["node-hours beyond demand"] += max(0.0, held - p.demand) * hours
    return dict(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--region", default="us-east4")
    ap.add_argument("--window", type=int, default=0)
    ap.add_argument("--days", type=float, default=3)
    ap.add_argument("--hedge", type=int, default=2, help="extra replicas of ccc+hedge")
    ap.add_argument("--only", nargs="*", default=["ccc", "ccc+hedge"], choices=CCC_POLICIES)
    args = ap.parse_args()
    configure_logging("console", "error")
    catalog = load_builtin_catalog()
    traces = resolve_trace("skynomad-h100")
    assert traces.start_time is not None
    start = traces.start_time + timedelta(days=args.window * args.days)
    window, _ = make_window(catalog, traces, args.region, start, args.days)
    results = run_window(window, tuple(args.only), hedge=args.hedge)
    bound = results["lower-bound"]
    pod_hours = PODS * args.days * 24
    print(f"{args.region} {start:%m-%d}+{args.days:g}d: demand {pod_hours:.0f} pod-hours")
    b = breakdown(bound)
    print(
        f"  lower-bound: cost {bound.summary.cost:.0f}, spot node-hours "
        f"{b.get('node-hours spot', 0):.0f}, on-demand {b.get('node-hours on-demand', 0):.0f}"
    )
    for name in args.only:
        r = results[name]
        s = r.summary
        parts = breakdown(r)
        print(
            f"  {name}: served {s.served_fraction:.4f} cost/LB {s.cost / bound.summary.cost:.3f}"
            f" preemptions {s.preemptions} stockouts {s.stockouts} migrations {s.migrations}"
        )
        for key in sorted(parts):
            print(f"    {key:<26} {parts[key]:8.1f}")
        causes = Counter(f"{d.command.split()[0]}:{d.cause}" for d in r.decisions)
        print("    decisions " + ", ".join(f"{k}={v}" for k, v in causes.most_common(12)))


if __name__ == "__main__":
    main()
