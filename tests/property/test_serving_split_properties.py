"""Properties of the ServingGroup capacity split (policies/serving.py), checked by hypothesis on
random groups, observations and memories, and on a small simulated world that applies the
targets pass after pass.

- The desired capacity covers the target whenever a variant that may grow has no maxReplicas.
- No target drops Ready capacity below min(target, Ready capacity now): a substitute is never
  scaled down before the replicas that replace it are Ready.
- The split is a function of its input.
- In a steady world (every class either obtainable or reporting a stockout) the targets reach a
  fixed point; in any steady world, once Ready capacity meets spec.capacity it stays met, and the
  substitutes never scale down and back up while a preferred variant probes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ccc.api.servinggroup import ServingGroupSpec, VariantState
from policies.serving import VariantMemory, VariantObservation, split
from tests.builders import NOW

PER_REPLICA = st.sampled_from([1.0, 2.5, 4.0, 7.87, 8.0, 10.0, 16.0])


@st.composite
def specs(draw: st.DrawFn, *, bounded: bool = True) -> ServingGroupSpec:
    count = draw(st.integers(1, 4))
    variants = []
    for i in range(count):
        min_replicas = draw(st.integers(0, 2))
        max_replicas = draw(st.none() | st.integers(min_replicas, 12)) if bounded else None
        variants.append(
            {
                "name": f"v{i}",
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"w{i}"},
                "capacityPerReplica": draw(PER_REPLICA),
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
            }
        )
    body: dict[str, Any] = {
        "capacity": draw(st.integers(0, 120)),
        "variants": variants,
        "preference": draw(st.sampled_from(["Order", "Cost"])),
        "rebalance": {"obtainTimeoutSeconds": 600, "stabilizationSeconds": 300},
    }
    if draw(st.booleans()):
        body["spareCapacity"] = {"capacity": draw(st.integers(0, 16))}
    return ServingGroupSpec.model_validate(body)


@st.composite
def observations(draw: st.DrawFn, spec: ServingGroupSpec) -> dict[str, VariantObservation]:
    out = {}
    for v in spec.variants:
        ready = draw(st.integers(0, 12))
        pending = draw(st.integers(0, 5))
        replicas = ready + pending
        if v.max_replicas is not None and replicas > v.max_replicas:
            ready, pending, replicas = min(ready, v.max_replicas), 0, min(ready, v.max_replicas)
        waited = draw(st.integers(0, 1200))
        out[v.name] = VariantObservation(
            replicas=replicas,
            ready=ready,
            pending=pending,
            pending_since=NOW - timedelta(seconds=waited) if pending else None,
            offerings_unavailable=draw(st.booleans()),
            disrupted=draw(st.integers(0, ready)),
        )
    return out


@st.composite
def memory(draw: st.DrawFn, spec: ServingGroupSpec) -> dict[str, VariantMemory]:
    out = {}
    for v in spec.variants:
        ready = draw(st.integers(0, 12))
        unobtainable = draw(st.none() | st.integers(0, 3600))
        obtainable = draw(st.none() | st.integers(0, 600)) if unobtainable is not None else None
        out[v.name] = VariantMemory(
            ready=ready,
            disrupted=draw(st.integers(0, ready)),
            replacing=draw(st.integers(0, 3)),
            unobtainable_since=NOW - timedelta(seconds=unobtainable) if unobtainable else None,
            obtainable_since=NOW - timedelta(seconds=obtainable) if obtainable else None,
        )
    return out


@st.composite
def inputs(
    draw: st.DrawFn,
) -> tuple[
    ServingGroupSpec, dict[str, VariantObservation], dict[str, VariantMemory], dict[str, float]
]:
    spec = draw(specs())
    prices = {v.name: draw(st.floats(0.1, 50)) for v in spec.variants}
    return spec, draw(observations(spec)), draw(memory(spec)), prices


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_desired_capacity_covers_the_target_when_an_unbounded_variant_may_grow(
    case: tuple[Any, ...],
) -> None:
    spec, observed, mem, prices = case
    result = split(spec, observed, now=NOW, memory=mem, prices=prices)
    growable_unbounded = any(
        t.state is not VariantState.UNOBTAINABLE and v.max_replicas is None
        for v, t in zip(spec.variants, result.variants, strict=True)
    )
    if growable_unbounded:
        assert result.desired_capacity + 1e-6 >= result.target_capacity
        assert not result.degraded


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_no_target_drops_ready_capacity_below_what_is_needed(case: tuple[Any, ...]) -> None:
    spec, observed, mem, prices = case
    result = split(spec, observed, now=NOW, memory=mem, prices=prices)
    before = after = 0.0
    for v, t in zip(spec.variants, result.variants, strict=True):
        obs = observed[v.name]
        safe_ready = obs.ready - obs.disrupted
        before += v.capacity_per_replica * safe_ready
        after += v.capacity_per_replica * min(safe_ready, t.replicas - obs.disrupted)
        assert t.replicas >= 0
        assert v.max_replicas is None or t.replicas <= v.max_replicas
        assert t.replicas >= min(v.min_replicas, v.max_replicas or v.min_replicas)
    assert after + 1e-6 >= min(result.target_capacity, before)


@settings(max_examples=100, deadline=None)
@given(inputs())
def test_the_split_is_a_function_of_its_input(case: tuple[Any, ...]) -> None:
    spec, observed, mem, prices = case
    assert split(spec, observed, now=NOW, memory=mem, prices=prices) == split(
        spec, observed, now=NOW, memory=mem, prices=prices
    )


# --- a steady simulated world --------------------------------------------------------------------


@dataclass
class _Workload:
    limit: int | None  # most replicas that can become Ready (None: any)
    stocked_out: bool  # the class reports every offering unavailable
    replicas: int = 0
    ready: int = 0
    pending_since: datetime | None = None


def _run(
    spec: ServingGroupSpec, world: dict[str, _Workload], passes: int
) -> tuple[list[dict[str, int]], list[float]]:
    """Apply the split every 60 s; new replicas are Ready by the next pass if the world allows
    (scale-down removes Pending replicas first, as a ReplicaSet does)."""
    mem: dict[str, VariantMemory] = {}
    history: list[dict[str, int]] = []
    ready_capacity: list[float] = []
    per = {v.name: v.capacity_per_replica for v in spec.variants}
    for i in range(passes):
        now = NOW + timedelta(seconds=60 * i)
        observed = {
            name: VariantObservation(
                replicas=w.replicas,
                ready=w.ready,
                pending=w.replicas - w.ready,
                pending_since=w.pending_since,
                offerings_unavailable=w.stocked_out,
            )
            for name, w in world.items()
        }
        result = split(spec, observed, now=now, memory=mem)
        mem = {t.name: t.memory for t in result.variants}
        history.append({t.name: t.replicas for t in result.variants})
        for t in result.variants:
            w = world[t.name]
            w.replicas = t.replicas
            w.ready = t.replicas if w.limit is None else min(t.replicas, w.limit)
            if w.replicas > w.ready:
                w.pending_since = w.pending_since or now
            else:
                w.pending_since = None
        ready_capacity.append(sum(per[n] * w.ready for n, w in world.items()))
    return history, ready_capacity


@st.composite
def worlds(draw: st.DrawFn, *, honest: bool) -> tuple[ServingGroupSpec, dict[str, _Workload]]:
    spec = draw(specs(bounded=False))
    world = {}
    for v in spec.variants:
        kind = draw(st.sampled_from(["available", "stocked-out"] + ([] if honest else ["partial"])))
        if kind == "available":
            world[v.name] = _Workload(limit=None, stocked_out=False)
        elif kind == "stocked-out":
            world[v.name] = _Workload(limit=0, stocked_out=True)
        else:
            world[v.name] = _Workload(limit=draw(st.integers(0, 6)), stocked_out=False)
    return spec, world


@settings(max_examples=120, deadline=None)
@given(worlds(honest=True))
def test_targets_reach_a_fixed_point_in_a_steady_world(case: tuple[Any, ...]) -> None:
    spec, world = case
    history, _ = _run(spec, world, passes=40)
    assert all(h == history[-1] for h in history[-15:]), history[-15:]


@settings(max_examples=120, deadline=None)
@given(worlds(honest=False))
def test_once_met_ready_capacity_stays_met_and_substitutes_do_not_flap(
    case: tuple[Any, ...],
) -> None:
    spec, world = case
    history, ready = _run(spec, world, passes=60)
    met = [i for i, r in enumerate(ready) if r + 1e-6 >= spec.capacity]
    if met:
        assert all(r + 1e-6 >= spec.capacity for r in ready[met[0] :]), ready
    for name in (v.name for v in spec.variants):
        series = [h[name] for h in history[20:]]
        for i in range(1, len(series) - 1):
            went_down = series[i] < series[i - 1]
            assert not (went_down and any(s > series[i] for s in series[i + 1 :])) or (
                world[name].limit is not None and not world[name].stocked_out
            ), (name, series)
