"""The JSON/YAML form of ``ccc catalog`` (a documented, stable interface; docs/catalog.md).

``{"flexStartDiscount", "flexStartDiscountNote", "sources": {id: {...}}, "machineTypes": [...],
"acceleratorPrices": [...]}``. Keys are only ever added, never renamed or removed; a price no
source gives is ``null``, and a derived price has its formula under ``derived``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ccc.api.catalog import Catalog, MachineType
from ccc.api.catalog_diff import CatalogRefresh
from ccc.api.values import CapacityType, region_of

_CAPACITIES = (
    ("onDemand", CapacityType.ON_DEMAND),
    ("spot", CapacityType.SPOT),
    ("flexStart", CapacityType.FLEX_START),
)


def _prices(cat: Catalog, m: MachineType, regions: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for r in regions:
        rec = cat.price_record(m.name, r)
        row: dict[str, Any] = {"region": r}
        derived: dict[str, str | None] = {}
        for key, ct in _CAPACITIES:
            q = cat.quote(m, r, ct)
            row[key] = None if q is None else q.value
            derived[key] = q.formula if q is not None and q.formula else None
        row["source"] = rec.source if rec else None
        row["spotSource"] = (rec.spot_source or rec.source) if rec else None
        row["derived"] = derived
        row["note"] = rec.note if rec else ""
        out.append(row)
    return out


def machine_doc(cat: Catalog, m: MachineType, *, zone: str | None) -> dict[str, Any]:
    """One machine type: shape, accelerators, zones and prices (of ``zone``'s region only)."""
    regions = [region_of(zone)] if zone else list(m.regions)
    acc = m.accelerator
    return {
        "name": m.name,
        "family": m.family,
        "vcpus": m.vcpus,
        "memoryGb": m.memory_gb,
        "sharedCore": m.shared_core,
        "localSsdGb": m.local_ssd_gb,
        "accelerator": (
            {"kind": acc.kind.value, "type": acc.type, "count": acc.count} if acc else None
        ),
        "gpuAttachments": [
            {
                "type": a.type,
                "counts": list(a.counts),
                "zones": [z for z in a.zones if zone in (None, z)],
                "unverifiedZones": [z for z in a.unverified_zones if zone in (None, z)],
            }
            for a in m.gpu_attachments
        ],
        "tpuTopologies": [
            {"topology": t.topology, "chips": t.chips, "hosts": t.hosts} for t in m.tpu_topologies
        ],
        "zones": [zone] if zone else list(m.zones),
        "unverifiedZones": [z for z in m.unverified_zones if zone in (None, z)],
        "maxPods": m.max_pods,
        "prices": _prices(cat, m, regions),
        "note": m.note,
    }


def catalog_doc(
    cat: Catalog, machines: Sequence[MachineType], *, zone: str | None
) -> dict[str, Any]:
    """The whole document for ``machines`` (all regions, or ``zone`` and its region)."""
    region = region_of(zone) if zone else None
    return {
        "flexStartDiscount": cat.flex_start_discount,
        "flexStartDiscountNote": cat.flex_start_discount_note,
        "sources": {
            sid: {
                "title": s.title,
                "url": s.url,
                "version": s.version,
                "asOf": s.as_of,
                "license": s.license,
            }
            for sid, s in cat.sources.items()
        },
        "machineTypes": [machine_doc(cat, m, zone=zone) for m in machines],
        "acceleratorPrices": [
            {
                "type": a.accelerator_type,
                "region": a.region,
                "onDemand": a.on_demand,
                "spot": a.spot,
                "source": a.source,
                "note": a.note,
            }
            for a in cat.accelerator_prices
            if region in (None, a.region)
        ],
    }


def refresh_doc(result: CatalogRefresh, subjects: set[str] | None) -> dict[str, Any]:
    """``ccc catalog --refresh -o json``: what was refreshed, what failed, what changed."""
    return {
        "refreshed": list(result.refreshed),
        "failures": list(result.failures),
        "changes": [
            c.to_json() for c in result.changes if subjects is None or c.subject in subjects
        ],
    }
