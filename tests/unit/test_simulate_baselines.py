"""The decision-quality benchmark's baselines (ccc.simulate.baselines): the shared fleet physics
(as the simulated cloud's: strict preemption of the newest nodes, launches refused above the
availability) and the rule each baseline's docstring cites."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccc.api.values import CapacityType, OfferingKey
from ccc.simulate.baselines.fleet import Fleet, run_fleet, spot_and_on_demand
from ccc.simulate.baselines.gke import GkeLike
from ccc.simulate.baselines.karpenter import KarpenterLike
from ccc.simulate.baselines.spothedge import SpotHedgeLike
from ccc.simulate.recorder import PriceBook
from providers.clock import VIRTUAL_EPOCH
from providers.simulated.traces import CapacityTrace, TraceSet

M = "a3-highgpu-1g"
SPOT, OD = spot_and_on_demand(M, ["us-central1-a", "us-central1-b"])
PRICES = {SPOT[0]: 2.0, SPOT[1]: 2.5, OD[0]: 6.0, OD[1]: 6.5}
T0 = VIRTUAL_EPOCH


def book() -> PriceBook:
    return PriceBook(lambda m, z, c: None, overrides=PRICES)


def trace(*series: tuple[OfferingKey, list[tuple[float, int | None]]]) -> TraceSet:
    return TraceSet(
        name="t",
        series=tuple(
            CapacityTrace(offering=o, steps=tuple(steps), duration_s=86400) for o, steps in series
        ),
    )


def run(policy: object, traces: TraceSet | None, *, hours: float = 2, demand: float = 4):
    return run_fleet(
        policy,  # type: ignore[arg-type]
        offerings=[*SPOT, *OD],
        prices=book(),
        start=T0,
        duration_s=hours * 3600,
        demand=demand,
        region="us-central1",
        traces=traces,
    )


def test_a_drop_in_availability_preempts_the_newest_nodes_and_launches_stop_at_the_cap() -> None:
    fleet = Fleet(
        offerings=SPOT, prices=book(), start=T0, traces=trace((SPOT[0], [(0, 3), (60, 1)]))
    )
    fleet.load_traces(T0 + timedelta(hours=1))
    assert [fleet.launch(SPOT[0]) for _ in range(4)] == [True, True, True, False]

    class Quiet:
        name = "quiet"

        def __init__(self) -> None:
            self.lost: list[int] = []

        def step(self, fleet: Fleet) -> None: ...

        def preempted(self, fleet: Fleet, offering: OfferingKey, nodes: int) -> None:
            self.lost.append(nodes)

    fleet.now = T0 + timedelta(seconds=60)
    quiet = Quiet()
    fleet._preempt(quiet)
    assert [n.id for n in fleet.nodes] == [0] and quiet.lost == [2]


def test_karpenter_like_takes_the_cheapest_offering_and_caches_a_stockout_for_3_minutes() -> None:
    t = trace((SPOT[0], [(0, 0), (600, None)]))
    result = run(KarpenterLike([*SPOT, *OD]), t, hours=1)
    first = result.timeline[0]
    assert first.nodes == {"a3-highgpu-1g/us-central1-b/spot": 4}
    # Zone a comes back at 10 min; Karpenter never moves back: zone b stays.
    assert result.timeline[-1].nodes == {"a3-highgpu-1g/us-central1-b/spot": 4}
    assert result.summary.stockouts == 1


def test_gke_like_walks_the_rules_backs_off_5_minutes_and_migrates_back() -> None:
    t = trace((SPOT[0], [(0, 0), (1800, None)]), (SPOT[1], [(0, 0)]))
    result = run(GkeLike([SPOT, OD]), t, hours=1)
    assert result.timeline[0].nodes == {"a3-highgpu-1g/us-central1-a/on-demand": 4}
    assert result.timeline[-1].nodes == {"a3-highgpu-1g/us-central1-a/spot": 4}
    assert result.summary.migrations == 4
    # Create before delete: served never drops while moving back.
    assert [p.served for p in result.timeline][1:] == [4] * (len(result.timeline) - 1)
    assert result.summary.seconds_below_target == pytest.approx(240)


def test_spothedge_like_spreads_n_plus_k_over_zones_and_covers_the_gap_on_demand() -> None:
    t = trace((SPOT[0], [(0, None), (3600, 0)]))
    result = run(SpotHedgeLike(SPOT, OD, extra=2), t, hours=2)
    start = dict(result.timeline[0].nodes)
    assert start == {
        "a3-highgpu-1g/us-central1-a/spot": 3,
        "a3-highgpu-1g/us-central1-b/spot": 3,
        "a3-highgpu-1g/us-central1-a/on-demand": 4,
    }
    # Once spot is Ready, on-demand goes; when zone a is lost, zone b carries N+k.
    assert result.timeline[-1].nodes == {"a3-highgpu-1g/us-central1-b/spot": 6}
    assert result.summary.preemptions == 3


def test_a_baseline_on_an_unpriced_offering_is_an_error() -> None:
    from ccc.simulate.recorder import MissingPriceError

    other = OfferingKey(machine_type=M, zone="us-east4-a", capacity_type=CapacityType.SPOT)
    with pytest.raises(MissingPriceError):
        run(KarpenterLike([other]), None, hours=0.1)
