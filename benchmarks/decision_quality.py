"""Decision quality: ccc (through its own controller loop, as ``ccc simulate`` runs it) against
the clairvoyant lower bound and SpotHedge-, Karpenter- and GKE-like baselines, on windows of the
built-in SkyNomad trace (a3-highgpu-1g Spot, real availability measured every 10 minutes).

Windows: 3 days each (the trace's first 12 days: 4 windows) in us-central1, us-east4 and us-west1
(the trace's zones there). Demand: 16 one-GPU vLLM pods, and a ServingGroup of the same size
(capacity 16, one unit per one-GPU replica). Boot time 240 s, strict preemption. Policies:

* ``lower-bound``: :func:`ccc.simulate.bound.clairvoyant_bound` (no boot delay, no loss);
* ``spothedge-like``, ``karpenter-like``, ``gke-like``: :mod:`ccc.simulate.baselines`;
* ``ccc``: the class "Spot in the region's traced zones, then on-demand", with
  ``activeMigration.optimizeRulePriority`` (move back to spot), ccc's default settings;
* ``ccc+hedge``: the same with 2 extra replicas (served is still counted against 16) and
  ``locationPolicy: BALANCED`` on the Spot rule (a batch's nodes spread over the zones), as
  SpotHedge's N+k spread;
* ``ccc-spot-only``: ccc's cheapest setting, no on-demand rule;
* ``ccc-servinggroup``: a ServingGroup of capacity 16 with two variants, a Deployment on the
  class "Spot in the region's traced zones" (preferred) and one on the class "on-demand in those
  zones", capacity 1 per replica, the group's default timings (obtain timeout 600 s,
  stabilization 300 s), run by the ServingGroup controller inside ccc's loop;
* ``ccc-sg+hedge``: the same with a hedge: ``spareCapacity: 2`` (2 replicas kept Ready on top;
  served is still counted against 16) and ``locationPolicy: BALANCED`` on the Spot class (a
  batch's nodes spread over the zones), as SpotHedge's N+k spread.

Prices are the catalog's; where the catalog has none for a zone, us-central1's price stands in
(printed). Prints one row per (window, policy): served fraction, cost / lower bound,
cost / on-demand; then averages per policy and the targets.

    .venv/bin/python -m benchmarks.decision_quality [--days 3] [--windows 4] [--regions ...]
        [--hedge 2] [--only POLICY ...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog
from ccc.api.values import CapacityType, OfferingKey, region_of
from ccc.api.workload import PodRequest, Toleration
from ccc.controller.logs import configure_logging
from ccc.simulate.baselines.fleet import run_fleet, spot_and_on_demand
from ccc.simulate.baselines.gke import GkeLike
from ccc.simulate.baselines.karpenter import KarpenterLike
from ccc.simulate.baselines.spothedge import SpotHedgeLike
from ccc.simulate.bound import BoundOffering, clairvoyant_bound
from ccc.simulate.metrics import OnDemandReference
from ccc.simulate.recorder import PriceBook
from ccc.simulate.result import SimulationResult
from ccc.simulate.run import DemandModel, Simulation, SimulationSpec, WorkloadDemand
from ccc.simulate.serving import ServingGroupDemand
from providers.simulated.trace_sources import resolve_trace
from providers.simulated.traces import TraceSet

MACHINE = "a3-highgpu-1g"
PODS = 16
BOOT_S = 240.0
HEDGE = 2
REGIONS = ("us-central1", "us-east4", "us-west1")


def prices_for(catalog: Catalog, zones: list[str]) -> tuple[dict[OfferingKey, float], list[str]]:
    out: dict[OfferingKey, float] = {}
    stand_in: list[str] = []
    for ct in (CapacityType.SPOT, CapacityType.ON_DEMAND):
        ref = catalog.price(MACHINE, "us-central1-a", ct)
        assert ref is not None
        for z in zones:
            key = OfferingKey(machine_type=MACHINE, zone=z, capacity_type=ct)
            price = catalog.price(MACHINE, z, ct)
            if price is None:
                stand_in.append(f"{z}/{ct.value}")
            out[key] = ref if price is None else price
    return out, stand_in


def ccc_class(zones: list[str], *, on_demand: bool, balanced: bool = False) -> dict[str, Any]:
    location: dict[str, Any] = {"zones": zones}
    if balanced:
        location["locationPolicy"] = "BALANCED"
    rules: list[dict[str, Any]] = [{"machineType": MACHINE, "spot": True, "location": location}]
    if on_demand:
        rules.append({"machineType": MACHINE, "location": {"zones": zones}})
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": "h100"},
        "spec": {
            # GKE creates node pools for a class only with this on (reference, "Enable node
            # auto-creation"); ccc follows it.
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": rules,
            "activeMigration": {"optimizeRulePriority": True},
            "whenUnsatisfiable": "DoNotScaleUp",
        },
    }


def one_gpu_pod(cls: str) -> PodRequest:
    """A one-GPU vLLM pod (8 vCPU, 64 GiB) selecting ComputeClass ``cls``."""
    return PodRequest(
        name="vllm",
        cpu_m=8000,
        memory_bytes=64 * 2**30,
        gpus=1,
        node_selector={L.CLASS_LABEL: cls},
        tolerations=(Toleration(operator="Exists"),),
    )


POD = one_gpu_pod("h100")


def serving_group(
    zones: list[str], *, spare: int = 0, balanced: bool = False
) -> tuple[list[dict[str, Any]], ServingGroupDemand]:
    """The ServingGroup policy's classes and demand (module docstring)."""
    spot = ccc_class(zones, on_demand=False, balanced=balanced)
    spot["metadata"]["name"] = "h100-spot"
    od = ccc_class(zones, on_demand=True)
    od["metadata"]["name"] = "h100-od"
    od["spec"]["priorities"] = od["spec"]["priorities"][1:]
    del od["spec"]["activeMigration"]

    def template(cls: str) -> dict[str, Any]:
        return {
            "metadata": {"labels": {"app": "vllm"}},
            "spec": {
                "nodeSelector": {L.CLASS_LABEL: cls},
                "tolerations": [{"operator": "Exists"}],
                "containers": [
                    {
                        "name": "vllm",
                        "resources": {
                            "requests": {"cpu": "8", "memory": "64Gi"},
                            "limits": {L.GPU_RESOURCE: "1"},
                        },
                    }
                ],
            },
        }

    def variant(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"vllm-{name}"},
            "capacityPerReplica": 1,
        }

    body: dict[str, Any] = {
        "apiVersion": "ccc.dev/v1alpha1",
        "kind": "ServingGroup",
        "metadata": {"name": "vllm", "namespace": "default"},
        "spec": {"capacity": PODS, "variants": [variant("spot"), variant("od")]},
    }
    if spare:
        body["spec"]["spareCapacity"] = {"capacity": spare}
    templates = {"vllm-spot": template("h100-spot"), "vllm-od": template("h100-od")}
    return [spot, od], ServingGroupDemand(body=body, templates=templates)


def run_ccc(
    classes: list[dict[str, Any]], demand: DemandModel, *, window: dict[str, Any]
) -> SimulationResult:
    spec = SimulationSpec(
        classes=classes,
        demand=[demand],
        start=window["start"],
        duration_s=window["duration_s"],
        region=window["region"],
        catalog=window["catalog"],
        traces=window["traces"],
        boot_time_s=BOOT_S,
        prices=window["prices"],
        on_demand=window["on_demand"],
    )
    return asyncio.run(Simulation(spec, None).run())


CCC_POLICIES = ("ccc", "ccc+hedge", "ccc-spot-only", "ccc-servinggroup", "ccc-sg+hedge")


def run_window(
    window: dict[str, Any], only: tuple[str, ...] = CCC_POLICIES, *, hedge: int = HEDGE
) -> dict[str, SimulationResult]:
    zones: list[str] = window["zones"]
    prices: dict[OfferingKey, float] = window["prices"]
    traces: TraceSet = window["traces"]
    spot, od = spot_and_on_demand(MACHINE, zones)
    end = window["start"] + timedelta(seconds=window["duration_s"])
    bound = clairvoyant_bound(
        start=window["start"],
        end=end,
        demand=[(window["start"], float(PODS))],
        offerings=[
            BoundOffering(
                o,
                prices[o],
                1,
                traces.series_for(o).window(window["start"], end)  # type: ignore[union-attr]
                if traces.series_for(o) is not None
                else (),
            )
            for o in [*spot, *od]
        ],
        region=window["region"],
    )
    common = {
        "offerings": [*spot, *od],
        "start": window["start"],
        "duration_s": window["duration_s"],
        "demand": float(PODS),
        "region": window["region"],
        "traces": traces,
        "boot_s": BOOT_S,
        "on_demand": window["on_demand"],
    }

    def book() -> PriceBook:
        return PriceBook(lambda m, z, c: None, overrides=prices)

    out = {"lower-bound": bound}
    out["spothedge-like"] = run_fleet(SpotHedgeLike(spot, od), prices=book(), **common)
    out["karpenter-like"] = run_fleet(KarpenterLike([*spot, *od]), prices=book(), **common)
    out["gke-like"] = run_fleet(GkeLike([spot, od]), prices=book(), **common)

    def pods(hedge: int) -> WorkloadDemand:
        return WorkloadDemand(name="vllm", pod=POD, replicas=PODS, hedge=hedge)

    runs = {
        "ccc": lambda: run_ccc([ccc_class(zones, on_demand=True)], pods(0), window=window),
        "ccc+hedge": lambda: run_ccc(
            [ccc_class(zones, on_demand=True, balanced=True)], pods(hedge), window=window
        ),
        "ccc-spot-only": lambda: run_ccc(
            [ccc_class(zones, on_demand=False)], pods(0), window=window
        ),
        "ccc-servinggroup": lambda: run_ccc(*serving_group(zones), window=window),
        "ccc-sg+hedge": lambda: run_ccc(
            *serving_group(zones, spare=2, balanced=True), window=window
        ),
    }
    for name in only:
        out[name] = runs[name]()
    return out


def make_window(
    catalog: Catalog, traces: TraceSet, region: str, start: datetime, days: float
) -> tuple[dict[str, Any], list[str]]:
    """The inputs of :func:`run_window` for one window of ``region`` (its traced zones), and
    the offerings whose price is us-central1's stand-in."""
    zones = sorted({o.zone for o in traces.offerings if region_of(o.zone) == region})
    prices, stand_in = prices_for(catalog, zones)
    od_ref = min(
        (o for o in prices if o.capacity_type is CapacityType.ON_DEMAND),
        key=lambda o: (prices[o], o.zone),
    )
    window = {
        "region": region,
        "zones": zones,
        "start": start,
        "duration_s": days * 86400,
        "catalog": catalog,
        "traces": traces,
        "prices": prices,
        "on_demand": OnDemandReference(od_ref, prices[od_ref], 1),
    }
    return window, stand_in


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--days", type=float, default=3)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--regions", nargs="*", default=list(REGIONS))
    ap.add_argument("--hedge", type=int, default=HEDGE, help="extra replicas of ccc+hedge")
    ap.add_argument(
        "--only", nargs="*", default=list(CCC_POLICIES), choices=CCC_POLICIES,
        help="which ccc settings to run (the baselines and the bound always run)",
    )  # fmt: skip
    args = ap.parse_args()
    configure_logging("console", "error")
    catalog = load_builtin_catalog()
    traces = resolve_trace("skynomad-h100")
    assert traces.start_time is not None
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    started = time.perf_counter()
    print(f"{'window':<32} {'policy':<15} {'served':>8} {'cost/LB':>8} {'cost/OD':>8}")
    for region in args.regions:
        for w in range(args.windows):
            start = traces.start_time + timedelta(days=w * args.days)
            window, stand_in = make_window(catalog, traces, region, start, args.days)
            if stand_in and w == 0:
                print(f"# {region}: us-central1 prices stand in for {', '.join(stand_in)}")
            results = run_window(window, tuple(args.only), hedge=args.hedge)
            lb = results["lower-bound"].summary.cost
            od_cost = window["on_demand"].price_per_hour * PODS * args.days * 24
            label = f"{region} {start:%m-%d %H:%M}+{args.days:g}d"
            for name, r in results.items():
                s = r.summary
                row = (s.served_fraction, s.cost / lb, s.cost / od_cost)
                rows[name].append(row)
                print(f"{label:<32} {name:<15} {row[0]:>8.4f} {row[1]:>8.3f} {row[2]:>8.3f}")
    took = time.perf_counter() - started
    print(f"\naverage over {len(rows['lower-bound'])} windows ({took:.0f} s):")
    for name, rs in rows.items():
        served = statistics.mean(r[0] for r in rs)
        lb = statistics.mean(r[1] for r in rs)
        od = statistics.mean(r[2] for r in rs)
        print(f"  {name:<15} served {served:.4f}  cost/LB {lb:.3f}  cost/OD {od:.3f}")


if __name__ == "__main__":
    main()
