"""Types of the built-in accelerator catalog and the look-ups policies and the CLI need.

The data (``ccc/api/data/gcp-catalog.yaml``, loaded by :mod:`ccc.api.builtin_catalog`) records,
per machine type, its shape (vCPUs, memory, accelerators, TPU topologies), the zones that offer
it and list prices per region with the source of every price. A price that no source gives is
``None``: never invented. The model validates the data's internal consistency (unique names,
prices only for known machine types in regions where they are offered, TPU topologies whose chip
count matches hosts x chips per host) so a bad edit fails at load time, not in a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ccc.api.gke_facts import TPU_FLEX_START_ZONES
from ccc.api.values import Accelerator, AcceleratorKind, CapacityType, region_of


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TpuTopology(_Frozen):
    """One valid slice shape of a TPU machine type (``2x4``: 8 chips on 1 host)."""

    topology: str
    chips: int = Field(ge=1)
    hosts: int = Field(ge=1)
    #: Zones that offer this slice shape, when a source says it is narrower than the machine
    #: type's zones; empty means every zone of the machine type.
    zones: tuple[str, ...] = ()

    @property
    def is_multi_host(self) -> bool:
        return self.hosts > 1

    @model_validator(mode="after")
    def _chips_match_dimensions(self) -> TpuTopology:
        product = 1
        for dim in _topology_dims(self.topology):
            product *= dim
        if product != self.chips:
            raise ValueError(
                f"topology {self.topology!r} has {product} chips, not {self.chips}: "
                "chips must be the product of the dimensions"
            )
        return self


def _topology_dims(topology: str) -> tuple[int, ...]:
    parts = topology.strip().lower().split("x")
    if len(parts) not in (2, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"topology {topology!r} is not of the form AxB or AxBxC")
    return tuple(int(p) for p in parts)


class MachineType(_Frozen):
    """One machine type: its shape, accelerators per node, TPU slice shapes and zones."""

    name: str
    family: str
    vcpus: int
    memory_gb: float
    accelerator: Accelerator | None = None
    #: Valid TPU slice shapes on this machine type (TPU machine types only).
    tpu_topologies: tuple[TpuTopology, ...] = ()
    zones: tuple[str, ...] = ()
    #: Subset of ``zones`` that no source confirms (see the data file's header).
    unverified_zones: tuple[str, ...] = ()
    max_pods: int = 110
    note: str = ""

    @property
    def is_tpu(self) -> bool:
        return self.accelerator is not None and self.accelerator.kind is AcceleratorKind.TPU

    @property
    def is_gpu(self) -> bool:
        return self.accelerator is not None and self.accelerator.kind is AcceleratorKind.GPU

    @property
    def chips_per_host(self) -> int:
        """TPU chips on one node (VM) of this type; 0 for a machine without TPUs."""
        return self.accelerator.count if self.is_tpu and self.accelerator is not None else 0

    @property
    def regions(self) -> tuple[str, ...]:
        """Regions of :attr:`zones`, in first-seen order."""
        return tuple(dict.fromkeys(region_of(z) for z in self.zones))

    def topology(self, topology: str) -> TpuTopology | None:
        """The slice shape named ``topology`` (``"2x4"``), or ``None`` if this type lacks it."""
        wanted = topology.strip().lower()
        return next((t for t in self.tpu_topologies if t.topology == wanted), None)

    def zones_for(self, topology: TpuTopology | None) -> tuple[str, ...]:
        """Zones offering this machine type with ``topology`` (all its zones when the topology
        names none, or when no topology is given)."""
        if topology is None or not topology.zones:
            return self.zones
        return tuple(z for z in self.zones if z in topology.zones)

    @model_validator(mode="after")
    def _consistent(self) -> MachineType:
        if len(set(self.zones)) != len(self.zones):
            raise ValueError(f"{self.name}: zones has duplicates")
        stray = sorted(set(self.unverified_zones) - set(self.zones))
        if stray:
            raise ValueError(f"{self.name}: unverified_zones {stray} are not in zones")
        if self.tpu_topologies and not self.is_tpu:
            raise ValueError(f"{self.name}: tpu_topologies on a machine type without TPUs")
        for t in self.tpu_topologies:
            if t.chips != t.hosts * self.chips_per_host:
                raise ValueError(
                    f"{self.name}: topology {t.topology} has {t.chips} chips, but "
                    f"{t.hosts} hosts x {self.chips_per_host} chips per host"
                )
        return self


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
    #: Zones offering DWS flex-start per TPU accelerator type (``tpu-v6e-slice``); ``None``
    #: uses GKE's documented list (:data:`ccc.api.gke_facts.TPU_FLEX_START_ZONES`).
    tpu_flex_start_zones: dict[str, tuple[str, ...]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        names = [m.name for m in self.machine_types]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"machine type names are not unique: {dupes}")
        by_name = {m.name: m for m in self.machine_types}
        seen: set[tuple[str, str]] = set()
        for p in self.prices:
            m = by_name.get(p.machine_type)
            if m is None:
                raise ValueError(f"price for unknown machine type {p.machine_type!r}")
            if p.region not in m.regions:
                raise ValueError(
                    f"price for {p.machine_type} in {p.region}, a region with none of its zones"
                )
            if (p.machine_type, p.region) in seen:
                raise ValueError(f"two prices for {p.machine_type} in {p.region}")
            seen.add((p.machine_type, p.region))
        return self

    @cached_property
    def _by_name(self) -> dict[str, MachineType]:
        return {m.name: m for m in self.machine_types}

    @cached_property
    def _prices(self) -> dict[tuple[str, str], Price]:
        return {(p.machine_type, p.region): p for p in self.prices}

    def machine_type(self, name: str) -> MachineType | None:
        return self._by_name.get(name)

    def flex_start_zones(self, tpu_type: str) -> tuple[str, ...]:
        """Zones where GKE offers flex-start for the TPU accelerator ``tpu_type`` (empty: none)."""
        table = (
            self.tpu_flex_start_zones
            if self.tpu_flex_start_zones is not None
            else TPU_FLEX_START_ZONES
        )
        return tuple(table.get(tpu_type, ()))

    def families(self) -> tuple[str, ...]:
        """Machine families (``g2``, ``a3``, ``ct6e`` ...) in catalog order, each once."""
        return tuple(dict.fromkeys(m.family for m in self.machine_types))

    def accelerator_types(self) -> tuple[str, ...]:
        """GKE accelerator type names in the catalog (``nvidia-l4``, ``tpu-v6e-slice`` ...)."""
        return tuple(dict.fromkeys(m.accelerator.type for m in self.machine_types if m.accelerator))

    def zones(self) -> tuple[str, ...]:
        """Every zone that offers at least one machine type, sorted."""
        return tuple(sorted({z for m in self.machine_types for z in m.zones}))

    def machine_types_for(
        self,
        *,
        accelerator_type: str | None = None,
        zone: str | None = None,
        family: str | None = None,
    ) -> Sequence[MachineType]:
        """Machine types filtered by accelerator type, zone and/or family, in catalog order."""
        out: list[MachineType] = []
        for m in self.machine_types:
            if accelerator_type is not None and (
                m.accelerator is None or m.accelerator.type != accelerator_type
            ):
                continue
            if zone is not None and zone not in m.zones:
                continue
            if family is not None and m.family != family:
                continue
            out.append(m)
        return out

    def machine_types_for_gpu(
        self, gpu_type: str, count: int | None = None
    ) -> Sequence[MachineType]:
        """Machine types a ComputeClass rule ``gpu: {type, count}`` can land on, smallest first.

        Args:
            gpu_type: GKE accelerator type (``nvidia-l4``).
            count: GPUs per node; ``None`` matches any count.

        Returns:
            The matching GPU machine types ordered by (GPU count, vCPUs, memory); empty when the
            type is unknown or no machine type carries exactly ``count`` of it.
        """
        found = [
            m
            for m in self.machine_types
            if m.is_gpu
            and m.accelerator is not None
            and m.accelerator.type == gpu_type
            and (count is None or m.accelerator.count == count)
        ]
        return sorted(
            found,
            key=lambda m: (m.accelerator.count if m.accelerator else 0, m.vcpus, m.memory_gb),
        )

    def resolve_tpu(
        self,
        tpu_type: str,
        count: int | None,
        topology: str | None,
        *,
        machine_type: str | None = None,
    ) -> tuple[MachineType, TpuTopology] | None:
        """Map a ComputeClass rule's ``tpu: {type, count, topology}`` to a machine type and slice.

        ``count`` is TPU chips per node (GKE's meaning), so ``tpu-v5-lite-podslice`` with
        ``topology: 2x4`` and ``count: 8`` is one ``ct5lp-hightpu-8t`` host, while ``count: 4``
        is a multi-host slice of two ``ct5lp-hightpu-4t`` nodes. When ``count`` is ``None`` the
        shape with the fewest hosts wins; when ``topology`` is ``None`` the single-host shape
        with ``count`` chips is chosen. ``machine_type`` (a rule's ``machineType``), when given,
        restricts the choice to that machine type.

        Returns:
            ``(machine type, topology)`` with ``topology.hosts`` nodes per slice, or ``None``
            when the type is unknown or no machine type offers that count and topology (or both
            are ``None``).
        """
        candidates: list[tuple[MachineType, TpuTopology]] = []
        for m in self.machine_types:
            if not m.is_tpu or m.accelerator is None or m.accelerator.type != tpu_type:
                continue
            if machine_type is not None and m.name != machine_type:
                continue
            if count is not None and m.chips_per_host != count:
                continue
            if topology is not None:
                t = m.topology(topology)
                if t is not None:
                    candidates.append((m, t))
            elif count is not None:
                candidates.extend(
                    (m, t) for t in m.tpu_topologies if t.hosts == 1 and t.chips == count
                )
        if not candidates:
            return None
        return min(candidates, key=lambda mt: mt[1].hosts)

    def price_record(self, machine_type: str, region: str) -> Price | None:
        """The price row (with its source and note) of a machine type in a region, if any."""
        return self._prices.get((machine_type, region))

    def regions_with_price(self, machine_type: str) -> tuple[str, ...]:
        """Regions where some source gives an on-demand or spot price for ``machine_type``."""
        return tuple(
            p.region
            for p in self.prices
            if p.machine_type == machine_type and (p.on_demand is not None or p.spot is not None)
        )

    def price(self, machine_type: str, zone: str, capacity_type: CapacityType) -> float | None:
        """Hourly list price of one node, or ``None`` when no source gives it.

        Reservations are prepaid, so their marginal price is reported as ``0.0`` only by the
        caller's choice; here a reservation is priced like on-demand (what it costs to hold).
        Flex-start is on-demand times ``1 - flex_start_discount`` (an explicit assumption).
        ``zone`` may also be a region name.
        """
        p = self._prices.get((machine_type, region_of(zone)))
        if p is None:
            p = self._prices.get((machine_type, zone))
        if p is None:
            return None
        if capacity_type is CapacityType.SPOT:
            return p.spot
        if p.on_demand is None:
            return None
        if capacity_type is CapacityType.FLEX_START:
            return round(p.on_demand * (1 - self.flex_start_discount), 6)
        return p.on_demand
