"""Plan latency vs. problem size (issue: foundation, item 8).

Builds a ComputeClass with 20 rules over the us-central1 zones that offer each machine type (a
cluster lives in one region) from the built-in catalog and N pending pods drawn from ~200
distinct pod templates, then times the controller's decide step (:func:`policies.decide.decide`
with the first choice per pod group, what ``ccc run`` does every pass) and the full plan listing
every fallback (what ``ccc plan`` prints). Prints seconds per size and the 100k/10k ratio.

    .venv/bin/python benchmarks/plan_latency.py [--sizes 1000,10000,100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from datetime import UTC, datetime

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.location import configured_location
from ccc.api.workload import PodRequest, Toleration
from policies.decide import decide
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState

MACHINES = ["g2-standard-8", "g2-standard-16", "a2-highgpu-1g", "a2-highgpu-4g", "a3-highgpu-8g"]
REGION = "us-central1"


def build_class() -> ComputeClass:
    catalog = load_builtin_catalog()
    rules = []
    for i in range(20):
        m = catalog.machine_type(MACHINES[i % len(MACHINES)])
        assert m is not None
        zones = [z for z in m.zones if z.startswith(f"{REGION}-")]
        rule: dict[str, object] = {"machineType": m.name, "location": {"zones": zones}}
        mode = i % 3
        if mode == 0:
            rule["spot"] = True
        elif mode == 1:
            rule["flexStart"] = {"enabled": True}
        rules.append(rule)
    return ComputeClass.model_validate(
        {
            "apiVersion": "ccc.dev/v1alpha1",
            "kind": "ComputeClass",
            "metadata": {"name": "bench", "generation": 1},
            "spec": {"priorities": rules, "nodePoolAutoCreation": {"enabled": True}},
        }
    )


def build_pods(n: int, templates: int = 200, seed: int = 7) -> list[PodRequest]:
    rng = random.Random(seed)
    shapes = []
    for t in range(templates):
        gpus = rng.choice([1, 1, 1, 2, 4, 8])
        shapes.append(
            PodRequest(
                name=f"tpl-{t}",
                cpu_m=rng.choice([500, 1000, 2000, 4000]) + t,  # +t keeps templates distinct
                memory_bytes=rng.choice([4, 8, 16, 32]) * 2**30,
                gpus=gpus,
                node_selector={L.CLASS_LABEL: "bench"},
                tolerations=(Toleration(operator="Exists"),),
            )
        )
    return [shapes[i % templates] for i in range(n)]


def time_decide(pods: list[PodRequest], cc: ComputeClass, *, full: bool, repeat: int) -> float:
    catalog = load_builtin_catalog()
    cluster = configured_location(catalog, region=REGION)
    snap = ClusterSnapshot(now=datetime.now(UTC), classes={"bench": cc}, pending=pods)
    state = ControllerState()
    settings = Settings(cluster=cluster, max_viable=None if full else 1)
    decide(snap, state, catalog, settings)  # warm-up (imports, caches)
    samples = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        d = decide(snap, state, catalog, settings)
        samples.append(time.perf_counter() - t0)
        assert d.plans["bench"].groups
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cc = build_class()
    results: dict[int, tuple[float, float]] = {}
    zones = sum(len(r.location.zones or []) for r in cc.spec.priorities if r.location)
    print(
        f"class: 20 rules, {zones} offerings in {REGION}; templates: 200; "
        f"median of {args.repeat} runs"
    )
    print(f"{'pods':>8}  {'decide (s)':>11}  {'full plan (s)':>13}")
    for n in sizes:
        pods = build_pods(n)
        results[n] = (
            time_decide(pods, cc, full=False, repeat=args.repeat),
            time_decide(pods, cc, full=True, repeat=args.repeat),
        )
        print(f"{n:>8}  {results[n][0]:>11.4f}  {results[n][1]:>13.4f}")
    if 10000 in results and 100000 in results:
        print(
            f"ratio 100k/10k: decide {results[100000][0] / results[10000][0]:.2f}, "
            f"full plan {results[100000][1] / results[10000][1]:.2f}"
        )


if __name__ == "__main__":
    main()
