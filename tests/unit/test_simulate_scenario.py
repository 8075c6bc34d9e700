"""Scenario files: typed events at offsets, located errors, and cloud events applied to the
simulated cloud (docs/simulate.md, "Scenario files")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ccc.api import labels as L
from ccc.api.values import CapacityType, NodePoolName, NodePoolSpec, OfferingKey
from ccc.simulate.scenario import (
    Capacity,
    Demand,
    Preempt,
    RestartController,
    ScenarioError,
    Stockout,
    apply_to_cloud,
    load_scenario,
    parse_scenario,
)
from providers.clock import VirtualClock
from providers.errors import InsufficientCapacityError
from providers.simulated import SimulatedCloud

ISSUE_EXAMPLE = """\
events:
- at: 2h
  preempt: {machineType: a3-highgpu-1g, zone: us-central1-a, capacityType: spot, nodes: 2}
- at: 3h
  stockout: {machineType: ct6e-standard-4t, zone: us-east5-b, capacityType: spot, for: 1h}
- at: 5h
  capacity: {machineType: a3-highgpu-1g, zone: us-central1-b, capacityType: spot, available: 4}
- at: 6h
  demand: {workload: vllm, replicas: 20}          # or {servingGroup: llama, capacity: 64}
- at: 7h
  restartController: {}
"""


def spot(machine: str, zone: str) -> OfferingKey:
    return OfferingKey(machine_type=machine, zone=zone, capacity_type=CapacityType.SPOT)


def test_the_documented_example_parses_into_typed_events_with_their_lines() -> None:
    scenario = parse_scenario(ISSUE_EXAMPLE, origin="s.yaml")

    assert scenario.events == (
        Preempt(7200, spot("a3-highgpu-1g", "us-central1-a"), 2, line=2),
        Stockout(10800, spot("ct6e-standard-4t", "us-east5-b"), 3600, line=4),
        Capacity(18000, spot("a3-highgpu-1g", "us-central1-b"), 4, line=6),
        Demand(21600, "workload", "vllm", 20, line=8),
        RestartController(25200, line=10),
    )
    assert len(scenario.cloud_events) == 3
    assert scenario.demand_events == (Demand(21600, "workload", "vllm", 20, line=8),)
    assert scenario.restarts == (RestartController(25200, line=10),)


def test_events_are_sorted_by_time_and_ties_keep_file_order(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "events:\n"
        "- {at: 1h, demand: {servingGroup: llama, capacity: 64}}\n"
        "- {at: 30m, restartController: null}\n"
        "- {at: 1h, capacity: {machineType: m, zone: z-a, available: unlimited}}\n"
        "- {at: 0, preempt: {machineType: m, zone: z-a}}\n"
    )
    scenario = load_scenario(path)

    assert scenario.source == str(path)
    assert [(e.at_s, type(e).__name__) for e in scenario.events] == [
        (0, "Preempt"),
        (1800, "RestartController"),
        (3600, "Demand"),
        (3600, "Capacity"),
    ]
    first, _, group, capacity = scenario.events
    assert isinstance(first, Preempt) and first.nodes is None
    assert first.offering.capacity_type is CapacityType.SPOT
    assert group == Demand(3600, "servingGroup", "llama", 64, line=2)
    assert isinstance(capacity, Capacity) and capacity.available is None


def test_an_empty_event_list_is_a_scenario_without_events() -> None:
    assert parse_scenario("events: []\n", origin="s.yaml").events == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("events:\n- at: 2h\n", "s.yaml:2:3: events[0]: an event has exactly one of preempt"),
        (
            "events:\n- at: 2h\n  restartController: {}\n  demand: {workload: a, replicas: 1}\n",
            "s.yaml:2:3: events[0]: an event has exactly one of preempt, stockout, capacity, "
            "demand, restartController (found demand, restartController)",
        ),
        (
            "events:\n- preempt: {machineType: m, zone: z}\n",
            "s.yaml:2:3: events[0].at: Field required",
        ),
        (
            "events:\n- at: soon\n  restartController: {}\n",
            "s.yaml:2:7: events[0].at: expected a duration such as 90s",
        ),
        (
            "events:\n- at: 1h\n  preempt: {machineType: m, zone: z, nodes: 0}\n",
            "s.yaml:3:45: events[0].preempt.nodes: Input should be greater than or equal to 1",
        ),
        (
            "events:\n- at: 1h\n  preempt: {machineType: m, zone: z, capacityType: on-demand}\n",
            "s.yaml:3:12: events[0].preempt: only spot nodes are preempted",
        ),
        (
            "events:\n- at: 1h\n  stockout: {machineType: m, zone: z, for: forever}\n",
            "s.yaml:3:44: events[0].stockout.for: expected a duration",
        ),
        (
            "events:\n- at: 1h\n  capacity: {machineType: m, zone: z, count: 3}\n",
            "s.yaml:3:13: events[0].capacity.available: Field required",
        ),
        (
            "events:\n- at: 1h\n  capacity: {machineType: m, zone: z, available: 3, count: 3}\n",
            "s.yaml:3:60: events[0].capacity.count: Extra inputs are not permitted",
        ),
        (
            "events:\n- at: 1h\n  capacity: {machineType: m, zone: z, capacityType: cheap, "
            "available: 1}\n",
            "s.yaml:3:53: events[0].capacity.capacityType: Input should be 'reservation'",
        ),
        (
            "events:\n- at: 1h\n  demand: {workload: vllm, capacity: 3}\n",
            "s.yaml:3:11: events[0].demand: a workload's demand is replicas: N",
        ),
        (
            "events:\n- at: 1h\n  demand: {replicas: 3}\n",
            "s.yaml:3:11: events[0].demand: give exactly one of {workload: NAME, replicas: N}",
        ),
        (
            "events:\n- at: 1h\n  demand: {workload: vllm, replicas: '3'}\n",
            "s.yaml:3:38: events[0].demand.replicas: Input should be a valid integer",
        ),
        ("events: [\n", "s.yaml:2:1: not valid YAML"),
        ("- at: 1h\n", "s.yaml:1:1: a scenario is a mapping with a list 'events'"),
        ("events:\n  at: 1h\n", "s.yaml:2:3: events: Input should be a valid list"),
    ],
)
def test_a_bad_scenario_names_file_line_column_and_field(text: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, origin="s.yaml")
    assert caught.value.problems[0].startswith(problem), caught.value.problems


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(
            "events:\n- {at: -1, restartController: {}}\n- {at: 1h, demand: {workload: a}}\n",
            origin="s.yaml",
        )
    assert [p.split(": ")[1] for p in caught.value.problems] == ["events[0].at", "events[1].demand"]


def test_a_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "nope.yaml")


def test_the_driver_learns_of_events_past_the_end_and_unknown_demand_targets() -> None:
    scenario = parse_scenario(ISSUE_EXAMPLE, origin="s.yaml")

    assert scenario.problems(duration_s=6 * 3600, workloads=["vllm"]) == [
        "s.yaml:8: at: 6h is not before the end of the simulation (6h); move it or lengthen "
        "--duration",
        "s.yaml:10: at: 7h is not before the end of the simulation (6h); move it or lengthen "
        "--duration",
    ]
    assert scenario.problems(duration_s=86400, workloads=["other"]) == [
        "s.yaml:8: demand.workload: no workload named 'vllm' in this run (have: other)"
    ]
    assert scenario.problems(duration_s=86400, workloads=["vllm"]) == []


def make_spec(name: str, zone: str, count: int) -> NodePoolSpec:
    return NodePoolSpec(
        name=NodePoolName(name),
        class_name="gpu",
        rule_index=0,
        machine_type="a3-highgpu-1g",
        zone=zone,
        capacity_type=CapacityType.SPOT,
        node_count=count,
        labels={L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE},
    )


async def test_cloud_events_preempt_stock_out_and_limit_the_simulated_cloud() -> None:
    clock = VirtualClock()
    cloud = SimulatedCloud(clock=clock)
    scenario = parse_scenario(
        "events:\n"
        "- {at: 1h, preempt: {machineType: a3-highgpu-1g, zone: z-a, nodes: 2}}\n"
        "- {at: 2h, stockout: {machineType: a3-highgpu-1g, zone: z-b, for: 1h}}\n"
        "- {at: 2h, capacity: {machineType: a3-highgpu-1g, zone: z-a, available: 1}}\n"
        "- {at: 4h, restartController: {}}\n",
        origin="s.yaml",
    )
    assert apply_to_cloud(scenario, cloud, start=clock.now()) == 3
    await cloud.create_node_pool(make_spec("a", "z-a", 3))
    await cloud.create_node_pool(make_spec("b", "z-b", 1))

    await clock.advance(3600)
    assert len(cloud.preemptions_since(0)) == 2
    await clock.advance(3600)
    assert [n.zone for n in cloud.nodes()] == ["z-a", "z-b"]  # running nodes survive stockouts
    with pytest.raises(InsufficientCapacityError):
        await cloud.resize_node_pool("b", node_count=2)
    with pytest.raises(InsufficientCapacityError):
        await cloud.resize_node_pool("a", node_count=2)  # capacity 1, one held
    await clock.advance(3600)
    assert (await cloud.resize_node_pool("b", node_count=2)).node_count == 2
    assert cloud.start + timedelta(hours=3) == clock.now()
