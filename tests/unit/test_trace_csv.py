"""The generic CSV availability trace format (docs/simulate.md, "Generic CSV")."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, OfferingKey
from providers.simulated.trace_csv import format_csv_trace, load_csv_trace, parse_csv_trace

HEADER = "time,machineType,zone,capacityType,available"


def offering(zone: str, capacity_type: CapacityType = CapacityType.SPOT) -> OfferingKey:
    return OfferingKey(machine_type="a3-highgpu-1g", zone=zone, capacity_type=capacity_type)


def test_rows_become_one_step_function_per_offering_in_any_row_order() -> None:
    traces = parse_csv_trace(
        "\n".join(
            [
                "# probes of two zones",
                HEADER,
                "2025-10-04T00:20:00Z,a3-highgpu-1g,us-central1-a,spot,0",
                "2025-10-04T00:10:00Z,a3-highgpu-1g,us-central1-a,spot,16",
                "",
                "2025-10-04T00:30:00+00:00,a3-highgpu-1g,us-central1-a,spot,0",
                "2025-10-04T00:10:00Z,a3-highgpu-1g,us-east4-a,on-demand,unlimited",
                "2025-10-04T00:40:00Z,a3-highgpu-1g,us-central1-a,spot,3",
            ]
        ),
        origin="t.csv",
    )

    start = datetime(2025, 10, 4, 0, 10, tzinfo=UTC)
    assert traces.offerings == (
        offering("us-central1-a"),
        offering("us-east4-a", CapacityType.ON_DEMAND),
    )
    a = traces.series_for(offering("us-central1-a"))
    assert a is not None
    assert a.steps == ((0.0, 16), (600.0, 0), (1800.0, 3))
    assert a.start_time == start
    assert a.duration_s == 1800
    b = traces.series_for(offering("us-east4-a", CapacityType.ON_DEMAND))
    assert b is not None and b.steps == ((0.0, None),)


def test_offsets_make_a_relative_trace() -> None:
    traces = parse_csv_trace(
        f"{HEADER}\n0,m,z-a,spot,4\n2h,m,z-a,spot,\n90m,m,z-a,spot,1\n", origin="t.csv"
    )
    (series,) = traces.series
    assert series.start_time is None
    assert series.steps == ((0.0, 4), (5400.0, 1), (7200.0, None))


def test_columns_may_come_in_any_order() -> None:
    traces = parse_csv_trace(
        "zone,available,time,capacityType,machineType\nz-a,2,0,flex-start,m\n", origin="t.csv"
    )
    assert traces.series[0].offering == OfferingKey(
        machine_type="m", zone="z-a", capacity_type=CapacityType.FLEX_START
    )
    assert traces.series[0].steps == ((0.0, 2),)


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("", "t.csv", "empty trace"),
        (HEADER + "\n", "t.csv", "no rows"),
        ("time,machineType,zone,available\n", "t.csv:1", "missing column(s) capacityType"),
        (HEADER + ",price\n", "t.csv:1", "unknown column(s) price"),
        (f"{HEADER}\n0,m,z,spot\n", "t.csv:2", "expected 5 columns"),
        (f"{HEADER}\n0,m,z,preemptible,1\n", "t.csv:2:capacityType", "use one of reservation"),
        (f"{HEADER}\n0,m,z,spot,-1\n", "t.csv:2:available", "non-negative integer"),
        (f"{HEADER}\n0,m,z,spot,lots\n", "t.csv:2:available", "'unlimited'"),
        (f"{HEADER}\n0,,z,spot,1\n", "t.csv:2:machineType", "must not be empty"),
        (f"{HEADER}\nsoon,m,z,spot,1\n", "t.csv:2:time", "neither an ISO 8601 time"),
        (f"{HEADER}\n2025-10-04T00:10:00,m,z,spot,1\n", "t.csv:2:time", "no timezone"),
        (
            f"{HEADER}\n0,m,z,spot,1\n2025-10-04T00:10:00Z,m,z,spot,1\n",
            "t.csv:3:time",
            "mixes ISO 8601 times and offsets",
        ),
        (f"{HEADER}\n10m,m,z,spot,1\n600,m,z,spot,2\n", "t.csv:3:time", "lines 2 and 3"),
    ],
)
def test_a_bad_trace_names_line_and_column(text: str, where: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_csv_trace(text, origin="t.csv")
    assert caught.value.path == where
    assert says in caught.value.message


def test_format_and_parse_round_trip_absolute_and_relative_traces(tmp_path: Path) -> None:
    absolute = parse_csv_trace(
        f"{HEADER}\n2025-10-04T00:10:00Z,m,z-a,spot,3\n2025-10-04T01:10:00Z,m,z-a,spot,\n"
        "2025-10-04T00:20:00Z,m,z-b,spot,0\n",
        origin="a.csv",
    )
    relative = parse_csv_trace(f"{HEADER}\n0,m,z-a,spot,3\n1h,m,z-b,spot,0\n", origin="r.csv")
    for traces in (absolute, relative):
        text = format_csv_trace(traces)
        again = parse_csv_trace(text, origin="again.csv")
        assert [(s.offering, s.steps, s.start_time) for s in again.series] == [
            (s.offering, s.steps, s.start_time) for s in traces.series
        ]
    assert format_csv_trace(absolute).splitlines()[1:] == [
        "2025-10-04T00:10:00Z,m,z-a,spot,3",
        "2025-10-04T00:20:00Z,m,z-b,spot,0",
        "2025-10-04T01:10:00Z,m,z-a,spot,unlimited",
    ]
    assert format_csv_trace(relative).splitlines()[1:] == ["0s,m,z-a,spot,3", "1h,m,z-b,spot,0"]


def test_a_gzip_file_is_read_through_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(f"{HEADER}\n0,m,z-a,spot,3\n".encode()))
    traces = load_csv_trace(path)
    assert traces.name == str(path)
    assert traces.series[0].steps == ((0.0, 3),)


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(ConfigError, match="cannot read trace"):
        load_csv_trace(path)
