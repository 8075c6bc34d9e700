"""The catalog: machine types, zones and prices, and the look-ups policies and the CLI need.

The data (``ccc/api/data/gcp-catalog.json`` plus its price table ``gcp-prices.csv``, loaded by
:mod:`ccc.api.builtin_catalog`) records, per machine type, its shape, the zones that offer it and
list prices per region with the source of every price (:mod:`ccc.api.pricing`). A price that no
source gives is ``None``: never invented. The model validates the data's internal consistency
(unique names, prices only for known machine types in regions where they are offered, TPU
topologies whose chip count matches hosts x chips per host) so a bad edit fails at load time,
not in a plan. Price rows from a CSV are checked on first use (:meth:`Catalog.validate_prices`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ccc.api.errors import ConfigError
from ccc.api.gke_facts import TPU_FLEX_START_ZONES
from ccc.api.machines import GpuAttachment, MachineType, TpuTopology
from ccc.api.pricing import (
    AcceleratorPrice,
    Price,
    PriceCells,
    PriceQuote,
    PriceTable,
    num,
)
from ccc.api.values import CapacityType, region_of

__all__ = [
    "AcceleratorPrice",
    "Catalog",
    "GpuAttachment",
    "MachineType",
    "Price",
    "PriceQuote",
    "Source",
    "TpuTopology",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    """Where prices or facts come from (referenced by id from price rows)."""

    title: str
    url: str = ""
    version: str = ""
    #: Date the data reflects (``YYYY-MM-DD``), or ``unknown``.
    as_of: str = "unknown"
    license: str = ""


class Catalog(_Frozen):
    """Machine types, zones and prices. Immutable; look-ups are indexed on first use."""

    provenance: str
    sources: dict[str, Source] = Field(default_factory=dict)
    #: Named zone lists; a machine type's (or GPU attachment's) ``zones`` or
    #: ``unverified_zones`` may be the name of one instead of a list.
    zone_sets: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: Assumed fraction off the on-demand price for DWS flex-start (documented assumption).
    flex_start_discount: float = Field(ge=0, lt=1)
    flex_start_discount_note: str
    machine_types: tuple[MachineType, ...]
    prices: tuple[Price, ...] = ()
    #: File (next to the catalog YAML) with more price rows, read on first use.
    prices_csv: str | None = None
    #: Zones offering DWS flex-start per TPU accelerator type (``tpu-v6e-slice``); ``None``
    #: uses GKE's documented list (:data:`ccc.api.gke_facts.TPU_FLEX_START_ZONES`).
    tpu_flex_start_zones: dict[str, tuple[str, ...]] | None = None
    #: Per-GPU prices of attachable GPUs (added to the N1 machine type's price).
    accelerator_prices: tuple[AcceleratorPrice, ...] = ()

    _csv_loader: Callable[[], str] | None = PrivateAttr(default=None)
    _cell_rows: dict[tuple[str, str], PriceCells] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _expand_zone_sets(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("zone_sets"), dict):
            return data
        sets = data["zone_sets"]

        def expand(owner: dict[str, Any], where: str) -> dict[str, Any]:
            out = dict(owner)
            for f in ("zones", "unverified_zones"):
                ref = out.get(f)
                if isinstance(ref, str):
                    if ref not in sets:
                        raise ValueError(f"{where}.{f}: no zone_sets entry named {ref!r}")
                    out[f] = sets[ref]
            return out

        machines = []
        for i, m in enumerate(data.get("machine_types") or ()):
            if isinstance(m, dict):
                m = expand(m, f"machine_types.{i}")
                atts = m.get("gpu_attachments")
                if isinstance(atts, list):
                    m["gpu_attachments"] = [
                        expand(a, f"machine_types.{i}.gpu_attachments.{j}")
                        if isinstance(a, dict)
                        else a
                        for j, a in enumerate(atts)
                    ]
            machines.append(m)
        return {**data, "machine_types": machines}

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        names = Counter(m.name for m in self.machine_types)
        dupes = sorted(n for n, count in names.items() if count > 1)
        if dupes:
            raise ValueError(f"machine type names are not unique: {dupes}")
        seen: set[tuple[str, str]] = set()
        for p in self.prices:
            self._check_row(p.machine_type, p.region, p.source, p.spot_source)
            if (p.machine_type, p.region) in seen:
                raise ValueError(f"two prices for {p.machine_type} in {p.region}")
            seen.add((p.machine_type, p.region))
        for a in self.accelerator_prices:
            if self.sources and a.source not in self.sources:
                raise ValueError(f"price of {a.accelerator_type} names unknown source {a.source!r}")
        return self

    def _check_row(self, machine_type: str, region: str, *source_ids: str | None) -> None:
        regions = self._regions_of.get(machine_type)
        if regions is None:
            raise ValueError(f"price for unknown machine type {machine_type!r}")
        if region not in regions:
            raise ValueError(
                f"price for {machine_type} in {region}, a region with none of its zones"
            )
        for s in source_ids:
            if s and self.sources and s not in self.sources:
                raise ValueError(
                    f"price for {machine_type} in {region} names unknown source {s!r}; "
                    f"known: {', '.join(sorted(self.sources))}"
                )

    def attach_price_csv(self, loader: Callable[[], str]) -> None:
        """Where :attr:`prices_csv` is read from (called by the loader, once)."""
        self._csv_loader = loader

    def replaced(
        self, *, cells: Mapping[tuple[str, str], PriceCells] | None = None, **fields: Any
    ) -> Catalog:
        """A validated copy with ``fields`` replaced (``machine_types=...``, ``sources=...``)
        and its prices set to ``cells`` (default: this catalog's). Price rows in a region where
        their machine type no longer has zones are dropped. The copy keeps its prices as plain
        values (no price file, no inline rows): 10,000+ models would cost seconds.

        Raises:
            pydantic.ValidationError: the replaced fields are inconsistent.
            ValueError: a price row names an unknown source.
        """
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(zone_sets={}, prices=(), prices_csv=None)
        data.update(fields)
        copy = type(self).model_validate(data)
        rows = dict(self._price_cells) if cells is None else dict(cells)
        regions = copy._regions_of
        copy._cell_rows = {k: c for k, c in rows.items() if k[1] in regions.get(k[0], ())}
        for (mt, region), c in copy._cell_rows.items():
            copy._check_row(mt, region, c.source, c.spot_source)
        return copy

    def price_items(self) -> Iterator[tuple[str, str, PriceCells]]:
        """Every price row as ``(machine type, region, cells)`` (no model objects)."""
        for (mt, region), c in self._price_cells.items():
            yield mt, region, c

    # -- indexes -------------------------------------------------------------------------------

    @cached_property
    def _by_name(self) -> dict[str, MachineType]:
        return {m.name: m for m in self.machine_types}

    @cached_property
    def _regions_of(self) -> dict[str, frozenset[str]]:
        return {m.name: frozenset(m.regions) for m in self.machine_types}

    @cached_property
    def _table(self) -> PriceTable | None:
        if self.prices_csv is None or self._csv_loader is None:
            return None
        return PriceTable(self._csv_loader(), origin=self.prices_csv)

    @cached_property
    def _inline_cells(self) -> dict[tuple[str, str], PriceCells]:
        if self._cell_rows is not None:
            return self._cell_rows
        return {(p.machine_type, p.region): PriceCells.of(p) for p in self.prices}

    def _cells(self, machine_type: str, region: str) -> PriceCells | None:
        inline = self._inline_cells.get((machine_type, region))
        if inline is not None or self._table is None:
            return inline
        return self._table.rows_of(machine_type).get(region)

    @cached_property
    def _price_cells(self) -> dict[tuple[str, str], PriceCells]:
        """Every price row (parses the whole CSV: for validation and full listings only)."""
        cells = dict(self._table.all()) if self._table is not None else {}
        cells.update(self._inline_cells)
        return cells

    @cached_property
    def _accelerator_prices(self) -> dict[tuple[str, str], AcceleratorPrice]:
        return {(a.accelerator_type, a.region): a for a in self.accelerator_prices}

    def validate_prices(self) -> None:
        """Check every price row (also those read from :attr:`prices_csv`).

        Raises:
            ConfigError: a row names an unknown machine type or source, or a region without
                zones of that machine type.
        """
        for (mt, region), c in self._price_cells.items():
            try:
                self._check_row(mt, region, c.source, c.spot_source)
            except ValueError as exc:
                raise ConfigError(f"{self.prices_csv or 'prices'}: {exc}") from exc

    # -- machine types -------------------------------------------------------------------------

    def machine_type(
        self, name: str, *, gpu_type: str | None = None, gpu_count: int | None = None
    ) -> MachineType | None:
        """The machine type ``name``; with ``gpu_type`` (and ``gpu_count``, default the smallest
        allowed), the N1 variant with those GPUs attached when it can carry them (otherwise the
        plain machine type, so callers can report the mismatch)."""
        m = self._by_name.get(name)
        if m is None or gpu_type is None or m.accelerator is not None:
            return m
        return m.with_gpus(gpu_type, gpu_count) or m

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
        """GKE accelerator type names (built-in and attachable), in catalog order."""
        return tuple(dict.fromkeys(t for m in self.machine_types for t in m.accelerator_types()))

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
        """Machine types filtered by accelerator type (built-in or attachable), zone and/or
        family, in catalog order."""
        out: list[MachineType] = []
        for m in self.machine_types:
            if accelerator_type is not None and accelerator_type not in m.accelerator_types():
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

        GPU machine types with ``count`` built-in GPUs of ``gpu_type``, and N1 machine types
        with ``count`` such GPUs attached (each returned with its ``accelerator`` set; without
        ``count``, the smallest count each N1 type allows).

        Returns:
            Matches ordered by (GPU count, vCPUs, memory); empty when none carries exactly
            ``count`` of that GPU.
        """
        found: list[MachineType] = []
        for m in self.machine_types:
            if m.is_gpu and m.accelerator is not None and m.accelerator.type == gpu_type:
                if count is None or m.accelerator.count == count:
                    found.append(m)
            elif m.gpu_attachments:
                variant = m.with_gpus(gpu_type, count)
                if variant is not None and variant.zones:
                    found.append(variant)
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

    # -- prices --------------------------------------------------------------------------------

    def all_prices(self) -> Iterator[Price]:
        """Every price row (inline and from :attr:`prices_csv`), as :class:`Price` values."""
        for (mt, region), c in self._price_cells.items():
            yield c.to_price(mt, region)

    def price_record(self, machine_type: str, region: str) -> Price | None:
        """The price row (with its sources and formulas) of a machine type in a region, if any."""
        c = self._cells(machine_type, region)
        return None if c is None else c.to_price(machine_type, region)

    def accelerator_price(self, accelerator_type: str, region: str) -> AcceleratorPrice | None:
        """Per-GPU price of an attachable GPU in a region, if a source gives one."""
        return self._accelerator_prices.get((accelerator_type, region))

    def regions_with_price(self, machine_type: str) -> tuple[str, ...]:
        """Regions where some source gives an on-demand or spot price for ``machine_type``."""
        m = self._by_name.get(machine_type)
        regions = m.regions if m is not None else ()
        return tuple(
            r
            for r in regions
            if (c := self._cells(machine_type, r)) is not None
            and (c.on_demand is not None or c.spot is not None)
        )

    def priced_regions(self) -> dict[str, tuple[str, ...]]:
        """:meth:`regions_with_price` of every machine type at once (the full listing): one
        scan of the price file's cells instead of parsing each machine type's rows (about 4x
        faster for the 11,000-row built-in table; the numbers are checked when a price is
        looked up, and a catalog file's when it is loaded)."""
        inline = self._inline_cells
        table = self._table.priced_regions() if self._table is not None else {}

        def priced(machine_type: str, region: str) -> bool:
            c = inline.get((machine_type, region))
            if c is not None:
                return c.on_demand is not None or c.spot is not None
            return region in table.get(machine_type, ())

        return {
            m.name: tuple(r for r in m.regions if priced(m.name, r)) for m in self.machine_types
        }

    def quote(
        self, machine: str | MachineType, zone: str, capacity_type: CapacityType
    ) -> PriceQuote | None:
        """Hourly list price of one node with its source and, if derived, its formula.

        ``machine`` may be an N1 variant with attached GPUs (from :meth:`machine_types_for_gpu`
        or :meth:`machine_type` with ``accelerator``): its price is the VM's plus the GPUs'.
        Reservations are priced like on-demand (what it costs to hold the capacity).
        Flex-start is on-demand x (1 - :attr:`flex_start_discount`), an explicit assumption.
        ``zone`` may also be a region name. ``None`` when no source gives the price.
        """
        name = machine if isinstance(machine, str) else machine.name
        region = region_of(zone)
        cells = self._cells(name, region) or self._cells(name, zone)
        if cells is None:
            return None
        spot = capacity_type is CapacityType.SPOT
        value = cells.spot if spot else cells.on_demand
        if value is None:
            return None
        source = (cells.spot_source or cells.source) if spot else cells.source
        formula = cells.spot_formula if spot else cells.on_demand_formula
        quote = PriceQuote(value, source, formula)
        if not isinstance(machine, str) and machine.attached_gpu is not None:
            attached = self._with_attached_gpus(machine, region, quote, spot=spot)
            if attached is None:
                return None
            quote = attached
        if capacity_type is CapacityType.FLEX_START:
            value = round(quote.value * (1 - self.flex_start_discount), 6)
            return PriceQuote(
                value,
                quote.source,
                f"on-demand {num(quote.value)} x (1 - {num(self.flex_start_discount)} assumed "
                f"flex-start discount) = {num(value)}",
            )
        return quote

    def _with_attached_gpus(
        self, machine: MachineType, region: str, vm: PriceQuote, *, spot: bool
    ) -> PriceQuote | None:
        acc = machine.accelerator
        assert acc is not None
        gpu = self._accelerator_prices.get((acc.type, region))
        unit = None if gpu is None else (gpu.spot if spot else gpu.on_demand)
        if gpu is None or unit is None:
            return None
        total = round(vm.value + acc.count * unit, 6)
        formula = (
            f"{machine.name} VM {num(vm.value)} ({vm.source}) + {acc.count} {acc.type} x "
            f"{num(unit)} ({gpu.source}) = {num(total)}"
        )
        source = vm.source if vm.source == gpu.source else f"{vm.source}+{gpu.source}"
        return PriceQuote(total, source, formula)

    def price(
        self, machine_type: str | MachineType, zone: str, capacity_type: CapacityType
    ) -> float | None:
        """Hourly list price of one node, or ``None`` when no source gives it (:meth:`quote`)."""
        q = self.quote(machine_type, zone, capacity_type)
        return None if q is None else q.value
