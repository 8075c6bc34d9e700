"""Named trace data sets and the ``--trace NAME|PATH`` registry.

The built-in ``skynomad-h100`` is checked against its source, ccc's shared copy of the SkyNomad
probes; the SpotHedge and "Can't Be Late" loaders read the shared data sets in place
(``../shared/data``; ``CCC_SHARED_DIR`` overrides the location), as ``ccc simulate --trace PATH``
will.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, OfferingKey
from hack.traces.build_skynomad_h100 import build
from providers.simulated.trace_sources import (
    load_builtin_trace,
    load_cant_be_late,
    load_spothedge_gcp,
    resolve_trace,
    resolve_traces,
)

SHARED = Path(os.environ.get("CCC_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
DATA = SHARED / "data"
SKYNOMAD_ZONES = [
    "asia-south2-b",
    "asia-southeast1-b",
    "asia-southeast1-c",
    "europe-west1-c",
    "europe-west3-c",
    "us-central1-a",
    "us-central1-b",
    "us-central1-c",
    "us-east4-a",
    "us-east4-b",
    "us-east5-a",
    "us-west1-a",
    "us-west1-b",
]


def test_skynomad_h100_is_built_in_a3_highgpu_1g_spot_in_13_zones_for_14_days() -> None:
    traces = resolve_trace("skynomad-h100")

    assert [o.zone for o in traces.offerings] == SKYNOMAD_ZONES
    assert {(o.machine_type, o.capacity_type) for o in traces.offerings} == {
        ("a3-highgpu-1g", CapacityType.SPOT)
    }
    assert traces.start_time == datetime(2025, 10, 4, 0, 10, tzinfo=UTC)
    assert traces.end_time == datetime(2025, 10, 18, 16, 30, tzinfo=UTC)
    assert traces.end_time - traces.start_time > timedelta(days=14)
    assert {s.gap_s for s in traces.series} == {600.0}
    assert traces.license == "Apache-2.0" and traces.redistributable
    assert "Copyright 2026 The SkyNomad Authors" in traces.notice


def test_the_shipped_skynomad_file_is_exactly_the_derivation_from_the_probes() -> None:
    shipped = resources.files("providers.simulated").joinpath(
        "data", "skynomad-h100", "trace.csv.gz"
    )
    assert shipped.read_bytes() == build(DATA / "skynomad-gcp-h100-spot" / "h100_spot_probes.csv")
    assert len(shipped.read_bytes()) < 64_000


def test_the_skynomad_licence_notice_and_provenance_ship_beside_the_trace() -> None:
    folder = resources.files("providers.simulated").joinpath("data", "skynomad-h100")
    assert "Apache License" in folder.joinpath("LICENSE").read_text()
    assert "SkyNomad" in folder.joinpath("NOTICE").read_text()
    provenance = folder.joinpath("PROVENANCE.md").read_text()
    assert "62b9aaa1942e30c40cb9f6f5d7d03d6823d1d1f7" in provenance


@pytest.mark.parametrize(
    ("zone", "fraction"),
    [("asia-south2-b", 1.00), ("us-central1-a", 0.98), ("us-west1-b", 0.24)],
)
def test_skynomad_availability_matches_the_published_probe_statistics(
    zone: str, fraction: float
) -> None:
    """Fractions of time with >= 1 VM obtainable, as in the data set's PROVENANCE.md."""
    series = load_builtin_trace("skynomad-h100").series_for(
        OfferingKey(machine_type="a3-highgpu-1g", zone=zone, capacity_type=CapacityType.SPOT)
    )
    assert series is not None
    assert series.available_fraction() == pytest.approx(fraction, abs=0.01)


def test_the_raw_skynomad_probes_and_the_converted_json_read_as_the_same_zones() -> None:
    probes = resolve_trace(str(DATA / "skynomad-gcp-h100-spot"))
    converted = resolve_trace(str(DATA / "skynomad-gcp-h100-spot" / "converted_full"))

    assert [o.zone for o in probes.offerings] == SKYNOMAD_ZONES
    assert [o.zone for o in converted.offerings] == SKYNOMAD_ZONES
    series = converted.series_for(probes.offerings[0])
    assert series is not None and {v for _, v in series.steps} <= {0, 16}


def test_spothedge_gcp_a100_reads_six_relative_zones_of_0_to_4_nodes() -> None:
    traces = load_spothedge_gcp(DATA / "spothedge-traces" / "data" / "GCP1")

    assert traces.start_time is None
    assert not traces.redistributable
    assert len(traces.series) == 6
    assert {o.machine_type for o in traces.offerings} == {"a2-highgpu-8g"}
    assert {s.gap_s for s in traces.series} == {150.0}
    assert {v for s in traces.series for _, v in s.steps} <= {0, 1, 2, 3, 4}
    never = traces.series_for(
        OfferingKey(
            machine_type="a2-highgpu-8g", zone="us-east1-b", capacity_type=CapacityType.SPOT
        )
    )
    assert never is not None and never.available_fraction() == 0.0
    assert never.duration_s == 770 * 150


def test_cant_be_late_traces_take_machine_type_from_the_file_and_date_from_the_directory() -> None:
    traces = load_cant_be_late(
        DATA / "skypilot-spot-traces" / "availability" / "1-node" / "aws-02-15-2023"
    )

    assert len(traces.series) == 9
    assert {o.machine_type for o in traces.offerings} == {"p3.2xlarge"}
    assert traces.start_time == datetime(2023, 2, 15, tzinfo=UTC)
    use1a = traces.series_for(
        OfferingKey(machine_type="p3.2xlarge", zone="us-east-1a", capacity_type=CapacityType.SPOT)
    )
    assert use1a is not None and use1a.available_fraction() == pytest.approx(0.17, abs=0.01)


def test_cant_be_late_gcp_preemption_and_16_node_sets_load_through_the_registry() -> None:
    gcp = resolve_trace(str(DATA / "skypilot-spot-traces/preemption/1-node/gcp-04-30-2023"))
    counts = resolve_trace(str(DATA / "skypilot-spot-traces/availability/16-node/aws-08-27-2023"))

    assert {o.machine_type for o in gcp.offerings} == {"c3-highcpu-88"}
    assert max(v or 0 for s in counts.series for _, v in s.steps) == 16


def test_a_data_set_root_is_refused_with_the_directories_that_hold_traces() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_trace(str(DATA / "spothedge-traces"))
    assert "pass one of: data/AWS1, data/AWS2, data/GCP1" in caught.value.message


def test_an_unknown_name_lists_the_built_in_traces() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_trace("skynomad-a100")
    assert caught.value.path == "--trace"
    assert "built-in trace (skynomad-h100)" in caught.value.message


def test_a_file_that_is_no_trace_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    path.write_text("hello")
    with pytest.raises(ConfigError, match="unrecognised trace file"):
        resolve_trace(str(path))


def test_a_csv_path_and_a_machine_type_override_resolve_and_combine(tmp_path: Path) -> None:
    path = tmp_path / "od.csv"
    path.write_text("time,machineType,zone,capacityType,available\n0,x,us-central1-a,on-demand,2\n")

    traces = resolve_traces(["skynomad-h100", str(path)])
    renamed = resolve_trace("skynomad-h100", machine_type="a3-highgpu-2g")

    assert len(traces.series) == 14
    assert not traces.redistributable
    assert {o.machine_type for o in renamed.offerings} == {"a3-highgpu-2g"}
    with pytest.raises(ConfigError, match="traced by both"):
        resolve_traces(["skynomad-h100", "skynomad-h100"])
