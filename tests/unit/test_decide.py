"""The decide step plans inside the cluster's location and executes multi-pool attempts one
pool at a time (the same call ``ccc plan`` and ``ccc run`` make); see
tests/unit/test_policies_decide.py for judging, repair and provisioning in general."""

from __future__ import annotations

from dataclasses import replace

from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, OfferingKey, region_of
from policies.commands import Provision
from policies.decide import decide, pods_by_class
from policies.obtainability import ObtainabilityMemory
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState
from tests.builders import H100, NOW, catalog, make_class, make_pods, make_rule


def _snapshot(**kw: object) -> ClusterSnapshot:
    cc = make_class(make_rule(gpu=H100, spot=True), name="gpu")
    base: dict[str, object] = {
        "now": NOW,
        "classes": {"gpu": cc},
        "pending": [make_pods(2), make_pods(1)],
    }
    base.update(kw)
    return ClusterSnapshot(**base)  # type: ignore[arg-type]


def test_pods_are_grouped_by_class_with_identical_templates_merged() -> None:
    a, b = make_pods(2), make_pods(3)
    other = make_pods(1, class_name="cpu", gpus=0)
    plain = make_pods(1).model_copy(update={"node_selector": {}})
    grouped = pods_by_class([a, other, b, plain])
    assert set(grouped) == {"gpu", "cpu"}
    assert [p.count for p in grouped["gpu"]] == [5]
    assert [p.count for p in grouped["cpu"]] == [1]


def test_one_plan_per_class_and_the_first_viable_attempt_only_by_default() -> None:
    decision = decide(_snapshot(), ControllerState(), catalog())
    (group,) = decision.plans["gpu"].groups
    assert group.pods == 3
    assert [a.decision for a in group.attempts] == ["create"]
    assert group.attempts[0].nodes == 3
    full = decide(_snapshot(), ControllerState(), catalog(), Settings(max_viable=None))
    assert len(full.plans["gpu"].groups[0].attempts) == 2
    assert decision.compiled["gpu"].name == "gpu"
    assert decision.orphans == {}


def test_the_memory_of_each_class_is_applied() -> None:
    key = OfferingKey(
        machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
    )
    memory = ObtainabilityMemory().record_failure(key, reason="R", message="", now=NOW)
    state = ControllerState(memory={"gpu": memory})
    chosen = decide(_snapshot(), state, catalog()).plans["gpu"].groups[0].chosen
    assert chosen is not None and chosen.zone == "us-central1-b"


def test_the_cluster_location_in_the_settings_bounds_every_attempt() -> None:
    cc = make_class(make_rule(gpu=H100, spot=True, zones=None), name="gpu")
    cluster = ClusterLocation(region="us-east4", zones=("us-east4-b",))
    settings = Settings(cluster=cluster, max_viable=None)
    decision = decide(_snapshot(classes={"gpu": cc}), ControllerState(), catalog(), settings)
    zones = [a.zone for a in decision.plans["gpu"].attempts]
    assert zones == ["us-east4-b"] and all(region_of(z) == "us-east4" for z in zones)
    assert decision.plans["gpu"].cluster == cluster
    zoned = Settings(default_zones=["us-central1-c"])
    legacy = decide(_snapshot(classes={"gpu": cc}), ControllerState(), catalog(), zoned)
    assert legacy.plans["gpu"].groups[0].attempts[0].zone == "us-central1-c"


def test_a_balanced_attempt_is_one_provision_per_pool_with_its_own_nodes_and_zone() -> None:
    rule = make_rule(gpu=H100, spot=True, zones=["us-central1-a", "us-central1-b"])
    rule["location"]["locationPolicy"] = "BALANCED"
    cc = make_class(rule, name="gpu")
    decision = decide(
        _snapshot(classes={"gpu": cc}, pending=[make_pods(3)]), ControllerState(), catalog()
    )
    (chosen,) = [g.chosen for g in decision.plans["gpu"].groups]
    assert chosen is not None and len(chosen.placements) == 2
    provisions = [c for c in decision.commands if isinstance(c, Provision)]
    assert [(c.attempt.zone, c.attempt.nodes, c.attempt.target_nodes) for c in provisions] == [
        ("us-central1-a", 2, 2),
        ("us-central1-b", 1, 1),
    ]
    assert [c.pool for c in provisions] == [p.node_pool for p in chosen.placements]
    assert all(c.attempt.spec is not None and not c.attempt.placements for c in provisions)
    assert [c.attempt.spec.zone for c in provisions if c.attempt.spec] == [
        "us-central1-a",
        "us-central1-b",
    ]
    priced = replace(chosen, price_per_hour=30.0)
    assert [part.price_per_hour for part in priced.parts()] == [20.0, 10.0]


def test_a_pool_with_a_call_running_gets_no_second_request_but_its_sibling_does() -> None:
    rule = make_rule(gpu=H100, spot=True, zones=["us-central1-a", "us-central1-b"])
    rule["location"]["locationPolicy"] = "BALANCED"
    cc = make_class(rule, name="gpu")
    snap = _snapshot(classes={"gpu": cc}, pending=[make_pods(2)])
    first = decide(snap, ControllerState(), catalog())
    pools = [c.pool for c in first.commands if isinstance(c, Provision)]
    assert len(pools) == 2
    busy = ControllerState(calls=frozenset({pools[0]}))
    second = decide(snap, busy, catalog())
    assert [c.pool for c in second.commands if isinstance(c, Provision)] == [pools[1]]
