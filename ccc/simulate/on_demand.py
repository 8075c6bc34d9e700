"""The reference ``onDemandCost`` is computed on: the class's cheapest on-demand offering.

"The class's offerings" are every (machine type, zone) its rules can use, priced on-demand
whatever capacity type the rule asks for: a Spot-only class still has an on-demand price to
compare with, and that comparison is the point of the number. "Cheapest" is the lowest price
per unit of demand (node price ÷ pods or capacity one node serves); ties go to the lower node
price, then to the label. Rules that name existing node pools are left out (their machine
types are not ccc's to choose).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ccc.api.catalog import MachineType
from ccc.api.values import CapacityType, OfferingKey
from ccc.api.workload import PodRequest
from ccc.simulate.metrics import OnDemandReference
from ccc.simulate.recorder import PriceFn
from ccc.simulate.result import offering_label
from policies.packing import fits
from policies.tiers import CompiledClass


def class_machine_zones(compiled: CompiledClass) -> Iterator[tuple[MachineType, str]]:
    """Every (machine type, zone) the class's rules can use, in walk order, each once."""
    seen: set[tuple[str, str]] = set()
    for tier in compiled.tiers:
        for machine in tier.machines:
            for zone in tier.zones:
                if (machine.name, zone) not in seen:
                    seen.add((machine.name, zone))
                    yield machine, zone


def pods_per_node(pod: PodRequest) -> Callable[[MachineType], int]:
    """How many pods of ``pod``'s shape one node of a machine type holds (resources only: the
    node selector and tolerations are the class's to satisfy, not the machine's)."""
    bare = pod.model_copy(update={"node_selector": {}, "tolerations": ()})

    def per_node(machine: MachineType) -> int:
        fit = fits(bare, machine, {}, ())
        return fit.per_node if fit.ok else 0

    return per_node


def cheapest_on_demand(
    compiled: CompiledClass,
    price: PriceFn,
    units_per_node: Callable[[MachineType], float],
) -> OnDemandReference | None:
    """The class's cheapest on-demand offering per unit of demand (see the module docstring).

    Args:
        compiled: the class, compiled against the catalog.
        price: ``Catalog.price``; offerings it does not price are skipped.
        units_per_node: demand one node of a machine type serves (:func:`pods_per_node` for a
            plain workload); machine types that serve none are skipped.

    Returns:
        the reference, or ``None`` when no offering of the class is priced on-demand and
        serves the demand.
    """
    best: tuple[float, float, str, OnDemandReference] | None = None
    for machine, zone in class_machine_zones(compiled):
        units = units_per_node(machine)
        node_price = price(machine.name, zone, CapacityType.ON_DEMAND)
        if units <= 0 or node_price is None:
            continue
        offering = OfferingKey(
            machine_type=machine.name, zone=zone, capacity_type=CapacityType.ON_DEMAND
        )
        candidate = (
            node_price / units,
            node_price,
            offering_label(offering),
            OnDemandReference(offering, node_price, units),
        )
        if best is None or candidate[:3] < best[:3]:
            best = candidate
    return None if best is None else best[3]
