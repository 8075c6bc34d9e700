"""Packing as the nodes will really advertise, and machine choice per zone (reference
gke-computeclass.md §2.2: ``gpu.gpuSharing``, ``maxPodsPerNode``, ``location.locationPolicy``,
``priorityScore``; §3.2: equal scores are broken by the lowest unit cost; a machine type is
paired only with zones that offer it)."""

from __future__ import annotations

import pytest

from ccc.api.gke_facts import mig_partitions_per_gpu
from ccc.api.values import CapacityType
from policies.packing import gpus_advertised, node_allocatable, nodes_needed
from policies.tiers import compile_class, unit_price
from tests.builders import US_CENTRAL1, catalog, make_class, make_pods, make_rule, viable, walk

A, B, C = "us-central1-a", "us-central1-b", "us-central1-c"
L4 = {"type": "nvidia-l4", "count": 1}


def _one_gpu_pods(count: int, **kw: object) -> object:
    return make_pods(count, gpus=1, cpu_m=500, memory_gib=1, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sharing", "pods", "nodes"),
    [
        (None, 8, 8),
        ({"sharingStrategy": "TIME_SHARING", "maxSharedClientsPerGPU": 4}, 8, 2),
        ({"sharingStrategy": "MPS", "maxSharedClientsPerGPU": 8}, 8, 1),
        ({"sharingStrategy": "TIME_SHARING"}, 8, 4),  # default: 2 clients per GPU
    ],
)
def test_gpu_sharing_multiplies_the_gpus_a_node_advertises(
    sharing: dict[str, object] | None, pods: int, nodes: int
) -> None:
    gpu = dict(L4, gpuSharing=sharing) if sharing else L4
    cc = make_class(make_rule("g2-standard-8", gpu=gpu, zones=[A]))
    chosen = walk(cc, _one_gpu_pods(pods)).chosen  # type: ignore[arg-type]
    assert chosen is not None and chosen.nodes == nodes


def test_shared_gpu_nodes_carry_gke_sharing_labels_pods_may_select() -> None:
    gpu = dict(L4, gpuSharing={"sharingStrategy": "TIME_SHARING", "maxSharedClientsPerGPU": 3})
    cc = make_class(make_rule("g2-standard-8", gpu=gpu, zones=[A]))
    pods = _one_gpu_pods(
        3,
        selector={
            "cloud.google.com/gke-gpu-sharing-strategy": "time-sharing",
            "cloud.google.com/gke-max-shared-clients-per-gpu": "3",
        },
    )
    chosen = walk(cc, pods).chosen  # type: ignore[arg-type]
    assert chosen is not None and chosen.nodes == 1
    assert chosen.spec is not None and chosen.spec.gpu_max_shared_clients == 3


@pytest.mark.parametrize(
    ("gpu_type", "size", "partitions"),
    [
        ("nvidia-tesla-a100", "1g.5gb", 7),
        ("nvidia-tesla-a100", "2g.10gb", 3),
        ("nvidia-tesla-a100", "3g.20gb", 2),
        ("nvidia-tesla-a100", "7g.40gb", 1),
        ("nvidia-h100-80gb", "1g.10gb", 7),
        ("nvidia-h100-80gb", "1g.20gb", 4),
        ("nvidia-h100-80gb", "3g.40gb", 2),
        ("nvidia-h200-141gb", "1g.18gb", 7),
        ("nvidia-l4", "1g.5gb", None),  # not MIG-capable
        ("nvidia-tesla-a100", "9g.5gb", None),
        ("nvidia-tesla-a100", "bogus", None),
    ],
)
def test_mig_partitions_per_gpu_follow_nvidia_profiles(
    gpu_type: str, size: str, partitions: int | None
) -> None:
    assert mig_partitions_per_gpu(gpu_type, size) == partitions


def test_mig_partitions_are_what_a_node_advertises() -> None:
    cc = make_class(
        make_rule(
            "a2-highgpu-2g",
            gpu={
                "type": "nvidia-tesla-a100",
                "count": 2,
                "gpuSharing": {"gpuPartitionSize": "1g.5gb"},
            },
            zones=[A],
        )
    )
    rule = cc.spec.priorities[0]
    m = catalog().machine_type("a2-highgpu-2g")
    assert m is not None
    assert gpus_advertised(m, rule) == 14
    assert gpus_advertised(m, None) == 2


@pytest.mark.parametrize(("max_pods", "nodes"), [(None, 1), (16, 4), (32, 2)])
def test_max_pods_per_node_caps_pods_per_node(max_pods: int | None, nodes: int) -> None:
    rule = make_rule("a3-highgpu-8g", zones=[A])
    if max_pods:
        rule["maxPodsPerNode"] = max_pods
    cc = make_class(rule)
    tiny = make_pods(60, gpus=0, cpu_m=100, memory_gib=1)
    chosen = walk(cc, tiny).chosen
    assert chosen is not None and chosen.nodes == nodes
    assert node_allocatable(
        catalog().machine_type("a3-highgpu-8g"), cc.spec.priorities[0]
    ).pods == (  # type: ignore[arg-type]
        max_pods or 110
    )


def test_balanced_spreads_one_batch_of_new_nodes_over_the_rule_zones() -> None:
    cc = make_class(
        make_rule(
            "a3-highgpu-8g",
            zones=[A, B, C],
            location={"zones": [A, B, C], "locationPolicy": "BALANCED"},
        )
    )
    chosen = walk(cc, make_pods(7)).chosen
    assert chosen is not None and chosen.nodes == 7
    per_zone = {p.zone: p.nodes for p in chosen.all_placements()}
    assert per_zone == {A: 3, B: 2, C: 2}
    assert sum(p.pods for p in chosen.all_placements()) == 7
    assert "locationPolicy BALANCED" in chosen.reason


def test_balanced_uses_only_as_many_zones_as_there_are_nodes() -> None:
    cc = make_class(
        make_rule(zones=None, location={"zones": [A, B, C], "locationPolicy": "BALANCED"})
    )
    chosen = walk(cc, make_pods(2)).chosen
    assert chosen is not None
    assert [(p.zone, p.nodes) for p in chosen.all_placements()] == [(A, 1), (B, 1)]


def test_balanced_skips_backed_off_zones_and_spreads_over_the_rest() -> None:
    from ccc.api.values import OfferingKey
    from policies.obtainability import ObtainabilityMemory
    from tests.builders import NOW

    memory = ObtainabilityMemory().record_failure(
        OfferingKey(machine_type="a3-highgpu-8g", zone=B, capacity_type=CapacityType.ON_DEMAND),
        reason="GCE_STOCKOUT",
        message="",
        now=NOW,
    )
    cc = make_class(
        make_rule(zones=None, location={"zones": [A, B, C], "locationPolicy": "BALANCED"})
    )
    plan = walk(cc, make_pods(4), memory=memory)
    assert plan.attempts[0].zone == B and plan.attempts[0].decision == "skip"
    chosen = plan.chosen
    assert chosen is not None
    assert {p.zone: p.nodes for p in chosen.all_placements()} == {A: 2, C: 2}


def test_balanced_from_priority_defaults_applies_to_rules_without_a_policy() -> None:
    cc = make_class(
        make_rule(zones=None),
        priorityDefaults={"location": {"zones": [A, B], "locationPolicy": "BALANCED"}},
    )
    chosen = walk(cc, make_pods(2)).chosen
    assert chosen is not None and len(chosen.all_placements()) == 2


def test_any_packs_the_whole_batch_into_the_first_zone() -> None:
    cc = make_class(make_rule(zones=None, location={"zones": [A, B, C], "locationPolicy": "ANY"}))
    plan = walk(cc, make_pods(7))
    chosen = plan.chosen
    assert chosen is not None and (chosen.zone, chosen.nodes) == (A, 7)
    assert chosen.placements == ()
    assert [a.zone for a in viable(plan)] == [A, B, C]


def test_a_gpu_rule_picks_per_zone_the_smallest_machine_offered_there() -> None:
    base = catalog()
    # Make the smallest L4 shape exist only in us-central1-b.
    machines = tuple(
        m.model_copy(update={"zones": (B,)}) if m.name == "g2-standard-4" else m
        for m in base.machine_types
    )
    cat = base.model_copy(update={"machine_types": machines})
    cc = make_class(make_rule(None, gpu=L4, zones=[A, B]))
    plan = walk(cc, _one_gpu_pods(1), cat=cat)  # type: ignore[arg-type]
    got = [(a.zone, a.machine_type) for a in viable(plan)]
    assert got == [(A, "g2-standard-8"), (B, "g2-standard-4")]
    for zone, machine in got:
        m = cat.machine_type(machine)
        assert m is not None and zone in m.zones


def test_pods_that_fit_only_a_machine_missing_from_a_zone_skip_that_zone_with_a_reason() -> None:
    base = catalog()
    machines = tuple(
        m.model_copy(update={"zones": (B,)}) if m.name == "g2-standard-96" else m
        for m in base.machine_types
    )
    cat = base.model_copy(update={"machine_types": machines})
    cc = make_class(make_rule(None, machineFamily="g2", zones=[A, B]))
    big = make_pods(1, gpus=8, cpu_m=8000, memory_gib=64)
    plan = walk(cc, big, cat=cat)
    assert [(a.zone, a.decision) for a in plan.attempts] == [(A, "skip"), (B, "create")]
    assert "no candidate machine type offered in us-central1-a fits" in plan.attempts[0].reason


@pytest.mark.parametrize(
    ("rules", "order"),
    [
        # gpu rule priced by its smallest L4 machine (g2-standard-4), cheaper than an H100.
        (
            [
                make_rule("a3-highgpu-1g", zones=[A], priorityScore=5),
                make_rule(None, gpu=L4, zones=[A], priorityScore=5),
            ],
            (1, 0),
        ),
        # family rule priced by its smallest candidate.
        (
            [
                make_rule("a3-highgpu-8g", zones=[A], priorityScore=5),
                make_rule(None, machineFamily="g2", zones=[A], priorityScore=5),
            ],
            (1, 0),
        ),
        # Spot is cheaper than on-demand for the same machine.
        (
            [
                make_rule("g2-standard-8", zones=[A], priorityScore=5, spot=False),
                make_rule("g2-standard-8", zones=[A], priorityScore=5, spot=True),
            ],
            (1, 0),
        ),
        # A higher score always wins over price.
        (
            [
                make_rule(None, gpu=L4, zones=[A], priorityScore=1),
                make_rule("a3-highgpu-8g", zones=[A], priorityScore=9),
            ],
            (1, 0),
        ),
    ],
)
def test_priority_score_ties_are_broken_by_the_unit_price_of_the_machine_each_rule_would_choose(
    rules: list[dict[str, object]], order: tuple[int, ...]
) -> None:
    cc = make_class(*rules)
    assert compile_class(cc, catalog(), cluster=US_CENTRAL1).order == order


def test_unit_price_of_a_multi_host_slice_counts_every_host() -> None:
    cc = make_class(
        make_rule(None, zones=None, tpu={"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"}),
        make_rule(None, zones=None, tpu={"type": "tpu-v6e-slice", "count": 4, "topology": "4x4"}),
    )
    one = unit_price(cc.spec.priorities[0], catalog(), "us-east5", 0)
    four = unit_price(cc.spec.priorities[1], catalog(), "us-east5", 1)
    assert one is not None and four is not None and four == pytest.approx(4 * one)
    assert unit_price(cc.spec.priorities[0], catalog(), "antarctica1", 0) is None


def test_nodes_needed_rounds_multi_host_demand_up_to_whole_slices() -> None:
    m = catalog().machine_type("ct6e-standard-4t")
    assert m is not None
    pods = make_pods(5, gpus=0, tpus=4, cpu_m=1000, memory_gib=8)
    assert nodes_needed([(pods, 1)], m, hosts_per_slice=4) == 8
    assert nodes_needed([(pods, 1)], m, hosts_per_slice=1) == 5


def test_unit_price_follows_the_rule_region_topology_and_capacity_type() -> None:
    from ccc.api.catalog import Catalog, Price

    base = catalog()
    extra = Price(
        machine_type="g2-standard-4",
        region="us-central1",
        on_demand=0.5,
        spot=0.2,
        source="CYCLENERD",
    )
    cat = Catalog.model_validate({**base.model_dump(), "prices": [*base.prices, extra]})
    l4 = make_class(make_rule(None, gpu=L4, zones=None, spot=True)).spec.priorities[0]
    assert unit_price(l4, cat, "us-central1") == 0.2  # the smallest candidate, at Spot
    l4_od = make_class(make_rule(None, gpu=L4, zones=None)).spec.priorities[0]
    assert unit_price(l4_od, cat, "us-central1") == 0.5
    res = make_class(
        make_rule("g2-standard-8", zones=None, reservations={"affinity": "AnyThenFail"})
    ).spec.priorities[0]
    assert unit_price(res, cat, "us-central1") == 0.0
    assert (
        unit_price(make_class({"nodepools": ["p"]}).spec.priorities[0], cat, "us-central1") is None
    )
    # The smallest candidate without a zone in the region is passed over for the next one.
    moved = tuple(
        m.model_copy(update={"zones": ("us-east4-a",), "unverified_zones": ()})
        if m.name == "g2-standard-4"
        else m
        for m in base.machine_types
    )
    # model_copy keeps the catalog's price table (read from its CSV), which a dump would drop
    elsewhere = base.model_copy(
        update={
            "machine_types": moved,
            "prices": (*base.prices, extra.model_copy(update={"region": "us-east4"})),
        }
    )
    assert unit_price(l4, elsewhere, "us-central1") == base.price(
        "g2-standard-8", A, CapacityType.SPOT
    )
    # A topology offered only in us-east5 has no unit in us-central1.
    machines = tuple(
        m.model_copy(
            update={
                "tpu_topologies": tuple(
                    t.model_copy(update={"zones": ("us-east5-a",)}) for t in m.tpu_topologies
                )
            }
        )
        if m.name == "ct6e-standard-4t"
        else m
        for m in base.machine_types
    )
    narrow = Catalog.model_validate({**base.model_dump(), "machine_types": machines})
    tpu = make_class(
        make_rule(None, zones=None, tpu={"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"})
    ).spec.priorities[0]
    assert unit_price(tpu, base, "us-central1") == base.price(
        "ct6e-standard-4t", "us-central1", CapacityType.ON_DEMAND
    )
    assert unit_price(tpu, narrow, "us-central1") is None
