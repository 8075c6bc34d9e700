"""Rules of policies/plan.py: an attempt's parts are what the controller executes, one
provider call per pool (docs/plan.md); the plan's JSON names where the cluster's location came
from."""

from __future__ import annotations

import pytest

from ccc.api.location import ClusterLocation
from ccc.api.values import Accelerator, AcceleratorKind, CapacityType
from policies.plan import Attempt, Placement, Plan

ZONES = ("us-central1-a", "us-central1-b")


def _attempt(**kw: object) -> Attempt:
    fields: dict[str, object] = {
        "rule": 0,
        "zone": ZONES[0],
        "capacity_type": CapacityType.ON_DEMAND,
        "machine_type": "a3-highgpu-8g",
        "node_pool": "pool-a",
        "accelerator": None,
        "nodes": 3,
        "price_per_hour": 30.0,
        "decision": "create",
        "reason": "",
    }
    fields.update(kw)
    return Attempt(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(_attempt(decision="skip"), id="skip-naming-a-pool"),
        pytest.param(_attempt(decision="skip", node_pool=None), id="skip"),
        pytest.param(_attempt(node_pool=None), id="no-pool"),
    ],
)
def test_a_skip_or_an_attempt_without_a_pool_has_nothing_to_execute(attempt: Attempt) -> None:
    assert attempt.parts() == ()


def test_a_single_pool_attempt_is_its_own_only_part() -> None:
    attempt = _attempt()
    assert attempt.parts() == (attempt,)


@pytest.mark.parametrize("price", [10.0, None])
def test_a_spread_attempts_parts_are_its_placements_each_with_its_share_of_the_price(
    price: float | None,
) -> None:
    """A BALANCED batch over two zones: one existing pool grows by 1 node, one pool is
    created with 2; each part carries its placement's pool, zone, decision, size and pods,
    and the price shared out by nodes (unknown stays unknown)."""
    placements = (
        Placement(ZONES[0], "pool-a", 1, "scale", target_nodes=3, pods=1),
        Placement(ZONES[1], "pool-b", 2, "create", target_nodes=2, pods=2),
    )
    attempt = _attempt(placements=placements, price_per_hour=price, pods=3)
    parts = attempt.parts()
    assert [(p.zone, p.node_pool, p.decision, p.nodes, p.target_nodes, p.pods) for p in parts] == [
        (ZONES[0], "pool-a", "scale", 1, 3, 1),
        (ZONES[1], "pool-b", "create", 2, 2, 2),
    ]
    assert all(p.placements == () and p.parts() == (p,) for p in parts)
    prices = [p.price_per_hour for p in parts]
    if price is None:
        assert prices == [None, None]
    else:
        assert prices == [pytest.approx(10 / 3, abs=1e-3), pytest.approx(20 / 3, abs=1e-3)]


def test_a_plans_json_says_where_the_cluster_location_came_from() -> None:
    cluster = ClusterLocation(region="us-central1", zones=ZONES, source="class zones")
    plan = Plan(class_name="gpu", groups=(), outcome="", cluster=cluster)
    assert plan.to_json()["locationSource"] == "class zones"
    assert Plan(class_name="gpu", groups=(), outcome="").to_json()["locationSource"] == ""


H100 = Accelerator(kind=AcceleratorKind.GPU, type="nvidia-h100-80gb", count=1)
H100_X8 = Accelerator(kind=AcceleratorKind.GPU, type="nvidia-h100-80gb", count=8)


def test_a_single_pool_attempt_lists_itself_with_its_machine_and_accelerator() -> None:
    attempt = _attempt(accelerator=H100_X8)
    (only,) = attempt.all_placements()
    assert (only.zone, only.node_pool, only.machine_type, only.accelerator) == (
        ZONES[0],
        "pool-a",
        "a3-highgpu-8g",
        H100_X8,
    )


def test_each_part_of_a_spread_provisions_its_own_placements_machine_and_accelerator() -> None:
    """Zones of one BALANCED spread may get different machine types: the provider call of each
    pool names that pool's machine and accelerator, not the first zone's. A placement that
    names no machine (built by hand) keeps the attempt's."""
    placements = (
        Placement(ZONES[0], "pool-a", 1, "create", 1, 1, None, "a3-highgpu-1g", H100),
        Placement(ZONES[1], "pool-b", 1, "create", 1, 8, None, "a3-megagpu-8g", H100_X8),
        Placement(ZONES[1], "pool-c", 1, "create", 1, 8),
    )
    attempt = _attempt(machine_type="a3-highgpu-1g", accelerator=H100, placements=placements)
    assert [(p.node_pool, p.machine_type, p.accelerator) for p in attempt.parts()] == [
        ("pool-a", "a3-highgpu-1g", H100),
        ("pool-b", "a3-megagpu-8g", H100_X8),
        ("pool-c", "a3-highgpu-1g", H100),
    ]
