"""The simulate result: recorded timelines become the stable JSON document and its summary.

The timelines are synthetic (what the controller loop in virtual time will record), so every
expected number can be worked out by hand in the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ccc.api.values import CapacityType
from ccc.simulate.metrics import OnDemandReference, intervals, served_fraction
from ccc.simulate.recorder import MissingPriceError, PriceBook, Recorder, Tally
from ccc.simulate.result import (
    SimulationResult,
    TimelinePoint,
    offering_label,
    parse_offering_label,
    result_json_schema,
)
from tests.simulate_runs import OD_A, SPOT_A, T0, at, book, preemption_run

REPO = Path(__file__).resolve().parents[2]


def test_a_recorded_preemption_gives_the_summary_worked_out_by_hand() -> None:
    summary = preemption_run().summary

    # served: 0 for 10 min, 4 for 110 min, 2 for 30 min, 4 for 90 min = 14.333 of 16 pod-hours
    assert summary.served_fraction == pytest.approx((4 * 110 / 60 + 2 * 0.5 + 4 * 1.5) / 16)
    assert summary.seconds_below_target == 600 + 1800
    assert summary.cost == pytest.approx(4 * 2.0 * 2 + (2 * 2.0 + 2 * 6.0) * 2)  # 48
    assert summary.on_demand_cost == pytest.approx(4 * 6.0 * 4)  # 96
    assert (summary.preemptions, summary.provisioning_requests, summary.expiries) == (2, 2, 0)


def test_the_json_document_has_exactly_the_documented_shape() -> None:
    doc = json.loads(preemption_run().to_json())

    assert list(doc) == ["start", "end", "region", "summary", "timeline", "decisions", "prices"]
    assert (doc["start"], doc["end"], doc["region"]) == (
        "2026-01-01T00:00:00Z",
        "2026-01-01T04:00:00Z",
        "us-central1",
    )
    assert list(doc["summary"]) == [
        "servedFraction",
        "secondsBelowTarget",
        "cost",
        "onDemandCost",
        "preemptions",
        "expiries",
        "stockouts",
        "provisioningRequests",
        "migrations",
        "shifts",
    ]
    assert doc["timeline"][2] == {
        "t": "2026-01-01T02:00:00Z",
        "demand": 4.0,
        "served": 2.0,
        "costPerHour": 16.0,
        "nodes": {
            "a3-highgpu-1g/us-central1-a/on-demand": 2,
            "a3-highgpu-1g/us-central1-a/spot": 2,
        },
    }
    assert [d["t"] for d in doc["decisions"]] == ["2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"]
    # "cause" was added after the first version (fields are only ever added).
    assert list(doc["decisions"][0]) == ["t", "command", "reason", "cause"]
    assert doc["prices"] == {
        "a3-highgpu-1g/us-central1-a/on-demand": 6.0,
        "a3-highgpu-1g/us-central1-a/spot": 2.0,
    }


def test_the_json_document_round_trips_and_validates_against_the_published_schema() -> None:
    result = preemption_run()
    doc = json.loads(result.to_json())

    jsonschema.validate(doc, result_json_schema())
    assert SimulationResult.from_json(result.to_json()) == result
    bad = {**doc, "summary": {**doc["summary"], "servedFraction": 1.5}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, result_json_schema())


def test_a_document_from_a_newer_version_with_added_fields_still_parses() -> None:
    doc = json.loads(preemption_run().to_json())
    doc["summary"]["somethingNew"] = 1
    doc["extra"] = {"x": 1}
    assert SimulationResult.from_json(json.dumps(doc)).summary.preemptions == 2


def test_the_checked_in_schema_is_current() -> None:
    path = REPO / "docs" / "simulate-result.schema.json"
    assert json.loads(path.read_text()) == result_json_schema(), (
        "docs/simulate-result.schema.json is stale; run: "
        ".venv/bin/python -m ccc.simulate.result > docs/simulate-result.schema.json"
    )


def test_equal_states_merge_and_a_state_at_the_same_time_replaces_the_last() -> None:
    rec = Recorder(start=T0, region="r", prices=book())
    rec.state(at(0), demand=1, served=0, nodes={})
    rec.state(at(5), demand=1, served=0, nodes={SPOT_A: 0})
    rec.state(at(10), demand=2, served=0, nodes={SPOT_A: 1})
    rec.state(at(10), demand=2, served=1, nodes={SPOT_A: 1})
    result = rec.finish(at(60))

    assert [(p.t[11:16], p.served, dict(p.nodes)) for p in result.timeline] == [
        ("00:00", 0.0, {}),
        ("00:10", 1.0, {offering_label(SPOT_A): 1}),
    ]
    assert result.summary.on_demand_cost == 0.0


def test_states_that_go_back_in_time_or_are_negative_are_refused() -> None:
    rec = Recorder(start=T0, region="r", prices=book())
    rec.state(at(10), demand=1, served=0, nodes={})
    with pytest.raises(ValueError, match="earlier"):
        rec.state(at(5), demand=1, served=0, nodes={})
    with pytest.raises(ValueError, match="non-negative"):
        rec.state(at(20), demand=-1, served=0, nodes={})
    with pytest.raises(ValueError, match="only grow"):
        rec.count(Tally.SHIFTS, -1)


def test_holding_an_offering_without_a_price_names_it_and_how_to_fix_it() -> None:
    rec = Recorder(start=T0, region="r", prices=PriceBook(lambda m, z, c: None))
    with pytest.raises(MissingPriceError) as caught:
        rec.state(at(0), demand=1, served=0, nodes={SPOT_A: 1})
    assert caught.value.path == "a3-highgpu-1g/us-central1-a/spot"
    assert "pass a catalog file that prices it" in caught.value.message


def test_a_price_book_asks_the_catalog_once_per_offering() -> None:
    asked: list[tuple[str, str, CapacityType]] = []

    def price(m: str, z: str, c: CapacityType) -> float:
        asked.append((m, z, c))
        return 1.5

    prices = PriceBook(price)
    assert prices(SPOT_A) == prices(SPOT_A) == 1.5
    assert asked == [("a3-highgpu-1g", "us-central1-a", CapacityType.SPOT)]
    assert prices.used == {SPOT_A: 1.5}
    assert prices.lookup(OD_A) == 1.5 and OD_A not in prices.used


def point(minute: float, demand: float, served: float, cost: float = 0.0) -> TimelinePoint:
    return TimelinePoint(
        t=at(minute).isoformat().replace("+00:00", "Z"),
        demand=demand,
        served=served,
        cost_per_hour=cost,
        nodes={},
    )


def test_metrics_clip_the_timeline_to_the_window_and_cap_served_at_demand() -> None:
    timeline = [point(-30, 2, 0), point(30, 2, 5), point(90, 4, 4)]
    steps = list(intervals(timeline, start=at(0), end=at(60)))

    assert [(s.seconds, s.demand, s.served) for s in steps] == [(1800, 2, 0), (1800, 2, 5)]
    assert served_fraction(steps) == 0.5


def test_no_demand_at_all_counts_as_fully_served() -> None:
    rec = Recorder(start=T0, region="r", prices=book())
    rec.state(at(0), demand=0, served=0, nodes={})
    summary = rec.finish(at(60)).summary
    assert (summary.served_fraction, summary.seconds_below_target) == (1.0, 0)


def test_on_demand_cost_buys_whole_nodes_of_the_reference() -> None:
    rec = Recorder(start=T0, region="r", prices=book())
    rec.state(at(0), demand=9, served=9, nodes={})
    summary = rec.finish(at(60), on_demand=OnDemandReference(OD_A, 10.0, 8)).summary
    assert summary.on_demand_cost == 20.0  # 9 pods on 8-pod nodes: 2 nodes for 1 h


def test_an_offering_label_round_trips_and_a_reference_needs_positive_units() -> None:
    assert parse_offering_label(offering_label(SPOT_A)) == SPOT_A
    with pytest.raises(ValueError):
        parse_offering_label("a3-highgpu-1g/us-central1-a/cheap")
    with pytest.raises(ValueError):
        OnDemandReference(OD_A, 1.0, 0)
