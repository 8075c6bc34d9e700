"""``nodePoolAutoCreation`` and existing pools (reference gke-computeclass.md §2.1: default
``enabled: false``; §3.1: manual pools join a class through its label and taint, and intent
rules are matched against them before pools are created; §3.6: ``nodepools`` rules)."""

from __future__ import annotations

import pytest

from ccc.api import labels as L
from ccc.api.values import CapacityType, Taint
from ccc.api.workload import PodRequest
from policies.naming import node_pool_name
from policies.tiers import auto_creation_enabled, compile_class
from policies.warnings import auto_creation_warning
from tests.builders import (
    H100,
    catalog,
    make_class,
    make_pods,
    make_pool,
    make_rule,
    viable,
    walk,
)

ZONE_A, ZONE_B = "us-central1-a", "us-central1-b"


def gke_pods(count: int = 1) -> PodRequest:
    """Pods as a GKE user writes them: selecting cloud.google.com/compute-class."""
    return make_pods(count, class_key=L.GKE_CLASS_LABEL)


@pytest.mark.parametrize(
    ("nac", "autopilot", "expected"),
    [
        (None, None, False),  # unset: GKE's default is disabled
        ({"enabled": False}, None, False),
        ({"enabled": True}, None, True),
        # Autopilot classes must say so explicitly (GKE's CRD refuses them otherwise)
        ({"enabled": True}, {"enabled": True}, True),
    ],
)
def test_auto_creation_is_enabled_only_when_the_class_says_so(
    nac: dict[str, bool] | None, autopilot: dict[str, bool] | None, expected: bool
) -> None:
    spec: dict[str, object] = {}
    if nac is not None:
        spec["nodePoolAutoCreation"] = nac
    if autopilot is not None:
        spec["autopilot"] = autopilot
    cc = make_class(make_rule(), auto_create=None, **spec)
    assert auto_creation_enabled(cc) is expected


@pytest.mark.parametrize("auto_create", [None, False])
def test_without_auto_creation_no_pool_is_created_and_each_skip_says_why(
    auto_create: bool | None,
) -> None:
    cc = make_class(make_rule(gpu=H100, spot=True), auto_create=auto_create)
    plan = walk(cc, make_pods(1))
    assert plan.chosen is None
    assert [a.zone for a in plan.attempts] == [ZONE_A, ZONE_B]
    assert all("nodePoolAutoCreation is not enabled" in a.reason for a in plan.attempts)
    warning = auto_creation_warning(cc, compile_class(cc, catalog()))
    assert warning is not None and warning.startswith("spec.nodePoolAutoCreation:")


def test_without_auto_creation_an_existing_ccc_pool_of_the_rule_is_still_scaled() -> None:
    cc = make_class(make_rule(gpu=H100, spot=True), auto_create=False)
    name = node_pool_name("gpu", 0, "a3-highgpu-8g", ZONE_B, CapacityType.SPOT)
    pool = make_pool(
        name, zone=ZONE_B, nodes=2, capacity_type=CapacityType.SPOT, key=L.CLASS_LABEL, managed=True
    )
    plan = walk(cc, make_pods(3), node_pools=[pool])
    chosen = plan.chosen
    assert chosen is not None
    assert (chosen.decision, chosen.node_pool, chosen.target_nodes) == ("scale", name, 5)
    assert plan.attempts[0].decision == "skip" and plan.attempts[0].zone == ZONE_A


@pytest.mark.parametrize("auto_create", [True, False, None])
def test_a_manual_pool_with_the_class_label_and_taint_is_scaled_before_pools_are_created(
    auto_create: bool | None,
) -> None:
    cc = make_class(make_rule(gpu=H100, spot=False), auto_create=auto_create)
    manual = make_pool("team-h100", zone=ZONE_B, nodes=1)
    plan = walk(cc, gke_pods(2), node_pools=[manual])
    chosen = plan.chosen
    assert chosen is not None
    assert (chosen.decision, chosen.node_pool, chosen.zone) == ("scale", "team-h100", ZONE_B)
    assert chosen.target_nodes == 3
    assert "manual node pool" in chosen.reason
    creates = [a for a in viable(plan) if a.decision == "create"]
    assert bool(creates) is bool(auto_create)


@pytest.mark.parametrize(
    ("pool_kwargs", "why"),
    [
        ({"machine_type": "a3-highgpu-4g"}, "another machine type"),
        ({"capacity_type": CapacityType.SPOT}, "another capacity type"),
        ({"zone": "us-central1-c"}, "a zone outside the rule"),
        ({"class_name": "other"}, "another class"),
        ({"class_name": None}, "no class label"),
        ({"managed": True}, "a ccc-created pool (matched by name only)"),
    ],
)
def test_pools_that_do_not_match_the_rule_are_not_used(
    pool_kwargs: dict[str, object], why: str
) -> None:
    cc = make_class(make_rule(gpu=H100, spot=False), auto_create=False)
    pool = make_pool("p", **pool_kwargs)
    plan = walk(cc, make_pods(1), node_pools=[pool])
    assert plan.chosen is None, why
    assert all(a.node_pool != "p" for a in plan.attempts), why


def test_a_labelled_pool_without_the_taint_is_not_part_of_the_class_and_says_so() -> None:
    cc = make_class(make_rule(gpu=H100, spot=False), auto_create=False)
    plan = walk(cc, make_pods(1), node_pools=[make_pool("half", tainted=False)])
    assert plan.chosen is None
    (note,) = [a for a in plan.attempts if a.node_pool == "half"]
    assert note.decision == "skip" and "not the taint" in note.reason


def test_the_ccc_class_key_also_marks_a_manual_pool() -> None:
    cc = make_class(make_rule(gpu=H100, spot=False), auto_create=False)
    plan = walk(cc, make_pods(1), node_pools=[make_pool("p", key=L.CLASS_LABEL)])
    assert plan.chosen is not None and plan.chosen.node_pool == "p"


def test_a_manual_pool_named_by_a_nodepools_rule_is_only_used_by_that_rule() -> None:
    cc = make_class(make_rule(gpu=H100, spot=False), {"nodepools": ["p"]}, auto_create=False)
    pool = make_pool("p")
    plan = walk(cc, make_pods(1), node_pools=[pool])
    used = [a for a in plan.attempts if a.node_pool == "p"]
    assert [a.rule for a in used] == [1]


def test_a_pool_without_the_label_the_pods_select_cannot_take_them() -> None:
    # The scheduler matches labels exactly: pods selecting ccc.dev/compute-class do not land
    # on a pool labelled only with GKE's key.
    cc = make_class({"nodepools": ["a"]}, auto_create=None)
    plan = walk(cc, make_pods(1), node_pools=[make_pool("a")])
    assert plan.chosen is None
    assert "node selector ccc.dev/compute-class=gpu does not match" in plan.attempts[0].reason


def test_nodepools_rules_scale_named_pools_in_order_and_report_missing_ones() -> None:
    cc = make_class({"nodepools": ["gone", "a", "b"]}, auto_create=None)
    pools = [make_pool("a", zone=ZONE_A, nodes=2), make_pool("b", zone=ZONE_B)]
    plan = walk(cc, gke_pods(1), node_pools=pools)
    assert [(a.node_pool, a.decision) for a in plan.attempts] == [
        ("gone", "skip"),
        ("a", "scale"),
        ("b", "scale"),
    ]
    assert "does not exist" in plan.attempts[0].reason
    assert plan.attempts[1].target_nodes == 3


def test_a_nodepools_pool_whose_offering_is_backed_off_is_skipped() -> None:
    from datetime import timedelta

    from ccc.api.values import OfferingKey
    from policies.obtainability import ObtainabilityMemory
    from tests.builders import NOW

    memory = ObtainabilityMemory().record_failure(
        OfferingKey(
            machine_type="a3-highgpu-8g", zone=ZONE_A, capacity_type=CapacityType.ON_DEMAND
        ),
        reason="GCE_STOCKOUT",
        message="",
        now=NOW - timedelta(seconds=1),
    )
    cc = make_class({"nodepools": ["a", "b"]}, auto_create=None)
    plan = walk(
        cc,
        gke_pods(1),
        node_pools=[make_pool("a", zone=ZONE_A), make_pool("b", zone=ZONE_B)],
        memory=memory,
    )
    assert [a.decision for a in plan.attempts] == ["skip", "scale"]
    assert "GCE_STOCKOUT" in plan.attempts[0].reason


def test_a_multi_host_tpu_manual_pool_is_never_grown() -> None:
    cc = make_class(
        make_rule(
            None,
            zones=["us-central1-a"],
            tpu={"type": "tpu-v5-lite-podslice", "count": 4, "topology": "4x4"},
        ),
        auto_create=False,
    )
    pool = make_pool(
        "slice",
        machine_type="ct5lp-hightpu-4t",
        labels={L.GKE_TPU_TOPOLOGY_LABEL: "4x4"},
        nodes=4,
    )
    plan = walk(cc, make_pods(4, gpus=0, tpus=4, cpu_m=1000, memory_gib=8), node_pools=[pool])
    (note,) = [a for a in plan.attempts if a.node_pool == "slice"]
    assert note.decision == "skip" and "multi-host TPU slice" in note.reason


def test_only_the_class_taint_with_the_class_name_makes_a_labelled_pool_a_member() -> None:
    cc = make_class(make_rule(gpu=H100, spot=False), auto_create=False)
    other_value = make_pool("x", tainted=False)
    other_value = other_value.model_copy(
        update={"taints": (Taint(key=L.GKE_CLASS_LABEL, value="other", effect="NoSchedule"),)}
    )
    other_key = make_pool("y", tainted=False).model_copy(
        update={"taints": (Taint(key="dedicated", value="gpu", effect="NoSchedule"),)}
    )
    plan = walk(cc, gke_pods(1), node_pools=[other_value, other_key])
    assert plan.chosen is None
    assert {a.node_pool for a in plan.attempts if "not the taint" in a.reason} == {"x", "y"}
