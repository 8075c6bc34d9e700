"""``--seed``: seeded jitter of boot times and of when trace drops hit (ccc.simulate.jitter),
and what it does to a run through the controller's loop (in-memory cluster, simulated cloud)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccc.api.values import CapacityType, OfferingKey
from ccc.simulate.jitter import BOOT_SPREAD, Jitter, apply_traces
from ccc.simulate.run import simulate
from providers.clock import VIRTUAL_EPOCH
from providers.simulated.traces import CapacityTrace, TraceSet
from tests.unit.test_simulate_run import PREEMPT_ONE_AT_1H, spec

SPOT = OfferingKey(
    machine_type="a3-highgpu-1g", zone="us-central1-a", capacity_type=CapacityType.SPOT
)


def test_boot_times_stay_within_the_spread_and_depend_on_the_seed_and_node_only() -> None:
    draws = [Jitter(5).boot_time(f"node-{i}", 240.0) for i in range(200)]
    assert all(240 * (1 - BOOT_SPREAD) <= d <= 240 * (1 + BOOT_SPREAD) for d in draws)
    assert len(set(draws)) > 150
    assert Jitter(5).boot_time("node-3", 240.0) == draws[3]
    assert Jitter(6).boot_time("node-3", 240.0) != draws[3]


class _Cloud:
    """Records set_capacity calls (the Timeline part apply_traces uses)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, int | None]] = []

    def set_capacity(self, offering: OfferingKey, nodes: int | None, *, at: object) -> None:
        assert offering == SPOT
        self.calls.append(((at - VIRTUAL_EPOCH).total_seconds(), nodes))  # type: ignore[operator]


def _traces() -> TraceSet:
    trace = CapacityTrace.from_ticks(
        SPOT, gap_s=600, values=[4, 4, 2, 2, 0, 3, 3, 1], start_time=VIRTUAL_EPOCH
    )
    return TraceSet(name="t", series=(trace,))


def test_drops_move_earlier_within_one_probe_interval_and_rises_stay_at_their_probe() -> None:
    exact, jittered = _Cloud(), _Cloud()
    end = VIRTUAL_EPOCH + timedelta(hours=2)
    apply_traces(_traces(), exact, start=VIRTUAL_EPOCH, end=end, jitter=None)  # type: ignore[arg-type]
    apply_traces(_traces(), jittered, start=VIRTUAL_EPOCH, end=end, jitter=Jitter(1))  # type: ignore[arg-type]
    assert exact.calls == [(0.0, 4), (1200.0, 2), (2400.0, 0), (3000.0, 3), (4200.0, 1)]
    assert [v for _, v in jittered.calls] == [4, 2, 0, 3, 1]
    for (t_exact, v), (t_jit, _), prev in zip(
        exact.calls, jittered.calls, [None, *exact.calls[:-1]], strict=True
    ):
        if prev is None or v is None or v >= (prev[1] or 0):
            assert t_jit == t_exact  # the first value and rises
        else:
            assert max(t_exact - 600, prev[0]) < t_jit <= t_exact
    assert jittered.calls != exact.calls
    times = [t for t, _ in jittered.calls]
    assert times == sorted(times)


def test_a_seeded_run_jitters_the_boots_of_the_hand_timeline_and_repeats_exactly() -> None:
    """The hand timeline of test_simulate_run (2 pods, one preempted at 1 h): below target for
    the first boot, the 60 s backoff and the replacement's boot. With a seed each boot takes
    240 s ± 25 %, and the same seed repeats the run."""
    exact = simulate(spec(PREEMPT_ONE_AT_1H))
    first = simulate(spec(PREEMPT_ONE_AT_1H, seed=11))
    assert exact.summary.seconds_below_target == pytest.approx(240 + 60 + 240)
    below = first.summary.seconds_below_target
    assert 180 + 60 + 180 <= below <= 300 + 60 + 300
    assert below != pytest.approx(540)
    assert simulate(spec(PREEMPT_ONE_AT_1H, seed=11)).to_json() == first.to_json()
    assert simulate(spec(PREEMPT_ONE_AT_1H, seed=12)).to_json() != first.to_json()
