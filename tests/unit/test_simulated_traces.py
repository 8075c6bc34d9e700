"""Capacity scripts from spot availability traces, replayed on the simulated cloud.

The trace files are written by the tests in the shapes of the real data sets (see the
PROVENANCE.md files under the shared data directory), so the tests need no data download.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, NodePoolName, NodePoolSpec, OfferingKey
from providers.clock import VirtualClock
from providers.errors import InsufficientCapacityError
from providers.simulated import DisruptionKind, SimulatedCloud
from providers.simulated.traces import (
    CapacityTrace,
    TraceSet,
    combine,
    load_trace,
    load_trace_dir,
)

ZONE = "us-central1-a"


def make_spec(**fields: Any) -> NodePoolSpec:
    values: dict[str, Any] = {
        "name": NodePoolName("ccc-gpu-r0-a"),
        "class_name": "gpu",
        "rule_index": 0,
        "machine_type": "a3-highgpu-8g",
        "zone": ZONE,
        "capacity_type": CapacityType.SPOT,
        "node_count": 2,
        "labels": {L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE},
    }
    values.update(fields)
    return NodePoolSpec(**values)


def make_cloud() -> tuple[SimulatedCloud, VirtualClock]:
    clock = VirtualClock()
    return SimulatedCloud(clock=clock), clock


def write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


async def test_a_preempted_flag_trace_stocks_out_and_preempts_while_flagged(tmp_path: Path) -> None:
    trace_file = write(
        tmp_path / "us-central1-a_h100_16.full.json",
        {"metadata": {"gap_seconds": 600, "zone": ZONE}, "data": [0, 0, 1, 1, 0]},
    )
    trace = load_trace(
        trace_file, machine_type="a3-highgpu-8g", convention="preempted", available_nodes=16
    )
    cloud, clock = make_cloud()
    assert trace.changes() == [(0.0, 16), (1200.0, 0), (2400.0, 16)]
    assert trace.duration_s == 3000
    assert trace.apply(cloud) == 3
    await cloud.create_node_pool(make_spec(node_count=2))

    await clock.advance(1200)
    assert [d.kind for d in cloud.preemptions_since(0)] == [DisruptionKind.PREEMPTED] * 2
    with pytest.raises(InsufficientCapacityError):
        await cloud.resize_node_pool("ccc-gpu-r0-a", node_count=2)
    await clock.advance(1200)
    assert (await cloud.resize_node_pool("ccc-gpu-r0-a", node_count=2)).node_count == 2


def test_a_count_trace_takes_its_zone_from_the_file_name(tmp_path: Path) -> None:
    write(
        tmp_path / "us-east1-b_a100_40gb_8.json", {"metadata": {"gap_seconds": 150}, "data": [0, 2]}
    )
    write(
        tmp_path / "europe-west4-a_a100_40gb_8.json",
        {"metadata": {"gap_seconds": 150}, "data": [4]},
    )

    traces = load_trace_dir(tmp_path, machine_type="a2-highgpu-8g", convention="count")

    assert [(t.offering.zone, t.changes()) for t in traces] == [
        ("europe-west4-a", [(0.0, 4)]),
        ("us-east1-b", [(0.0, 0), (150.0, 2)]),
    ]
    assert traces[1].available_fraction() == 0.5


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"metadata": {}, "data": [1]}, "metadata.gap_seconds"),
        ({"metadata": {"gap_seconds": 60}, "data": [1, -1]}, "data"),
        ({"metadata": {"gap_seconds": 60}, "data": []}, "data"),
        (
            {"metadata": {"gap_seconds": 60, "start_time": "yesterday"}, "data": [1]},
            "metadata.start_time",
        ),
        ([1, 2, 3], "metadata"),
    ],
)
def test_a_malformed_trace_names_the_field(tmp_path: Path, doc: object, field: str) -> None:
    path = write(tmp_path / "us-central1-a_x.json", doc)
    with pytest.raises(ConfigError) as caught:
        load_trace(path, machine_type="a3-highgpu-8g", convention="count")
    assert caught.value.path == f"{path}:{field}"


SPOT = OfferingKey(machine_type="a3-highgpu-8g", zone=ZONE, capacity_type=CapacityType.SPOT)


def steps_trace(*steps: tuple[float, int | None], start: datetime | None = None) -> CapacityTrace:
    return CapacityTrace(
        offering=SPOT,
        steps=tuple(steps),
        duration_s=max(s[0] for s in steps) + 600,
        start_time=start,
    )


@pytest.mark.parametrize(
    ("drop_to", "strict_left", "zero_left"),
    [(2, 2, 4), (1, 1, 4), (0, 0, 0)],
)
async def test_strict_preempts_the_excess_and_zero_only_preempts_at_zero(
    drop_to: int, strict_left: int, zero_left: int
) -> None:
    for convention, left in (("strict", strict_left), ("zero", zero_left)):
        clock = VirtualClock()
        cloud = SimulatedCloud(clock=clock, preemption=convention)  # type: ignore[arg-type]
        steps_trace((0, 4), (600, drop_to)).apply(cloud)
        await cloud.create_node_pool(make_spec(node_count=4))

        await clock.advance(600)

        assert len(cloud.nodes()) == left, convention
        assert len(cloud.preemptions_since(0)) == 4 - left, convention


async def test_under_zero_the_nodes_kept_above_a_lower_availability_block_new_ones() -> None:
    clock = VirtualClock()
    cloud = SimulatedCloud(clock=clock, preemption="zero")
    steps_trace((0, 4), (600, 2), (1200, 5)).apply(cloud)
    await cloud.create_node_pool(make_spec(node_count=4))
    await clock.advance(600)

    with pytest.raises(InsufficientCapacityError):
        await cloud.resize_node_pool("ccc-gpu-r0-a", node_count=5)
    await clock.advance(600)
    assert (await cloud.resize_node_pool("ccc-gpu-r0-a", node_count=5)).node_count == 5


def test_a_cloud_refuses_an_unknown_preemption_convention() -> None:
    with pytest.raises(ValueError, match="strict"):
        SimulatedCloud(preemption="sometimes")  # type: ignore[arg-type]


async def test_an_absolute_trace_contributes_the_value_in_effect_at_the_simulation_start() -> None:
    t0 = datetime(2025, 10, 4, tzinfo=UTC)
    trace = steps_trace((0, 1), (3600, 3), (7200, 0), start=t0)
    clock = VirtualClock(start=t0 + timedelta(seconds=5400))
    cloud = SimulatedCloud(clock=clock)

    assert trace.window(clock.now()) == [
        (t0 + timedelta(seconds=5400), 3),
        (t0 + timedelta(seconds=7200), 0),
    ]
    assert trace.apply(cloud, start=clock.now(), end=t0 + timedelta(seconds=7200)) == 1
    assert cloud.obtainable(SPOT) == 3
    await clock.advance(3600)
    assert cloud.obtainable(SPOT) == 3  # the change at the window's end was not scheduled


def test_a_relative_trace_starts_with_the_simulation() -> None:
    trace = steps_trace((0, 2), (600, 5))
    start = datetime(2026, 3, 1, tzinfo=UTC)
    assert trace.window(start) == [(start, 2), (start + timedelta(seconds=600), 5)]
    assert trace.value_at(599) == 2
    assert trace.value_at(10**6) == 5


def test_available_fraction_weighs_each_value_by_how_long_it_held() -> None:
    trace = CapacityTrace(offering=SPOT, steps=((0, 0), (100, 3), (400, 0)), duration_s=1000)
    assert trace.available_fraction() == pytest.approx(0.3)


def test_a_trace_set_warns_when_the_window_overruns_real_data_but_not_a_script() -> None:
    t0 = datetime(2025, 10, 4, tzinfo=UTC)
    real = TraceSet(name="real", series=(steps_trace((0, 1), start=t0),))
    script = TraceSet(name="script", series=(steps_trace((0, 1)),))
    end = t0 + timedelta(days=1)

    assert [w.split(":")[0] for w in real.window_warnings(t0, end)] == ["a3-highgpu-8g"]
    assert "last value is held" in real.window_warnings(t0, end)[0]
    assert script.window_warnings(t0, end) == []
    assert real.window_warnings(t0 - timedelta(hours=1), t0 + timedelta(seconds=600)) == [
        f"{SPOT}: the trace starts at {t0.isoformat()}, after the simulation starts; "
        "the offering is untraced until then"
    ]


def test_combining_sets_that_trace_the_same_offering_is_refused() -> None:
    a = TraceSet(name="a", series=(steps_trace((0, 1)),))
    b = TraceSet(name="b", series=(steps_trace((0, 2)),))
    with pytest.raises(ConfigError, match="traced by both a and b"):
        combine([a, b])
