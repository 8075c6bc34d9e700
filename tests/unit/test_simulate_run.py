"""``ccc simulate``'s runs through the controller's own loop (ccc.simulate.run), checked against
timelines worked out by hand. The cluster is the in-memory one and the cloud the simulated one
(nothing real can run in virtual time); the loop, decide and execute are production code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.values import CapacityType, OfferingKey
from ccc.api.workload import PodRequest, Toleration
from ccc.simulate.driver import VirtualLoop
from ccc.simulate.metrics import OnDemandReference
from ccc.simulate.run import SimulationSpec, WorkloadDemand, simulate
from ccc.simulate.scenario import parse_scenario
from providers.clock import VIRTUAL_EPOCH
from tests.support.memloop import gpu_class

CATALOG = load_builtin_catalog()
MACHINE = "a3-highgpu-1g"
ZONE_A, ZONE_B = "us-central1-a", "us-central1-b"
SPOT_A = OfferingKey(machine_type=MACHINE, zone=ZONE_A, capacity_type=CapacityType.SPOT)
SPOT_B = OfferingKey(machine_type=MACHINE, zone=ZONE_B, capacity_type=CapacityType.SPOT)
OD_A = OfferingKey(machine_type=MACHINE, zone=ZONE_A, capacity_type=CapacityType.ON_DEMAND)
PRICES = {SPOT_A: 2.0, SPOT_B: 3.0, OD_A: 6.0}


def pod(cls: str = "gpu") -> PodRequest:
    return PodRequest(
        name="vllm",
        namespace="ml",
        cpu_m=4000,
        memory_bytes=16 * 2**30,
        gpus=1,
        node_selector={"ccc.dev/compute-class": cls},
        tolerations=(Toleration(operator="Exists"),),
    )


def spec(
    scenario: str = "events: []", *, hours: float = 2, replicas: int = 2, **kw: object
) -> SimulationSpec:
    args: dict[str, object] = {
        "classes": [gpu_class(zones=[ZONE_A], machine_type=MACHINE)],
        "demand": [WorkloadDemand(name="vllm", pod=pod(), replicas=replicas)],
        "start": VIRTUAL_EPOCH,
        "duration_s": hours * 3600,
        "region": "us-central1",
        "catalog": CATALOG,
        "scenario": parse_scenario(scenario, origin="s.yaml"),
        "boot_time_s": 240.0,
        "prices": PRICES,
        "on_demand": OnDemandReference(OD_A, 6.0, 1),
    }
    args.update(kw)
    return SimulationSpec(**args)  # type: ignore[arg-type]


PREEMPT_ONE_AT_1H = """
events:
- at: 1h
  preempt: {machineType: a3-highgpu-1g, zone: us-central1-a, nodes: 1}
"""


def test_a_preempted_node_is_replaced_and_the_summary_matches_the_hand_timeline() -> None:
    """2 pods; both nodes created at 0 and Ready at 240 s; at 1 h one is preempted: the spot
    offering is marked PREEMPTED at once with its 60 s backoff, and it is the class's only
    offering, so the pool is scaled back to 2 when the backoff ends at 3660 s, Ready at 3900 s;
    the window ends at 2 h."""
    result = simulate(spec(PREEMPT_ONE_AT_1H))
    s = result.summary
    assert s.seconds_below_target == pytest.approx(240 + 60 + 240)
    assert s.served_fraction == pytest.approx((2 * 7200 - 2 * 240 - 300) / (2 * 7200))
    # 2 nodes all the time but the 60 s between the preemption and the new node.
    assert s.cost == pytest.approx(2.0 * (2 * 7200 - 60) / 3600)
    assert s.on_demand_cost == pytest.approx(6.0 * 2 * 2)
    assert (s.preemptions, s.provisioning_requests, s.stockouts, s.expiries) == (1, 2, 0, 0)
    assert [(p.t[11:19], p.demand, p.served, dict(p.nodes)) for p in result.timeline] == [
        ("00:00:00", 2, 0, {"a3-highgpu-1g/us-central1-a/spot": 2}),
        ("00:04:00", 2, 2, {"a3-highgpu-1g/us-central1-a/spot": 2}),
        ("01:00:00", 2, 1, {"a3-highgpu-1g/us-central1-a/spot": 1}),
        ("01:01:00", 2, 1, {"a3-highgpu-1g/us-central1-a/spot": 2}),
        ("01:05:00", 2, 2, {"a3-highgpu-1g/us-central1-a/spot": 2}),
    ]
    assert [(d.t[11:19], d.command.split(" (")[0], d.cause) for d in result.decisions] == [
        ("00:00:00", "provision a3-highgpu-1g/us-central1-a/spot +2", "pending"),
        ("01:00:00", "mark-unavailable a3-highgpu-1g/us-central1-a/spot", "preemption"),
        ("01:01:00", "provision a3-highgpu-1g/us-central1-a/spot +1", "pending"),
    ]
    assert result.prices == {
        "a3-highgpu-1g/us-central1-a/on-demand": 6.0,
        "a3-highgpu-1g/us-central1-a/spot": 2.0,
    }


def test_a_stockout_falls_back_to_the_next_zone_and_is_counted() -> None:
    scenario = """
events:
- at: 0
  stockout: {machineType: a3-highgpu-1g, zone: us-central1-a}
"""
    result = simulate(
        spec(scenario, classes=[gpu_class(zones=[ZONE_A, ZONE_B], machine_type=MACHINE)])
    )
    kinds = [(d.command.split(" (")[0], d.cause) for d in result.decisions]
    assert kinds == [
        ("provision a3-highgpu-1g/us-central1-a/spot +2", "pending"),
        ("mark-unavailable a3-highgpu-1g/us-central1-a/spot", "stockout"),
        ("provision a3-highgpu-1g/us-central1-b/spot +2", "pending"),
    ]
    assert result.summary.stockouts == 1
    assert result.summary.seconds_below_target == pytest.approx(240)
    assert result.summary.cost == pytest.approx(3.0 * 2 * 2)


def test_demand_events_add_and_remove_pods_at_their_offsets() -> None:
    scenario = """
events:
- at: 30m
  demand: {workload: vllm, replicas: 3}
- at: 90m
  demand: {workload: vllm, replicas: 1}
"""
    result = simulate(spec(scenario))
    demand = [(p.t[11:19], p.demand, p.served) for p in result.timeline]
    assert ("00:30:00", 3, 2) in demand
    assert ("00:30:01", 3, 2) in demand or ("00:30:00", 3, 2) in demand
    assert ("00:34:01", 3, 3) in demand
    assert ("01:30:00", 1, 1) in demand
    # Below target: the first boot (2 pods x 240 s) and the third pod's 241 s.
    assert result.summary.served_fraction == pytest.approx(
        1 - (2 * 240 + 241) / (2 * 1800 + 3 * 3600 + 1 * 1800)
    )


def test_a_controller_restart_reads_back_what_the_old_one_persisted() -> None:
    """The zone is stocked out for 2 h; the first failure is remembered for 180 s. The
    controller restarts at 10 min; at 20 min two more pods fail there again, and the new
    controller doubles the backoff to 360 s: it read the failure count back from the class's
    status (a controller that forgot would start again at 180 s)."""
    scenario = """
events:
- at: 0
  stockout: {machineType: a3-highgpu-1g, zone: us-central1-a, for: 2h}
- at: 10m
  restartController: {}
- at: 20m
  demand: {workload: vllm, replicas: 4}
"""
    cls = gpu_class(zones=[ZONE_A, ZONE_B], machine_type=MACHINE)
    result = simulate(spec(scenario, classes=[cls]))
    marks = [d for d in result.decisions if d.command.startswith("mark-unavailable")]
    assert [(d.t[11:19], d.reason.rsplit(" ", 1)[-1][11:]) for d in marks] == [
        ("00:00:00", "00:03:00Z"),
        ("00:20:01", "00:26:01Z"),
    ]
    assert result.summary.stockouts == 2


def test_the_same_inputs_give_the_same_result() -> None:
    first = simulate(spec(PREEMPT_ONE_AT_1H, seed=1)).to_json()
    assert simulate(spec(PREEMPT_ONE_AT_1H, seed=1)).to_json() == first


async def test_the_loop_runs_to_the_end_and_calls_the_hook_after_each_instant() -> None:
    loop = VirtualLoop.create(classes=[gpu_class(zones=[ZONE_A], machine_type=MACHINE)])
    seen: list[float] = []
    await loop.start()
    end = loop.clock.now() + timedelta(hours=1)
    await loop.run_to(end, on_instant=lambda lp: seen.append(lp.clock.now().timestamp()))
    await loop.stop()
    assert loop.clock.now() == end
    assert seen == sorted(seen) and seen[-1] == end.timestamp()


def test_a_run_outside_the_default_region_plans_in_the_simulated_region() -> None:
    """The one-region walk plans only in the cluster's region, which the simulated cloud reports:
    a run in us-east4 (no --zones) reports us-east4, not the cloud's default region, so a class
    of us-east4 zones is served."""
    east = OfferingKey(machine_type=MACHINE, zone="us-east4-a", capacity_type=CapacityType.SPOT)
    result = simulate(
        spec(
            classes=[gpu_class(zones=["us-east4-a"], machine_type=MACHINE)],
            region="us-east4",
            prices={east: 2.0},
            on_demand=None,
        )
    )
    assert result.summary.served_fraction == pytest.approx((2 * 7200 - 2 * 240) / (2 * 7200))
    assert "a3-highgpu-1g/us-east4-a/spot" in result.prices
