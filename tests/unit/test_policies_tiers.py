"""Compiling ComputeClasses into ordered tiers (pure, table-driven; reference
gke-computeclass.md §2.2 rule fields, §2.3 reservations, §3.2 walking the priority list)."""

from __future__ import annotations

import pytest

from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, NodePool, NodePoolName
from policies.tiers import capacity_types_of, compile_class
from tests.builders import H100, catalog, make_class, make_rule

US_CENTRAL1_AB = ClusterLocation(region="us-central1", zones=("us-central1-a", "us-central1-b"))


def test_rules_keep_declaration_order_without_priority_scores() -> None:
    cc = make_class(make_rule(spot=True), make_rule(spot=False), make_rule("g2-standard-8"))
    assert compile_class(cc, catalog()).order == (0, 1, 2)


def test_priority_score_orders_rules_highest_first_and_ties_by_lowest_price() -> None:
    cc = make_class(
        make_rule("a2-highgpu-1g", priorityScore=10),
        make_rule("a3-highgpu-1g", zones=["us-central1-a"], priorityScore=50),
        make_rule("g2-standard-8", zones=["us-central1-a"], priorityScore=50),
    )
    # g2-standard-8 (0.85 $/h) is cheaper than a3-highgpu-1g (11.06 $/h) in us-central1.
    assert compile_class(cc, catalog()).order == (2, 1, 0)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (make_rule(spot=True), (CapacityType.SPOT,)),
        (make_rule(spot=False), (CapacityType.ON_DEMAND,)),
        (make_rule(flexStart={"enabled": True}), (CapacityType.FLEX_START,)),
        (
            make_rule(
                zones=None, reservations={"affinity": "Specific", "specific": [{"name": "r1"}]}
            ),
            (CapacityType.RESERVATION,),
        ),
        # §2.3: AnyBestEffort is the rule's own attempt, consuming a reservation inside it.
        (
            make_rule(reservations={"affinity": "AnyBestEffort"}, spot=False),
            (CapacityType.ON_DEMAND,),
        ),
        (
            make_rule(reservations={"affinity": "AnyThenFail"}, spot=False),
            (CapacityType.RESERVATION,),
        ),
        (make_rule(reservations={"affinity": "None"}, spot=True), (CapacityType.SPOT,)),
    ],
)
def test_capacity_types_follow_the_reservation_affinity_and_price_model(
    rule: dict[str, object], expected: tuple[CapacityType, ...]
) -> None:
    cc = make_class(rule)
    assert capacity_types_of(cc.spec.priorities[0]) == expected


def test_rule_zones_override_priority_defaults_which_override_the_cluster_zones() -> None:
    cc = make_class(
        make_rule(zones=["us-central1-b"]),
        make_rule(zones=None),
        priorityDefaults={"location": {"zones": ["us-central1-c"]}},
    )
    tiers = compile_class(cc, catalog()).tiers
    assert tiers[0].zones == ("us-central1-b",)
    assert tiers[1].zones == ("us-central1-c",)
    plain = compile_class(make_class(make_rule(zones=None)), catalog(), cluster=US_CENTRAL1_AB)
    assert plain.tiers[0].zones == ("us-central1-a", "us-central1-b")


def test_zones_that_do_not_offer_the_machine_type_are_dropped_with_a_reason() -> None:
    cc = make_class(make_rule(zones=["us-central1-a", "antarctica1-a"]))
    compiled = compile_class(cc, catalog())
    assert compiled.tiers[0].zones == ("us-central1-a",)
    assert compiled.problems[0].path == "spec.priorities[0].location.zones"
    assert "antarctica1-a" in compiled.problems[0].message


def test_unknown_machine_type_is_a_problem_with_the_field_path_not_an_exception() -> None:
    cc = make_class(make_rule("zz9-standard-8"), make_rule())
    compiled = compile_class(cc, catalog())
    assert [t.rule_index for t in compiled.tiers] == [1]
    assert compiled.problems[0].path == "spec.priorities[0].machineType"
    assert "ccc catalog" in compiled.problems[0].message


def test_gpu_rule_without_machine_type_lists_matching_shapes_smallest_first() -> None:
    cc = make_class(make_rule(None, gpu={"type": "nvidia-l4", "count": 1}, zones=None))
    tier = compile_class(cc, catalog()).tiers[0]
    names = [m.name for m in tier.machines]
    assert names[0] == "g2-standard-4"
    assert all(m.accelerator is not None and m.accelerator.count == 1 for m in tier.machines)
    vcpus = [m.vcpus for m in tier.machines]
    assert vcpus == sorted(vcpus)


def test_machine_family_with_min_cores_filters_the_catalog() -> None:
    cc = make_class(make_rule(None, machineFamily="a3", minCores=100, zones=None))
    tier = compile_class(cc, catalog()).tiers[0]
    assert tier.machines and all(m.family == "a3" and m.vcpus >= 100 for m in tier.machines)


def test_multi_host_tpu_rule_resolves_machine_type_and_hosts_per_slice() -> None:
    cc = make_class(
        make_rule(
            None,
            zones=["us-central1-a"],
            tpu={"type": "tpu-v5-lite-podslice", "count": 4, "topology": "4x4"},
        )
    )
    tier = compile_class(cc, catalog()).tiers[0]
    assert tier.machines[0].name == "ct5lp-hightpu-4t"
    assert tier.hosts_per_slice == 4


def test_gpu_that_contradicts_the_machine_type_is_reported() -> None:
    cc = make_class(make_rule("a3-highgpu-8g", gpu={"type": "nvidia-l4", "count": 1}))
    compiled = compile_class(cc, catalog())
    assert not compiled.tiers
    assert compiled.problems[0].path == "spec.priorities[0].gpu"


def test_nodepools_rule_uses_existing_pools_and_reports_missing_ones() -> None:
    cc = make_class({"nodepools": ["pool-a", "pool-gone"]}, make_rule(gpu=H100))
    pool = NodePool(
        name=NodePoolName("pool-a"),
        machine_type="a3-highgpu-8g",
        zones=("us-central1-a",),
        node_count=1,
        capacity_type=CapacityType.ON_DEMAND,
    )
    tier = compile_class(cc, catalog(), node_pools=[pool]).tiers[0]
    assert [p.name for p in tier.existing_pools] == ["pool-a"]
    assert tier.missing_pools == ("pool-gone",)


def test_priority_defaults_location_is_not_applied_to_nodepools_rules() -> None:
    cc = make_class(
        {"nodepools": ["pool-a"]}, priorityDefaults={"location": {"zones": ["us-central1-c"]}}
    )
    tier = compile_class(cc, catalog()).tiers[0]
    assert tier.zones == ()
