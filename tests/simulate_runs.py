"""Synthetic recorded runs for the ``ccc simulate`` output tests: what the controller loop in
virtual time records, written by hand so every expected number can be worked out."""

from __future__ import annotations

from datetime import datetime, timedelta

from ccc.api.values import CapacityType, OfferingKey
from ccc.simulate.metrics import OnDemandReference
from ccc.simulate.recorder import PriceBook, Recorder, Tally
from ccc.simulate.result import SimulationResult
from providers.clock import VIRTUAL_EPOCH

T0 = VIRTUAL_EPOCH
SPOT_A = OfferingKey(
    machine_type="a3-highgpu-1g", zone="us-central1-a", capacity_type=CapacityType.SPOT
)
SPOT_B = OfferingKey(
    machine_type="a3-highgpu-1g", zone="us-central1-b", capacity_type=CapacityType.SPOT
)
OD_A = OfferingKey(
    machine_type="a3-highgpu-1g", zone="us-central1-a", capacity_type=CapacityType.ON_DEMAND
)
PRICES = {SPOT_A: 2.0, SPOT_B: 2.5, OD_A: 6.0}
OD_REFERENCE = OnDemandReference(OD_A, 6.0, 1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def book(prices: dict[OfferingKey, float] = PRICES) -> PriceBook:
    return PriceBook(lambda m, z, c: None, overrides=prices)


def preemption_run() -> SimulationResult:
    """4 pods wanted for 4 h on 1-GPU nodes. 4 spot nodes boot for 10 min; at 2 h two are
    preempted and two on-demand nodes replace them, Ready 30 min later."""
    rec = Recorder(start=T0, region="us-central1", prices=book())
    rec.state(at(0), demand=4, served=0, nodes={SPOT_A: 4})
    rec.decision(at(0), "provision a3-highgpu-1g/us-central1-a/spot x4", "4 pending pods")
    rec.count(Tally.PROVISIONING_REQUESTS)
    rec.state(at(10), demand=4, served=4, nodes={SPOT_A: 4})
    rec.state(at(120), demand=4, served=2, nodes={SPOT_A: 2, OD_A: 2})
    rec.count(Tally.PREEMPTIONS, 2)
    rec.count(Tally.PROVISIONING_REQUESTS)
    rec.decision(at(120), "provision a3-highgpu-1g/us-central1-a/on-demand x2", "preempted")
    rec.state(at(150), demand=4, served=4, nodes={SPOT_A: 2, OD_A: 2})
    rec.decision(at(240), "wait", "after the end: dropped")
    return rec.finish(at(240), on_demand=OD_REFERENCE)


def busy_run(hours: int = 24) -> SimulationResult:
    """A day of churn: demand 8, spot in two zones that come and go every 30 minutes, an
    on-demand top-up, and a repeated stockout decision."""
    rec = Recorder(start=T0, region="us-central1", prices=book())
    for step in range(hours * 2):
        a, b = (6, 2) if step % 2 == 0 else (3, 3)
        od = 8 - a - b
        rec.state(
            at(30 * step),
            demand=8,
            served=8 - (step % 3 == 0),
            nodes={SPOT_A: a, SPOT_B: b, OD_A: od},
        )
        rec.decision(at(30 * step), "mark-unavailable a3-highgpu-1g/us-central1-b/spot", "stockout")
        rec.count(Tally.STOCKOUTS)
    rec.decision(at(5), "provision <script>alert(1)</script>", "reason & more")
    return rec.finish(at(60 * hours), on_demand=OD_REFERENCE)
