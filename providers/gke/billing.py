"""Live prices from the Cloud Billing Catalog API (``google-cloud-billing``).

:func:`list_compute_skus` lists the Compute Engine service's SKUs (one call per page, in a
worker thread). The rest is pure:

* :func:`unit_prices` keeps the SKUs whose category and description match the patterns shipped
  in ``ccc/api/data/gcp-billing-skus.yaml`` (vCPU and RAM per machine series, GPUs, Local SSD;
  on-demand and Spot) and turns them into unit prices per region;
* :func:`derive_prices` prices every machine type of a catalog from those units (vCPUs x vCPU
  SKU + GiB x RAM SKU + built-in GPUs x GPU SKU + bundled Local SSD x Local SSD SKU), marks
  each price ``derived`` with its formula, and prices attachable GPUs (N1) per GPU.

A price is derived only when every component has a SKU; otherwise the snapshot price stays.
Shared-core machine types and TPUs (not billed per vCPU) keep their snapshot prices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.cloud import billing_v1

from ccc.api.catalog import Catalog, MachineType
from ccc.api.pricing import AcceleratorPrice, Component, Price, PriceCells, derive
from providers.gke.clients import GoogleClients
from providers.gke.config import GKEConfig
from providers.gke.operations import call

#: The Compute Engine service in the Cloud Billing Catalog.
COMPUTE_SERVICE = "services/6F81-5844-456A"
#: Source id of live prices in a refreshed catalog.
BILLING_SOURCE = "BILLING"
#: Local SSD SKUs are priced per GiB-month; Google's month is 730 hours.
HOURS_PER_MONTH = 730.0

_USAGE = {"on_demand": "OnDemand", "spot": "Preemptible"}


@dataclass(frozen=True, slots=True)
class SkuPrice:
    """One SKU's current list price (first tier, USD per usage unit)."""

    sku_id: str
    description: str
    resource_group: str
    usage_type: str
    regions: tuple[str, ...]
    usage_unit: str
    unit_price: float

    @property
    def hourly(self) -> float:
        """Price per unit-hour (``GiBy.mo`` SKUs are per GiB-month)."""
        return (
            self.unit_price / HOURS_PER_MONTH
            if self.usage_unit.endswith(".mo")
            else self.unit_price
        )


def sku_price(sku: billing_v1.Sku) -> SkuPrice | None:
    """The price of ``sku`` from its latest pricing info, or ``None`` if it has none."""
    if not sku.pricing_info:
        return None
    expression = sku.pricing_info[-1].pricing_expression
    rates = list(expression.tiered_rates)
    if not rates:
        return None
    rate = next((r for r in rates if r.start_usage_amount == 0), rates[0])
    money = rate.unit_price
    return SkuPrice(
        sku_id=sku.sku_id,
        description=sku.description,
        resource_group=sku.category.resource_group,
        usage_type=sku.category.usage_type,
        regions=tuple(sku.service_regions),
        usage_unit=expression.usage_unit,
        unit_price=float(money.units) + money.nanos / 1e9,
    )


async def list_compute_skus(clients: GoogleClients, config: GKEConfig) -> list[SkuPrice]:
    """Every priced SKU of Compute Engine (paged lazily inside one worker thread).

    Raises:
        ProviderError: translated API failure.
    """
    request = billing_v1.ListSkusRequest(parent=COMPUTE_SERVICE, page_size=5000)

    def fetch() -> list[SkuPrice]:
        pager = clients.cloud_catalog.list_skus(
            request=request, retry=None, timeout=config.call_timeout_s
        )
        return [p for p in map(sku_price, pager) if p is not None]

    result: list[SkuPrice] = await call(fetch, config=config, what="billing.list_skus")
    return result


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (``%`` any text, ``_`` one character) as an anchored regex."""
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit price with the SKU it came from."""

    price: float
    sku_id: str


#: (kind, name, capacity, region) -> hourly unit price; kind is cpu | ram | gpu | lssd.
UnitPrices = dict[tuple[str, str, str, str], Unit]


def unit_prices(skus: Iterable[SkuPrice], patterns: Mapping[str, Any]) -> UnitPrices:
    """Unit prices per (kind, series or GPU type, capacity type, region).

    Where several SKUs match the same key (a regional SKU and a multi-region one), the one
    offered in the fewest regions wins: the most specific.
    """
    rules: list[tuple[str, str, str, str, re.Pattern[str]]] = []
    for series, entry in (patterns.get("series") or {}).items():
        for key, rule in entry.items():
            kind, _, cap = key.partition("_")
            rules.append((kind, series, cap, rule["group"], _like(rule["description"])))
    for gpu, entry in (patterns.get("gpus") or {}).items():
        for cap, rule in entry.items():
            rules.append(("gpu", gpu, cap, rule["group"], _like(rule["description"])))
    for cap, rule in (patterns.get("local_ssd") or {}).items():
        rules.append(("lssd", "", cap, rule["group"], _like(rule["description"])))
    best: dict[tuple[str, str, str, str], tuple[int, Unit]] = {}
    for sku in skus:
        for kind, name, cap, group, pattern in rules:
            if sku.resource_group != group or sku.usage_type != _USAGE.get(cap):
                continue
            if not pattern.fullmatch(sku.description):
                continue
            for region in sku.regions:
                key = (kind, name, cap, region)
                rank = len(sku.regions)
                if key not in best or rank < best[key][0]:
                    best[key] = (rank, Unit(sku.hourly, sku.sku_id))
    return {key: unit for key, (_rank, unit) in best.items()}


def _components(m: MachineType, units: UnitPrices, cap: str, region: str) -> list[Component] | None:
    series = m.sku_series
    cpu = units.get(("cpu", series, cap, region))
    ram = units.get(("ram", series, cap, region))
    if cpu is None or ram is None:
        return None
    parts = [Component(m.vcpus, "vCPU", cpu.price), Component(m.memory_gb, "GiB", ram.price)]
    acc = m.accelerator
    if acc is not None and m.is_gpu and m.attached_gpu is None:
        gpu = units.get(("gpu", acc.type, cap, region))
        if gpu is None:
            return None
        parts.append(Component(acc.count, "GPU", gpu.price))
    if m.local_ssd_gb:
        lssd = units.get(("lssd", "", cap, region))
        if lssd is None:
            return None
        parts.append(Component(m.local_ssd_gb, "GB local SSD", lssd.price))
    return parts


def derive_prices(
    catalog: Catalog, units: UnitPrices
) -> tuple[list[Price], list[AcceleratorPrice]]:
    """Prices of ``catalog``'s machine types (and attachable GPUs) from Billing unit prices.

    Only (machine type, region) pairs where both on-demand or spot components are all known
    get a row; TPUs and shared-core types are skipped (their SKUs are not per vCPU).
    """
    prices: list[Price] = []
    for m in catalog.machine_types:
        if m.is_tpu or m.shared_core or not m.sku_series:
            continue
        for region in m.regions:
            values: dict[str, tuple[float, str]] = {}
            for cap in ("on_demand", "spot"):
                parts = _components(m, units, cap, region)
                if parts is not None:
                    values[cap] = derive(parts)
            if not values:
                continue
            od, spot = values.get("on_demand"), values.get("spot")
            prices.append(
                Price(
                    machine_type=m.name,
                    region=region,
                    on_demand=od[0] if od else None,
                    spot=spot[0] if spot else None,
                    source=BILLING_SOURCE,
                    on_demand_formula=od[1] if od else "",
                    spot_formula=spot[1] if spot else "",
                )
            )
    gpus: list[AcceleratorPrice] = []
    attachable = sorted({a.type for m in catalog.machine_types for a in m.gpu_attachments})
    regions = sorted({r for m in catalog.machine_types if m.gpu_attachments for r in m.regions})
    for gpu in attachable:
        for region in regions:
            od_unit = units.get(("gpu", gpu, "on_demand", region))
            spot_unit = units.get(("gpu", gpu, "spot", region))
            if od_unit is None and spot_unit is None:
                continue
            gpus.append(
                AcceleratorPrice(
                    accelerator_type=gpu,
                    region=region,
                    on_demand=od_unit.price if od_unit else None,
                    spot=spot_unit.price if spot_unit else None,
                    source=BILLING_SOURCE,
                    note="SKU " + ", ".join(u.sku_id for u in (od_unit, spot_unit) if u),
                )
            )
    return prices, gpus


def merge_prices(catalog: Catalog, live: Sequence[Price]) -> dict[tuple[str, str], PriceCells]:
    """Every price row of ``catalog`` with the cells ``live`` gives replaced (newest wins)."""
    merged = {(mt, region): c for mt, region, c in catalog.price_items()}
    for new in live:
        key = (new.machine_type, new.region)
        old = merged.get(key)
        merged[key] = PriceCells.of(new) if old is None else _merge(old, PriceCells.of(new))
    return merged


def _merge(old: PriceCells, new: PriceCells) -> PriceCells:
    od_new = new.on_demand is not None
    spot_new = new.spot is not None
    source = new.source if od_new else old.source
    spot_source = new.source if spot_new else (old.spot_source or old.source)
    return PriceCells(
        new.on_demand if od_new else old.on_demand,
        new.spot if spot_new else old.spot,
        source,
        spot_source if spot_source != source else "",
        new.on_demand_formula if od_new else old.on_demand_formula,
        new.spot_formula if spot_new else old.spot_formula,
        new.note or old.note,
    )
