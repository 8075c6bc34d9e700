"""The reference of onDemandCost: the class's cheapest on-demand offering per unit of demand.

Machine types come from the built-in catalog; prices are given by the test so the expected
choice does not move when catalog prices are refreshed.
"""

from __future__ import annotations

from ccc.api.values import CapacityType, OfferingKey
from ccc.simulate.on_demand import cheapest_on_demand, class_machine_zones, pods_per_node
from policies.tiers import compile_class
from tests.builders import catalog, make_class, make_pods, make_rule

PRICES = {
    ("a3-highgpu-1g", "us-central1-a"): 11.0,
    ("a3-highgpu-8g", "us-central1-a"): 80.0,  # 10.0 per GPU: cheaper per pod
    ("a3-highgpu-8g", "us-central1-b"): 79.0,
}


def price(machine: str, zone: str, capacity: CapacityType) -> float | None:
    assert capacity is CapacityType.ON_DEMAND
    return PRICES.get((machine, zone))


def test_a_spot_only_class_is_compared_with_its_cheapest_on_demand_price_per_pod() -> None:
    compiled = compile_class(
        make_class(
            make_rule("a3-highgpu-1g", zones=["us-central1-a", "us-central1-c"], spot=True),
            make_rule("a3-highgpu-8g", zones=["us-central1-a", "us-central1-b"], spot=True),
        ),
        catalog(),
    )
    one_gpu = pods_per_node(make_pods(gpus=1, cpu_m=4000, memory_gib=32))

    ref = cheapest_on_demand(compiled, price, one_gpu)

    assert ref is not None
    assert ref.offering == OfferingKey(
        machine_type="a3-highgpu-8g", zone="us-central1-b", capacity_type=CapacityType.ON_DEMAND
    )
    assert (ref.price_per_hour, ref.units_per_node) == (79.0, 8)


def test_a_machine_that_cannot_hold_the_pod_is_no_reference() -> None:
    compiled = compile_class(
        make_class(
            make_rule("a3-highgpu-1g", zones=["us-central1-a"]),
            make_rule("a3-highgpu-8g", zones=["us-central1-a"]),
        ),
        catalog(),
    )
    eight_gpus = pods_per_node(make_pods(gpus=8))

    assert eight_gpus(catalog().machine_type("a3-highgpu-1g")) == 0  # type: ignore[arg-type]
    ref = cheapest_on_demand(compiled, price, eight_gpus)
    assert ref is not None and ref.offering.machine_type == "a3-highgpu-8g"
    assert ref.units_per_node == 1


def test_without_any_priced_offering_there_is_no_reference() -> None:
    compiled = compile_class(
        make_class(make_rule("a3-highgpu-1g", zones=["us-west1-b"])), catalog()
    )
    assert cheapest_on_demand(compiled, price, lambda m: 1) is None


def test_each_machine_and_zone_of_the_class_is_listed_once_in_walk_order() -> None:
    compiled = compile_class(
        make_class(
            make_rule("a3-highgpu-1g", zones=["us-central1-a", "us-central1-b"], spot=True),
            make_rule("a3-highgpu-1g", zones=["us-central1-b", "us-central1-c"]),
        ),
        catalog(),
    )
    assert [(m.name, z) for m, z in class_machine_zones(compiled)] == [
        ("a3-highgpu-1g", "us-central1-a"),
        ("a3-highgpu-1g", "us-central1-b"),
        ("a3-highgpu-1g", "us-central1-c"),
    ]
