"""The ServingGroup capacity split (policies/serving.py): one table per rule.

Each test drives the pure policy with observations the controller would make and checks the
replica targets, states and causes it returns (rules in the module docstring and
docs/serving-groups.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from ccc.api.servinggroup import ServingGroupSpec, VariantState, VariantStatus
from policies.serving import (
    Cause,
    Split,
    VariantMemory,
    VariantObservation,
    memories,
    preference_order,
    split,
)
from tests.builders import NOW

Obs = VariantObservation


def variant(name: str, per: float, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"vllm-{name}"},
        "capacityPerReplica": per,
        **fields,
    }


def group(capacity: int, *variants: dict[str, Any], **fields: Any) -> ServingGroupSpec:
    """A spec; default variants: v6e (8 per replica, preferred) then h100 (10 per replica)."""
    chosen = list(variants) or [variant("v6e", 8), variant("h100", 10)]
    return ServingGroupSpec.model_validate({"capacity": capacity, "variants": chosen, **fields})


def replicas(result: Split) -> dict[str, int]:
    return {t.name: t.replicas for t in result.variants}


def after(seconds: float) -> Any:
    return NOW + timedelta(seconds=seconds)


def remember(result: Split) -> dict[str, VariantMemory]:
    return {t.name: t.memory for t in result.variants}


# --- rule 1: fill the preferred variant first ----------------------------------------------------


def test_a_new_group_fills_only_the_preferred_variant() -> None:
    result = split(group(40), {}, now=NOW)
    assert replicas(result) == {"v6e": 5, "h100": 0}
    assert result["v6e"].state is VariantState.PREFERRED
    assert result["v6e"].cause is Cause.FILL
    assert result["h100"].state is VariantState.IDLE
    assert not result.capacity_met
    assert not result.degraded


def test_pending_replicas_of_an_obtainable_variant_are_not_covered_by_the_next() -> None:
    observed = {"v6e": Obs(replicas=5, pending=5, pending_since=NOW)}
    result = split(group(40), observed, now=after(60))
    assert replicas(result) == {"v6e": 5, "h100": 0}
    assert result.next_check_at == after(600)


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        (0, {"v6e": 0, "h100": 0}),
        (1, {"v6e": 1, "h100": 0}),
        (8, {"v6e": 1, "h100": 0}),
        (9, {"v6e": 2, "h100": 0}),
        (24, {"v6e": 3, "h100": 0}),
        (25, {"v6e": 3, "h100": 1}),
        (50, {"v6e": 3, "h100": 3}),
    ],
)
def test_capacity_beyond_max_replicas_overflows_to_the_next_variant(
    capacity: int, expected: dict[str, int]
) -> None:
    spec = group(capacity, variant("v6e", 8, maxReplicas=3), variant("h100", 10))
    assert replicas(split(spec, {}, now=NOW)) == expected


def test_fractional_capacity_per_replica_rounds_replicas_up() -> None:
    spec = group(40, variant("v6e", 7.87), variant("h100", 10))
    assert replicas(split(spec, {}, now=NOW)) == {"v6e": 6, "h100": 0}


def test_min_replicas_are_kept_on_a_variant_that_is_not_needed() -> None:
    spec = group(40, variant("v6e", 8), variant("h100", 10, minReplicas=1))
    result = split(spec, {}, now=NOW)
    assert replicas(result) == {"v6e": 5, "h100": 1}
    assert result["h100"].cause is Cause.MIN_REPLICAS


def test_spare_capacity_is_added_and_split_like_the_rest() -> None:
    spec = group(
        40, variant("v6e", 8, maxReplicas=5), variant("h100", 10), spareCapacity={"capacity": 8}
    )
    result = split(spec, {}, now=NOW)
    assert replicas(result) == {"v6e": 5, "h100": 1}
    assert result.target_capacity == 48


# --- preference: Cost ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prices", "expected_order"),
    [
        ({"v6e": 2.7, "h100": 11.0}, ("v6e", "h100")),  # 0.34 vs 1.10 $ per unit and hour
        ({"v6e": 2.7, "h100": 3.0}, ("h100", "v6e")),  # 0.34 vs 0.30
        ({"v6e": 0.8, "h100": 1.0}, ("v6e", "h100")),  # a tie keeps list order
        ({"h100": 11.0}, ("h100", "v6e")),  # no price: last
        ({}, ("v6e", "h100")),
    ],
)
def test_cost_preference_orders_by_price_per_unit_of_capacity(
    prices: Mapping[str, float], expected_order: tuple[str, ...]
) -> None:
    spec = group(40, preference="Cost")
    assert tuple(v.name for v in preference_order(spec, prices)) == expected_order
    assert split(spec, {}, now=NOW, prices=prices).order == expected_order


def test_cost_preference_fills_the_cheapest_variant_first() -> None:
    result = split(group(40, preference="Cost"), {}, now=NOW, prices={"v6e": 8.0, "h100": 3.0})
    assert replicas(result) == {"v6e": 0, "h100": 4}


def test_order_preference_ignores_prices() -> None:
    result = split(group(40), {}, now=NOW, prices={"v6e": 8.0, "h100": 3.0})
    assert replicas(result) == {"v6e": 5, "h100": 0}


# --- rule 2: shift what a variant cannot obtain, at once -----------------------------------------


def test_a_stockout_shifts_the_whole_share_in_the_same_pass() -> None:
    observed = {
        "v6e": Obs(
            replicas=5, pending=5, pending_since=NOW, offerings_unavailable=True, class_name="tpu"
        )
    }
    result = split(group(40), observed, now=after(5))
    assert replicas(result) == {"v6e": 0, "h100": 4}
    assert result["v6e"].state is VariantState.UNOBTAINABLE
    assert result["v6e"].cause is Cause.STOCKOUT
    assert "every offering of ComputeClass tpu is unavailable" in result["v6e"].reason
    assert result["h100"].state is VariantState.SUBSTITUTING
    assert result["h100"].cause is Cause.STOCKOUT
    assert result["v6e"].memory.unobtainable_since == after(5)


def test_a_stockout_keeps_the_ready_replicas_and_shifts_only_the_rest() -> None:
    observed = {
        "v6e": Obs(replicas=5, ready=3, pending=2, pending_since=NOW, offerings_unavailable=True)
    }
    memory = {"v6e": VariantMemory(ready=3)}
    result = split(group(40), observed, now=after(5), memory=memory)
    assert replicas(result) == {"v6e": 3, "h100": 2}


@pytest.mark.parametrize(("waited_s", "shifted"), [(599, False), (600, True), (3600, True)])
def test_pending_past_the_obtain_timeout_shifts_the_share(waited_s: int, shifted: bool) -> None:
    observed = {"v6e": Obs(replicas=5, ready=1, pending=4, pending_since=NOW)}
    result = split(group(40), observed, now=after(waited_s), memory={"v6e": VariantMemory(ready=1)})
    if shifted:
        assert replicas(result) == {"v6e": 1, "h100": 4}
        assert result["v6e"].cause is Cause.PENDING_TIMEOUT
    else:
        assert replicas(result) == {"v6e": 5, "h100": 0}
        assert result.next_check_at == after(600)


def test_the_obtain_timeout_comes_from_rebalance() -> None:
    spec = group(40, rebalance={"obtainTimeoutSeconds": 60})
    observed = {"v6e": Obs(replicas=5, pending=5, pending_since=NOW)}
    assert replicas(split(spec, observed, now=after(60))) == {"v6e": 0, "h100": 4}


def test_a_shift_beyond_every_variants_max_is_degraded() -> None:
    spec = group(40, variant("v6e", 8), variant("h100", 10, maxReplicas=2))
    observed = {"v6e": Obs(replicas=5, pending=5, pending_since=NOW, offerings_unavailable=True)}
    result = split(spec, observed, now=NOW)
    assert replicas(result) == {"v6e": 0, "h100": 2}
    assert result.degraded
    assert "can provide 20 of 40" in result.degraded_reason
    assert "raise maxReplicas" in result.degraded_reason


# --- rule 3: compensate lost replicas at once ----------------------------------------------------


def test_replicas_lost_without_notice_are_covered_by_the_next_variant_in_the_same_pass() -> None:
    before = {"v6e": VariantMemory(ready=5)}
    observed = {"v6e": Obs(replicas=5, ready=3, pending=2, pending_since=after(30))}
    result = split(group(40), observed, now=after(31), memory=before)
    assert replicas(result) == {"v6e": 5, "h100": 2}
    assert result["v6e"].memory.replacing == 2
    assert result["v6e"].cause is Cause.LOST_REPLICAS
    assert result["h100"].cause is Cause.LOST_REPLICAS
    assert result["h100"].state is VariantState.SUBSTITUTING


def test_a_loss_is_seen_even_before_the_workload_recreates_the_pods() -> None:
    result = split(
        group(40),
        {"v6e": Obs(replicas=5, ready=3)},
        now=NOW,
        memory={"v6e": VariantMemory(ready=5)},
    )
    assert replicas(result) == {"v6e": 5, "h100": 2}


def test_the_compensation_holds_until_the_replacements_are_ready_then_goes() -> None:
    spec = group(40)
    first = split(
        spec,
        {"v6e": Obs(replicas=5, ready=3, pending=2, pending_since=NOW)},
        now=NOW,
        memory={"v6e": VariantMemory(ready=5)},
    )
    waiting = {
        "v6e": Obs(replicas=5, ready=3, pending=2, pending_since=NOW),
        "h100": Obs(replicas=2, ready=2),
    }
    second = split(spec, waiting, now=after(60), memory=remember(first))
    assert replicas(second) == {"v6e": 5, "h100": 2}
    one_back = {
        "v6e": Obs(replicas=5, ready=4, pending=1, pending_since=NOW),
        "h100": Obs(replicas=2, ready=2),
    }
    third = split(spec, one_back, now=after(120), memory=remember(second))
    assert replicas(third) == {"v6e": 5, "h100": 1}
    assert third["v6e"].memory.replacing == 1
    recovered = {"v6e": Obs(replicas=5, ready=5), "h100": Obs(replicas=1, ready=1)}
    fourth = split(spec, recovered, now=after(180), memory=remember(third))
    assert replicas(fourth) == {"v6e": 5, "h100": 0}
    assert fourth["h100"].state is VariantState.DRAINING
    assert fourth["v6e"].memory.replacing == 0


def test_a_scale_down_we_asked_for_is_not_a_loss() -> None:
    result = split(
        group(24),
        {"v6e": Obs(replicas=3, ready=3)},
        now=NOW,
        memory={"v6e": VariantMemory(ready=5)},
    )
    assert replicas(result) == {"v6e": 3, "h100": 0}
    assert result["v6e"].memory.replacing == 0


# --- rule 4: move back surge-first after stabilization --------------------------------------------


def _stocked_out_memory() -> dict[str, VariantMemory]:
    return {"v6e": VariantMemory(unobtainable_since=NOW), "h100": VariantMemory(ready=4)}


def test_a_returning_variant_waits_out_stabilization_before_it_grows() -> None:
    spec = group(40, rebalance={"stabilizationSeconds": 300})
    observed = {"v6e": Obs(), "h100": Obs(replicas=4, ready=4)}
    first = split(spec, observed, now=after(1000), memory=_stocked_out_memory())
    assert replicas(first) == {"v6e": 0, "h100": 4}
    assert first["v6e"].cause is Cause.STABILIZING
    assert first["v6e"].state is VariantState.UNOBTAINABLE
    assert first["v6e"].memory.obtainable_since == after(1000)
    assert first.next_check_at == after(1300)
    still = split(spec, observed, now=after(1299), memory=remember(first))
    assert replicas(still) == {"v6e": 0, "h100": 4}


def test_moving_back_scales_the_preferred_up_and_keeps_the_substitute_until_ready() -> None:
    spec = group(40, rebalance={"stabilizationSeconds": 300})
    memory = {
        "v6e": VariantMemory(unobtainable_since=NOW, obtainable_since=after(100)),
        "h100": VariantMemory(ready=4),
    }
    surge = split(
        spec, {"v6e": Obs(), "h100": Obs(replicas=4, ready=4)}, now=after(400), memory=memory
    )
    assert replicas(surge) == {"v6e": 5, "h100": 4}
    assert surge["v6e"].cause is Cause.MOVE_BACK
    assert surge["h100"].state is VariantState.SUBSTITUTING
    assert surge["v6e"].memory.unobtainable_since is None
    booting = {
        "v6e": Obs(replicas=5, pending=5, pending_since=after(400)),
        "h100": Obs(replicas=4, ready=4),
    }
    held = split(spec, booting, now=after(460), memory=remember(surge))
    assert replicas(held) == {"v6e": 5, "h100": 4}
    partly = {
        "v6e": Obs(replicas=5, ready=3, pending=2, pending_since=after(400)),
        "h100": Obs(replicas=4, ready=4),
    }
    step = split(spec, partly, now=after(520), memory=remember(held))
    assert replicas(step) == {"v6e": 5, "h100": 2}  # 40 - 3 x 8 = 16 still needs 2 x 10
    assert step["h100"].state is VariantState.DRAINING
    done = {"v6e": Obs(replicas=5, ready=5), "h100": Obs(replicas=2, ready=2)}
    assert replicas(split(spec, done, now=after(580), memory=remember(step))) == {
        "v6e": 5,
        "h100": 0,
    }


def test_a_move_back_that_times_out_again_leaves_the_substitute_untouched() -> None:
    spec = group(40, rebalance={"stabilizationSeconds": 300})
    probing = {
        "v6e": Obs(replicas=5, pending=5, pending_since=after(400)),
        "h100": Obs(replicas=4, ready=4),
    }
    result = split(spec, probing, now=after(1000), memory={"h100": VariantMemory(ready=4)})
    assert replicas(result) == {"v6e": 0, "h100": 4}
    assert result["v6e"].cause is Cause.PENDING_TIMEOUT


def test_stabilization_restarts_when_the_variant_becomes_unobtainable_again() -> None:
    spec = group(40)
    memory = {"v6e": VariantMemory(unobtainable_since=NOW, obtainable_since=after(100))}
    observed = {"v6e": Obs(offerings_unavailable=True), "h100": Obs(replicas=4, ready=4)}
    result = split(spec, observed, now=after(200), memory=memory)
    assert result["v6e"].memory.obtainable_since is None
    assert result["v6e"].memory.unobtainable_since == NOW


# --- rule 5: planned disruptions are covered first (surge before drain) --------------------------


def test_replicas_on_disrupted_nodes_get_replacements_before_the_drain() -> None:
    observed = {"v6e": Obs(replicas=5, ready=5, disrupted=2)}
    result = split(group(40), observed, now=NOW, memory={"v6e": VariantMemory(ready=5)})
    assert replicas(result) == {"v6e": 7, "h100": 0}
    assert result["v6e"].state is VariantState.DRAINING
    assert result["v6e"].cause is Cause.PLANNED_DISRUPTION
    assert not result.disruption_covered
    assert result.capacity_met


def test_the_drain_is_covered_once_the_surge_is_ready() -> None:
    observed = {"v6e": Obs(replicas=7, ready=7, disrupted=2)}
    result = split(
        group(40), observed, now=NOW, memory={"v6e": VariantMemory(ready=7, disrupted=2)}
    )
    assert replicas(result) == {"v6e": 7, "h100": 0}
    assert result.disruption_covered


def test_after_the_drain_the_surge_is_not_mistaken_for_a_loss() -> None:
    observed = {"v6e": Obs(replicas=7, ready=5, pending=2, pending_since=NOW)}
    result = split(
        group(40), observed, now=NOW, memory={"v6e": VariantMemory(ready=7, disrupted=2)}
    )
    assert replicas(result) == {"v6e": 5, "h100": 0}
    assert result["v6e"].memory.replacing == 0


def test_a_disruption_on_an_unobtainable_variant_is_covered_by_the_next() -> None:
    observed = {"v6e": Obs(replicas=5, ready=5, disrupted=2, offerings_unavailable=True)}
    result = split(group(40), observed, now=NOW, memory={"v6e": VariantMemory(ready=5)})
    assert replicas(result) == {"v6e": 5, "h100": 2}
    assert result["h100"].cause is Cause.STOCKOUT


def test_a_variant_at_max_replicas_surges_on_the_next_variant() -> None:
    spec = group(40, variant("v6e", 8, maxReplicas=5), variant("h100", 10))
    observed = {"v6e": Obs(replicas=5, ready=5, disrupted=2)}
    result = split(spec, observed, now=NOW, memory={"v6e": VariantMemory(ready=5)})
    assert replicas(result) == {"v6e": 5, "h100": 2}


# --- scaling down, memory, status -----------------------------------------------------------------


def test_a_lower_capacity_scales_the_least_preferred_variant_down_first() -> None:
    observed = {"v6e": Obs(replicas=5, ready=5), "h100": Obs(replicas=1, ready=1)}
    pair = (variant("v6e", 8, maxReplicas=5), variant("h100", 10))
    assert replicas(split(group(50, *pair), observed, now=NOW)) == {"v6e": 5, "h100": 1}
    lower = split(group(40, *pair), observed, now=NOW)
    assert replicas(lower) == {"v6e": 5, "h100": 0}
    assert lower["h100"].cause is Cause.SCALE_DOWN
    lowest = split(group(30, *pair), {"v6e": Obs(replicas=5, ready=5)}, now=NOW)
    assert replicas(lowest) == {"v6e": 4, "h100": 0}
    assert lowest["v6e"].state is VariantState.DRAINING


def test_the_memory_round_trips_through_the_status_model() -> None:
    result = split(group(40), {"v6e": Obs(offerings_unavailable=True)}, now=NOW)
    statuses = [
        VariantStatus(
            name=t.name,
            ready_replicas=t.memory.ready,
            disrupted_replicas=t.memory.disrupted,
            replacing_replicas=t.memory.replacing,
            unobtainable_since=t.memory.unobtainable_since,
            obtainable_since=t.memory.obtainable_since,
        )
        for t in result.variants
    ]
    assert memories(statuses) == remember(result)
    assert memories(None) == {}


def test_the_same_input_gives_the_same_split() -> None:
    observed = {
        "v6e": Obs(replicas=5, ready=3, pending=2, pending_since=NOW),
        "h100": Obs(replicas=1),
    }
    memory = {"v6e": VariantMemory(ready=4, replacing=1)}
    assert split(group(40), observed, now=after(10), memory=memory) == split(
        group(40), observed, now=after(10), memory=memory
    )


def test_targets_are_returned_in_spec_order_with_capacities() -> None:
    spec = group(40, preference="Cost")
    result = split(
        spec, {"v6e": Obs(replicas=2, ready=2)}, now=NOW, prices={"v6e": 9.0, "h100": 1.0}
    )
    assert [t.name for t in result.variants] == ["v6e", "h100"]
    assert result.order == ("h100", "v6e")
    assert result["v6e"].ready_capacity == 16
    assert result.ready_capacity == 16
    assert result.desired_capacity == sum(t.desired_capacity for t in result.variants)


def test_terminating_replicas_are_not_ready_and_show_as_draining() -> None:
    spec = group(40, variant("v6e", 8), variant("h100", 10, minReplicas=1))
    observed = {"v6e": Obs(replicas=5, ready=5), "h100": Obs(replicas=1, ready=1, terminating=1)}
    result = split(spec, observed, now=NOW, memory={"h100": VariantMemory(ready=1)})
    assert result["h100"].replicas == 1
    assert result["h100"].state is VariantState.DRAINING
    assert "1 replica(s) terminating" in result["h100"].reason
