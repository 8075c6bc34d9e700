"""The clairvoyant lower bound: the cheapest mix at every instant, no boot delay, no loss."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccc.api.values import CapacityType, OfferingKey
from ccc.simulate.bound import (
    BoundOffering,
    availability_for,
    cheapest_cover,
    clairvoyant_bound,
    demand_steps,
)
from ccc.simulate.scenario import parse_scenario
from providers.clock import VIRTUAL_EPOCH
from providers.simulated.trace_sources import load_builtin_trace

T0 = VIRTUAL_EPOCH


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def key(machine: str, zone: str, capacity: CapacityType = CapacityType.SPOT) -> OfferingKey:
    return OfferingKey(machine_type=machine, zone=zone, capacity_type=capacity)


SPOT_A = key("a3-highgpu-1g", "us-central1-a")
SPOT_B = key("a3-highgpu-1g", "us-central1-b")
OD_A = key("a3-highgpu-1g", "us-central1-a", CapacityType.ON_DEMAND)


def test_each_interval_takes_the_cheapest_spot_first_and_on_demand_for_the_rest() -> None:
    result = clairvoyant_bound(
        start=at(0),
        end=at(2),
        demand=[(at(0), 4)],
        offerings=[
            BoundOffering(SPOT_A, 2.0, 1, availability=[(at(0), 3), (at(1), 0)]),
            BoundOffering(SPOT_B, 2.5, 1, availability=[(at(0), 0), (at(1), 2)]),
            BoundOffering(OD_A, 6.0, 1),
        ],
        region="us-central1",
    )

    assert [(p.t, dict(p.nodes), p.cost_per_hour) for p in result.timeline] == [
        (
            "2026-01-01T00:00:00Z",
            {"a3-highgpu-1g/us-central1-a/on-demand": 1, "a3-highgpu-1g/us-central1-a/spot": 3},
            12.0,
        ),
        (
            "2026-01-01T01:00:00Z",
            {"a3-highgpu-1g/us-central1-a/on-demand": 2, "a3-highgpu-1g/us-central1-b/spot": 2},
            17.0,
        ),
    ]
    assert result.summary.cost == pytest.approx(29.0)
    assert result.summary.served_fraction == 1.0
    assert result.decisions == ()


def test_where_availability_cannot_cover_demand_the_bound_holds_all_of_it() -> None:
    result = clairvoyant_bound(
        start=at(0),
        end=at(2),
        demand=[(at(0), 4)],
        offerings=[BoundOffering(SPOT_A, 2.0, 1, availability=[(at(0), 4), (at(1), 1)])],
    )
    assert result.summary.served_fraction == pytest.approx((4 + 1) / 8)
    assert result.summary.seconds_below_target == 3600
    assert result.summary.cost == pytest.approx(4 * 2.0 + 1 * 2.0)


def test_demand_changes_and_an_untraced_offering_is_unlimited() -> None:
    result = clairvoyant_bound(
        start=at(0),
        end=at(3),
        demand=demand_steps(
            2,
            start=at(0),
            events=parse_scenario(
                "events:\n- {at: 1h, demand: {workload: w, replicas: 0}}\n"
                "- {at: 2h, demand: {workload: w, replicas: 100}}\n",
                origin="s",
            ).demand_events,
        ),
        offerings=[BoundOffering(SPOT_A, 1.0, 1)],
    )
    assert [p.served for p in result.timeline] == [2, 0, 100]
    assert result.summary.cost == pytest.approx(2 + 0 + 100)


EIGHT = key("a3-highgpu-8g", "us-central1-a", CapacityType.ON_DEMAND)


@pytest.mark.parametrize(
    ("demand", "nodes", "cost"),
    [
        (1, {"one": 1}, 11),
        (7, {"one": 7}, 77),
        (8, {"eight": 1}, 80),
        (9, {"eight": 1, "one": 1}, 91),
        (14, {"eight": 1, "one": 6}, 146),
        (16, {"eight": 2}, 160),
    ],
)
def test_mixed_node_sizes_find_the_exact_cheapest_cover(
    demand: int, nodes: dict[str, int], cost: float
) -> None:
    result = clairvoyant_bound(
        start=at(0),
        end=at(1),
        demand=[(at(0), demand)],
        offerings=[BoundOffering(EIGHT, 80.0, 8), BoundOffering(OD_A, 11.0, 1)],
    )
    names = {
        "a3-highgpu-8g/us-central1-a/on-demand": "eight",
        "a3-highgpu-1g/us-central1-a/on-demand": "one",
    }
    got = {names[k]: v for k, v in result.timeline[0].nodes.items()}
    assert (got, result.summary.cost) == (nodes, pytest.approx(cost))


def brute_force(
    need: int, prices: list[float], units: list[int], available: list[int | None]
) -> float:
    caps = [math.ceil(need / u) if a is None else a for a, u in zip(available, units, strict=True)]
    best = math.inf
    for counts in itertools.product(*(range(a + 1) for a in caps)):
        if sum(n * u for n, u in zip(counts, units, strict=True)) >= need:
            best = min(best, sum(n * p for n, p in zip(counts, prices, strict=True)))
    return best


@settings(max_examples=300, deadline=None)
@given(
    need=st.integers(1, 30),
    offers=st.lists(
        st.tuples(
            st.integers(0, 50), st.sampled_from([1, 2, 3, 4, 8]), st.none() | st.integers(0, 5)
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_the_cheapest_cover_costs_the_same_as_the_best_of_every_mix(
    need: int, offers: list[tuple[int, int, int | None]]
) -> None:
    prices = [float(p) for p, _, _ in offers]
    units = [u for _, u, _ in offers]
    available = [a for _, _, a in offers]
    expected = brute_force(need, prices, units, available)
    if expected == math.inf:
        with pytest.raises(ValueError, match="no mix"):
            cheapest_cover(need, prices, units, available)
        return
    counts = cheapest_cover(need, prices, units, available)
    assert all(a is None or 0 <= n <= a for n, a in zip(counts, available, strict=True))
    assert sum(n * u for n, u in zip(counts, units, strict=True)) >= need
    assert sum(n * p for n, p in zip(counts, prices, strict=True)) == pytest.approx(expected)


def test_scenario_capacity_events_are_laid_over_the_trace() -> None:
    traces = load_builtin_trace("skynomad-h100")
    start = traces.start_time
    assert start is not None
    zone_a = key("a3-highgpu-1g", "us-central1-a")
    scenario = parse_scenario(
        "events:\n- {at: 0, capacity: {machineType: a3-highgpu-1g, zone: us-central1-a, "
        "available: 99}}\n- {at: 5m, capacity: {machineType: a3-highgpu-1g, zone: z, "
        "available: 1}}\n",
        origin="s",
    )
    steps = availability_for(
        zone_a, start=start, end=start + timedelta(hours=6), traces=traces, scenario=scenario
    )
    plain = availability_for(zone_a, start=start, end=start + timedelta(hours=6), traces=traces)

    assert steps[0] == (start, 99)  # the event wins at the same instant
    assert steps[1:] == plain[1:]
    assert plain[0] == (start, 16)
    other = key("a3-highgpu-1g", "z")
    assert availability_for(
        other, start=start, end=start + timedelta(hours=1), scenario=scenario
    ) == [(start + timedelta(minutes=5), 1)]
    assert (
        availability_for(other, start=start, end=start + timedelta(minutes=5), scenario=scenario)
        == []
    )


def test_the_bound_on_the_built_in_trace_serves_everything_far_below_on_demand() -> None:
    """16 one-GPU pods for the whole SkyNomad window in us-central1's three zones, spot at
    2.25 $/h (the GPU SKU) and on-demand at 11.06 $/h as fallback."""
    traces = load_builtin_trace("skynomad-h100")
    start, end = traces.start_time, traces.end_time
    assert start is not None and end is not None
    offerings = [
        BoundOffering(o, 2.25, 1, availability_for(o, start=start, end=end, traces=traces))
        for o in traces.offerings
        if o.zone.startswith("us-central1-")
    ]
    assert len(offerings) == 3
    spot_only = clairvoyant_bound(start=start, end=end, demand=[(start, 16)], offerings=offerings)
    fallback = clairvoyant_bound(
        start=start,
        end=end,
        demand=[(start, 16)],
        offerings=[*offerings, BoundOffering(OD_A, 11.06, 1)],
    )
    hours = (end - start).total_seconds() / 3600

    assert fallback.summary.served_fraction == 1.0
    assert spot_only.summary.served_fraction < 1.0
    assert 16 * 2.25 * hours <= fallback.summary.cost < 16 * 11.06 * hours / 2
    assert spot_only.summary.cost <= fallback.summary.cost
