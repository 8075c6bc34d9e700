"""Decide-step latency with active migration candidates.

A class with ``optimizeRulePriority`` (spot first, on-demand second, two zones) and N on-demand
nodes of rule 1, one 8-GPU pod each (plus no pending pods), timed through the controller's
decide step (:func:`policies.decide.decide`, what ``ccc run`` does every pass) in two cases:
spot obtainable (one candidate admitted, the others blocked by the budget) and spot marked
unavailable in both zones (every candidate walked, or skipped by the walk's cache, and blocked
``ReplacementUnavailable``). Also times the same snapshot with ``optimizeRulePriority: false``
as the baseline. Prints milliseconds per size (median of ``--repeat``).

    .venv/bin/python -m benchmarks.migration_decide [--sizes 10,100,1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.values import CapacityType, NodePool, NodePoolName, OfferingKey, Taint
from policies.decide import decide
from policies.naming import node_pool_name
from policies.obtainability import Unavailability
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState, Observed, reduce
from tests.builders import make_node, make_pod_info

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MACHINE = "a3-highgpu-8g"
ZONES = ("us-central1-a", "us-central1-b")


def build_class(migrate: bool) -> ComputeClass:
    zones = {"zones": list(ZONES)}
    return ComputeClass.model_validate(
        {
            "apiVersion": L.API_VERSION,
            "kind": "ComputeClass",
            "metadata": {"name": "gpu"},
            "spec": {
                "priorities": [
                    {"machineType": MACHINE, "spot": True, "location": zones},
                    {"machineType": MACHINE, "location": zones},
                ],
                "nodePoolAutoCreation": {"enabled": True},
                "activeMigration": {"optimizeRulePriority": migrate},
            },
        }
    )


def build_snapshot(n: int, migrate: bool) -> ClusterSnapshot:
    pool = node_pool_name("gpu", 1, MACHINE, ZONES[0], CapacityType.ON_DEMAND)
    nodes, pods = [], []
    for i in range(n):
        name = f"od-{i}"
        labels = {
            L.RULE_INDEX_LABEL: "1",
            L.CAPACITY_TYPE_LABEL: "on-demand",
            L.MACHINE_TYPE_LABEL: MACHINE,
            L.ZONE_LABEL: ZONES[0],
        }
        nodes.append(make_node(name, pool=pool, labels=labels, now=NOW))
        pods.append(make_pod_info(f"p-{i}", node=name, now=NOW, age=timedelta(minutes=50)))
    od = NodePool(
        name=NodePoolName(pool),
        machine_type=MACHINE,
        zones=(ZONES[0],),
        node_count=n,
        capacity_type=CapacityType.ON_DEMAND,
        labels={L.CLASS_LABEL: "gpu", L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE},
        taints=(Taint(key=L.CLASS_LABEL, value="gpu"),),
        managed=True,
        class_name="gpu",
        rule_index=1,
    )
    return ClusterSnapshot(
        now=NOW, classes={"gpu": build_class(migrate)}, pods=pods, nodes=nodes, node_pools=[od]
    )


def time_decide(snap: ClusterSnapshot, state: ControllerState, repeat: int) -> float:
    catalog = load_builtin_catalog()
    state = reduce(state, Observed(snap))
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        decide(snap, state, catalog, Settings())
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    marks = [
        Unavailability(
            key=OfferingKey(machine_type=MACHINE, zone=z, capacity_type=CapacityType.SPOT),
            reason="ZONE_RESOURCE_POOL_EXHAUSTED",
            message="",
            failures=1,
            since=NOW,
            until=NOW + timedelta(minutes=3),
        )
        for z in ZONES
    ]
    out_state = ControllerState.restored(memory={"gpu": marks})
    print("nodes  no-migration-ms  spot-obtainable-ms  spot-unavailable-ms")
    for n in (int(s) for s in args.sizes.split(",")):
        base = time_decide(build_snapshot(n, False), ControllerState(), args.repeat)
        ok = time_decide(build_snapshot(n, True), ControllerState(), args.repeat)
        out = time_decide(build_snapshot(n, True), out_state, args.repeat)
        print(f"{n:5d}  {base:15.1f}  {ok:18.1f}  {out:19.1f}")


if __name__ == "__main__":
    main()
