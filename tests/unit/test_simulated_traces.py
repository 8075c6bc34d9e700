"""Capacity scripts from spot availability traces, replayed on the simulated cloud.

The trace files are written by the tests in the shapes of the real data sets (see the
PROVENANCE.md files under the shared data directory), so the tests need no data download.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, NodePoolName, NodePoolSpec
from providers.clock import VirtualClock
from providers.errors import InsufficientCapacityError
from providers.simulated import DisruptionKind, SimulatedCloud
from providers.simulated.traces import load_trace, load_trace_dir

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
    assert trace.values == (16, 16, 0, 0, 16)
    assert trace.changes() == [(0.0, 16), (1200.0, 0), (2400.0, 16)]
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

    assert [(t.offering.zone, t.values) for t in traces] == [
        ("europe-west4-a", (4,)),
        ("us-east1-b", (0, 2)),
    ]
    assert traces[1].available_fraction() == 0.5


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"metadata": {}, "data": [1]}, "metadata.gap_seconds"),
        ({"metadata": {"gap_seconds": 60}, "data": [1, -1]}, "data"),
        ([1, 2, 3], "metadata"),
    ],
)
def test_a_malformed_trace_names_the_field(tmp_path: Path, doc: object, field: str) -> None:
    path = write(tmp_path / "us-central1-a_x.json", doc)
    with pytest.raises(ConfigError) as caught:
        load_trace(path, machine_type="a3-highgpu-8g", convention="count")
    assert caught.value.path == f"{path}:{field}"
