"""Properties of the ServingGroup controller as a whole, checked by hypothesis.

- Under a fixed observation the controller's decision does not oscillate: once its /scale writes
  are applied, deciding again (with the memory it kept) writes nothing more.
- In virtual time, with both loops over the in-memory cluster and the simulated cloud: whatever
  the capacity, the stockout's length and the stabilization time, once the GPU variant carries
  the group, Ready capacity never drops below spec.capacity while the work moves back to the TPU
  variant surge-first, and each workload is written at most once per direction.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ccc.api.servinggroup import ServingGroup
from policies.serving_control import TargetView, decide_group
from tests.builders import NOW
from tests.support.memserving import ServingLoop, group, tpu_offerings


@st.composite
def fixed_inputs(draw: st.DrawFn) -> tuple[ServingGroup, dict[str, TargetView], frozenset[str]]:
    capacity = draw(st.integers(0, 120))
    body = group(capacity)
    body["metadata"]["namespace"] = "ml"
    sg = ServingGroup.model_validate(body)
    views = {
        "v6e": TargetView(replicas=draw(st.integers(0, 12)), class_name="tpu"),
        "h100": TargetView(replicas=draw(st.integers(0, 12)), class_name="gpu"),
    }
    unobtainable = frozenset(draw(st.sets(st.sampled_from(["tpu", "gpu"]))))
    return sg, views, unobtainable


def _applied(views: dict[str, TargetView], commands: Any) -> dict[str, TargetView]:
    out = dict(views)
    for c in commands:
        old = out[c.name]
        out[c.name] = TargetView(replicas=c.replicas, class_name=old.class_name)
    return out


@settings(max_examples=300, deadline=None)
@given(fixed_inputs())
def test_under_a_fixed_observation_the_writes_reach_a_fixed_point(case: Any) -> None:
    sg, views, unobtainable = case
    memory: dict[str, Any] = {}
    writes: dict[str, list[int]] = {"v6e": [], "h100": []}
    for i in range(6):
        d = decide_group(sg, views, {}, unobtainable, now=NOW + timedelta(seconds=i), memory=memory)
        memory = {t.name: t.memory for t in d.split.variants}
        for c in d.commands:
            writes[c.name].append(c.replicas)
        views = _applied(views, d.commands)
    for name, series in writes.items():
        assert len(series) <= 1, (name, series)


@settings(
    max_examples=10,
    deadline=None,
    # each example runs both loops for hours of virtual time: report, do not shrink for minutes
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    capacity=st.integers(8, 60),
    stockout_s=st.integers(30, 400),
    stabilization_s=st.integers(0, 120),
)
def test_moving_back_surge_first_never_drops_ready_capacity_below_the_target(
    capacity: int, stockout_s: int, stabilization_s: int
) -> None:
    asyncio.run(_move_back(capacity, stockout_s, stabilization_s))


async def _move_back(capacity: int, stockout_s: int, stabilization_s: int) -> None:
    s = ServingLoop.create(group_body=group(capacity, stabilization_s=stabilization_s))
    end = s.loop.clock.now() + timedelta(seconds=stockout_s)
    for o in tpu_offerings():
        s.loop.cloud.stockout(o, end=end)
    tpu_needed = -(-capacity // 8)
    gpu_needed = -(-capacity // 13)
    await s.start()
    try:
        await s.loop.until("GPU carries it", lambda: s.running("h100") == gpu_needed, timeout_s=600)
        carried = len(s.ready_log)
        await s.loop.until(
            "back on TPU",
            lambda: s.running("v6e") == tpu_needed and s.running("h100") == 0,
            timeout_s=7200,
        )
        dips = [c for _, c in s.ready_log[carried:] if c < capacity]
        assert not dips, (dips, s.ready_log[carried:])
        h100 = s.history("h100")
        assert h100 == [gpu_needed, 0], h100
    finally:
        await s.stop()
