"""Types of the built-in accelerator catalog and the loader of its data file.

The data (``ccc/api/data/gcp-catalog.yaml``) records, per machine type, its shape (vCPUs,
memory, accelerators, TPU topologies), the zones that offer it and list prices per region with
the source of every price. A price that no source gives is ``None``: never invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from ccc.api.values import Accelerator, AcceleratorKind, CapacityType, region_of


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TpuTopology(_Frozen):
    """One valid slice shape of a TPU machine type (``2x4``: 8 chips on 1 host)."""

    topology: str
    chips: int
    hosts: int


class MachineType(_Frozen):
    name: str
    family: str
    vcpus: int
    memory_gb: float
    accelerator: Accelerator | None = None
    #: GKE accelerator type names a ComputeClass uses for this machine (``tpu-v5-lite-podslice``).
    tpu_topologies: tuple[TpuTopology, ...] = ()
    zones: tuple[str, ...] = ()
    max_pods: int = 110

    @property
    def is_tpu(self) -> bool:
        return self.accelerator is not None and self.accelerator.kind is AcceleratorKind.TPU

    @property
    def is_gpu(self) -> bool:
        return self.accelerator is not None and self.accelerator.kind is AcceleratorKind.GPU


class Price(_Frozen):
    """List prices (USD per hour per node) of one machine type in one region."""

    machine_type: str
    region: str
    on_demand: float | None = None
    spot: float | None = None
    source: str
    note: str = ""


class Catalog(_Frozen):
    """Machine types, zones and prices. Immutable; look-ups are indexed on first use."""

    provenance: str
    #: Assumed fraction off the on-demand price for DWS flex-start (documented assumption).
    flex_start_discount: float = Field(ge=0, lt=1)
    flex_start_discount_note: str
    machine_types: tuple[MachineType, ...]
    prices: tuple[Price, ...] = ()

    @cached_property
    def _by_name(self) -> dict[str, MachineType]:
        return {m.name: m for m in self.machine_types}

    @cached_property
    def _prices(self) -> dict[tuple[str, str], Price]:
        return {(p.machine_type, p.region): p for p in self.prices}

    def machine_type(self, name: str) -> MachineType | None:
        return self._by_name.get(name)

    def machine_types_for(
        self, *, accelerator_type: str | None = None, zone: str | None = None
    ) -> Sequence[MachineType]:
        """Machine types filtered by accelerator type and/or zone, in catalog order."""
        out: list[MachineType] = []
        for m in self.machine_types:
            if accelerator_type is not None and (
                m.accelerator is None or m.accelerator.type != accelerator_type
            ):
                continue
            if zone is not None and zone not in m.zones:
                continue
            out.append(m)
        return out

    def price(self, machine_type: str, zone: str, capacity_type: CapacityType) -> float | None:
        """Hourly list price of one node, or ``None`` when no source gives it.

        Reservations are prepaid, so their marginal price is reported as ``0.0`` only by the
        caller's choice; here a reservation is priced like on-demand (what it costs to hold).
        Flex-start is on-demand times ``1 - flex_start_discount`` (an explicit assumption).
        """
        p = self._prices.get((machine_type, region_of(zone)))
        if p is None:
            return None
        if capacity_type is CapacityType.SPOT:
            return p.spot
        if p.on_demand is None:
            return None
        if capacity_type is CapacityType.FLEX_START:
            return round(p.on_demand * (1 - self.flex_start_discount), 6)
        return p.on_demand
