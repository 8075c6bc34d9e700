"""The decide step: a snapshot in, one plan per class with pending pods out (the same call
``ccc plan`` and ``ccc run`` make)."""

from __future__ import annotations

from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, OfferingKey, region_of
from ccc.controller.decide import Snapshot, decide, pods_by_class
from policies.obtainability import ObtainabilityMemory
from policies.tiers import CompiledClass
from tests.builders import H100, NOW, catalog, make_class, make_pods, make_rule


def _snapshot(**kw: object) -> Snapshot:
    cc = make_class(make_rule(gpu=H100, spot=True), name="gpu")
    cc.metadata.generation = 4
    base: dict[str, object] = {
        "now": NOW,
        "classes": {"gpu": cc},
        "pending": [make_pods(2), make_pods(1)],
    }
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_pods_are_grouped_by_class_with_identical_templates_merged() -> None:
    a, b = make_pods(2), make_pods(3)
    other = make_pods(1, class_name="cpu", gpus=0)
    plain = make_pods(1).model_copy(update={"node_selector": {}})
    grouped = pods_by_class([a, other, b, plain])
    assert set(grouped) == {"gpu", "cpu"}
    assert [p.count for p in grouped["gpu"]] == [5]
    assert [p.count for p in grouped["cpu"]] == [1]


def test_one_plan_per_class_and_the_first_viable_attempt_only_by_default() -> None:
    decisions = decide(_snapshot(), catalog())
    plan = decisions.plans["gpu"]
    (group,) = plan.groups
    assert group.pods == 3
    assert [a.decision for a in group.attempts] == ["create"]
    assert group.attempts[0].nodes == 3
    full = decide(_snapshot(), catalog(), max_viable=None).plans["gpu"].groups[0]
    assert len(full.attempts) == 2
    assert decisions.compiled["gpu"].name == "gpu"
    assert decisions.orphans == {}


def test_pods_of_a_missing_class_are_orphans_and_other_classes_still_plan() -> None:
    ghost = make_pods(2, class_name="ghost")
    decisions = decide(_snapshot(pending=[ghost, make_pods(1)]), catalog())
    assert [p.count for p in decisions.orphans["ghost"]] == [2]
    assert list(decisions.plans) == ["gpu"]


def test_the_memory_of_each_class_is_applied() -> None:
    key = OfferingKey(
        machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
    )
    memory = ObtainabilityMemory().record_failure(key, reason="R", message="", now=NOW)
    chosen = decide(_snapshot(memory={"gpu": memory}), catalog()).plans["gpu"].groups[0].chosen
    assert chosen is not None and chosen.zone == "us-central1-b"


def test_the_snapshot_cluster_bounds_every_attempt() -> None:
    cc = make_class(make_rule(gpu=H100, spot=True, zones=None), name="gpu")
    cluster = ClusterLocation(region="us-east4", zones=("us-east4-b",))
    decisions = decide(_snapshot(classes={"gpu": cc}, cluster=cluster), catalog(), max_viable=None)
    zones = [a.zone for a in decisions.plans["gpu"].attempts]
    assert zones == ["us-east4-b"] and all(region_of(z) == "us-east4" for z in zones)
    legacy = decide(_snapshot(classes={"gpu": cc}, default_zones=["us-central1-c"]), catalog())
    assert legacy.plans["gpu"].groups[0].attempts[0].zone == "us-central1-c"


def test_a_compiled_class_is_reused_for_the_same_generation_and_recompiled_for_a_new_one() -> None:
    cache: dict[tuple[str, int | None], CompiledClass] = {}
    first = decide(_snapshot(), catalog(), compiled_cache=cache).compiled["gpu"]
    assert cache == {("gpu", 4): first}
    again = decide(_snapshot(), catalog(), compiled_cache=cache).compiled["gpu"]
    assert again is first
    cc = make_class(make_rule(gpu=H100, spot=False), name="gpu")
    cc.metadata.generation = 5
    newer = decide(_snapshot(classes={"gpu": cc}), catalog(), compiled_cache=cache).compiled["gpu"]
    assert newer is not first and ("gpu", 5) in cache
    unversioned = make_class(make_rule(gpu=H100), name="gpu")
    got = decide(_snapshot(classes={"gpu": unversioned}), catalog(), compiled_cache=cache)
    assert ("gpu", None) not in cache and got.compiled["gpu"] is not first
