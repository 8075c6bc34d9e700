"""Rules of policies/serving.py, the ServingGroup capacity split: what counts as capacity
already provided, which replicas were lost, and the cause each variant's target is given (the
``cause`` of ``ccc plan``'s variants and of the shift Event and metric).

The ServingGroup is ccc's own API (docs/serving-groups.md); these are its rules, not GKE's.
"""

from __future__ import annotations

import pytest

from ccc.api.servinggroup import VariantState
from policies.serving import Cause, VariantMemory
from tests.builders import NOW
from tests.unit.test_policies_serving import Obs, after, group, replicas, split, variant


def test_replicas_drained_for_a_planned_disruption_are_not_counted_as_lost() -> None:
    """Last pass two of v6e's four Ready replicas were on nodes being disrupted; they drained
    as planned and their pods are Pending again. Nothing was lost, so nothing is replaced twice
    and h100 is not scaled up to cover a loss."""
    observed = {"v6e": Obs(replicas=4, ready=2, pending=2, pending_since=NOW)}
    result = split(
        group(32), observed, now=NOW, memory={"v6e": VariantMemory(ready=4, disrupted=2)}
    )
    assert replicas(result) == {"v6e": 4, "h100": 0}
    assert result["v6e"].memory.replacing == 0
    assert result["v6e"].cause is not Cause.LOST_REPLICAS


def test_a_minimum_held_while_out_of_stock_is_not_counted_as_capacity_to_come() -> None:
    """v6e keeps its minReplicas of 2 although its class is out of stock; those Pending
    replicas will not come, so h100 covers the whole capacity."""
    spec = group(32, variant("v6e", 8, minReplicas=2), variant("h100", 10))
    observed = {"v6e": Obs(replicas=2, pending=2, pending_since=NOW, offerings_unavailable=True)}
    assert replicas(split(spec, observed, now=NOW)) == {"v6e": 2, "h100": 4}


def test_each_variant_grows_only_by_what_all_variants_before_it_leave_uncovered() -> None:
    spec = group(
        32,
        variant("a", 8, maxReplicas=2),
        variant("b", 10, maxReplicas=1),
        variant("c", 8),
    )
    assert replicas(split(spec, {}, now=NOW)) == {"a": 2, "b": 1, "c": 1}


def test_a_third_variant_carrying_a_stocked_out_share_is_a_substitute() -> None:
    """a is out of stock; b (at its maxReplicas) and c carry a's share: both substitute for it,
    neither is serving a share of its own."""
    spec = group(32, variant("a", 8), variant("b", 10, maxReplicas=1), variant("c", 8))
    result = split(spec, {"a": Obs(offerings_unavailable=True)}, now=NOW)
    assert replicas(result) == {"a": 0, "b": 1, "c": 3}
    assert result["b"].state is VariantState.SUBSTITUTING
    assert result["c"].state is VariantState.SUBSTITUTING


@pytest.mark.parametrize(
    "a_obs",
    [
        Obs(replicas=2, ready=2),
        Obs(replicas=2, pending=2, pending_since=NOW),
    ],
    ids=["a's replicas are Ready", "a's replicas are coming up"],
)
def test_a_substitute_names_the_variant_that_falls_short_not_one_that_serves_its_share(
    a_obs: Obs,
) -> None:
    """a serves its (capped) share, b is out of stock, c carries b's share: c's cause is b's
    stockout."""
    spec = group(32, variant("a", 8, maxReplicas=2), variant("b", 10), variant("c", 8))
    observed = {"a": a_obs, "b": Obs(offerings_unavailable=True)}
    result = split(spec, observed, now=NOW, memory={"a": VariantMemory(ready=a_obs.ready)})
    assert replicas(result) == {"a": 2, "b": 0, "c": 2}
    assert result["c"].cause is Cause.STOCKOUT
    assert "for b (stockout)" in result["c"].reason


@pytest.mark.parametrize(
    "memory",
    [
        VariantMemory(ready=4),
        VariantMemory(ready=4, unobtainable_since=after(-1000), obtainable_since=after(-500)),
    ],
    ids=["steady", "just back from a stockout"],
)
def test_capacity_short_because_of_a_planned_disruption_is_carried_for_that_reason(
    memory: VariantMemory,
) -> None:
    """v6e is at its maxReplicas of 4 and two of them are on nodes being disrupted: it cannot
    surge, so h100 carries the two replicas' share, for the planned disruption."""
    spec = group(32, variant("v6e", 8, maxReplicas=4), variant("h100", 10))
    observed = {"v6e": Obs(replicas=4, ready=4, disrupted=2)}
    result = split(spec, observed, now=NOW, memory={"v6e": memory})
    assert replicas(result) == {"v6e": 4, "h100": 2}
    assert result["h100"].cause is Cause.PLANNED_DISRUPTION
    assert result["v6e"].memory.disrupted == 2


def test_a_variant_whose_share_equals_its_min_replicas_is_filled_for_its_share() -> None:
    spec = group(32, variant("v6e", 8, minReplicas=4), variant("h100", 10))
    result = split(spec, {}, now=NOW)
    assert replicas(result) == {"v6e": 4, "h100": 0}
    assert (result["v6e"].state, result["v6e"].cause) == (VariantState.PREFERRED, Cause.FILL)


def test_a_variant_that_already_has_its_share_is_steady() -> None:
    result = split(group(32), {"v6e": Obs(replicas=4, ready=4)}, now=NOW)
    assert replicas(result) == {"v6e": 4, "h100": 0}
    assert result["v6e"].cause is Cause.STEADY


def test_a_substitute_already_at_its_target_is_steady_not_growing() -> None:
    """The stockout was answered last pass: h100 already runs the 4 replicas it carries, so
    this pass changes nothing and says so."""
    observed = {"v6e": Obs(offerings_unavailable=True), "h100": Obs(replicas=4, ready=4)}
    result = split(group(32), observed, now=NOW)
    assert replicas(result) == {"v6e": 0, "h100": 4}
    assert result["h100"].state is VariantState.SUBSTITUTING
    assert result["h100"].cause is Cause.STEADY


def test_a_split_that_covers_its_capacity_is_not_degraded_and_gives_no_reason_for_it() -> None:
    """``ccc plan`` prints ``degradedReason`` whatever the split: empty when nothing is short."""
    result = split(group(32), {"v6e": Obs(replicas=4, ready=4)}, now=NOW)
    assert result.degraded is False
    assert result.degraded_reason == ""
