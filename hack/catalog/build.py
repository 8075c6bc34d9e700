"""Assemble the catalog (machine types, zones, prices, billing SKU patterns) from the sources.

Rules (also stated in docs/catalog.md):

* Machine types: every non-deprecated type of the families in curated.yaml that the Compute API
  lists, with its vCPUs and memory from that listing.
* Zones: the regions come from the newest listing (2026). In each region, the zones are those a
  zone-level source names (Cyclenerd's 2023 zone listing, curated.yaml's verified_zones); when
  no source names a zone of that region, every zone of the region is listed as *unverified*.
  Zones are ordered US regions first, then alphabetically.
* Prices: one value per (machine type, region, capacity type); among the sources that give it,
  the newest wins; a derived value (from SKU components or from a 1-chip TPU row) only fills a
  gap. Values a newer source superseded are reported, not kept.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sources import Cyclenerd, SpotComponents, TpuPriceRow

from ccc.api.machines import region_order as region_key
from ccc.api.machines import zone_order as _zone_key
from ccc.api.pricing import Component, Price, derive
from ccc.api.values import region_of


@dataclass
class Quote:
    value: float
    source: str
    as_of: str
    formula: str = ""


@dataclass
class Built:
    machine_types: list[dict[str, Any]]
    prices: list[Price]
    billing_skus: dict[str, Any]
    excluded: dict[str, str]
    superseded: list[str] = field(default_factory=list)
    skipped_regions: dict[str, list[str]] = field(default_factory=dict)


def _family(name: str) -> str:
    return name.split("-", 1)[0]


def _accelerator(name: str, cyc: Cyclenerd, cur: dict[str, Any]) -> dict[str, Any] | None:
    tpu = cur["tpus"].get(name)
    if tpu is not None:
        return {"kind": "tpu", "type": tpu["accelerator"], "count": tpu["chips"]}
    inst = cyc.instances.get(name, {})
    for key, gke in cur["cyclenerd_gpu_keys"].items():
        if key in inst:
            return {"kind": "gpu", "type": gke, "count": int(inst[key])}
    builtin = cur["builtin_gpus"].get(name)
    if builtin is not None:
        return {"kind": "gpu", "type": builtin["type"], "count": builtin["count"]}
    return None


def tpu_topologies(spec: list[str] | dict[str, int]) -> list[str]:
    """A topology list, or the 3D rule of xpk's generate_tpu_topologies for ``max_cubes``."""
    if isinstance(spec, list):
        return spec
    out = ["2x2x1", "2x2x2", "2x2x4", "2x4x4"]
    for x in range(4, 257, 4):
        for y in range(x, 257, 4):
            for z in range(y, 257, 4):
                if (x // 4) * (y // 4) * (z // 4) <= spec["max_cubes"]:
                    out.append(f"{x}x{y}x{z}")
    return out


class ZoneResolver:
    """Zones per region for machine types and accelerators (see the module rules)."""

    def __init__(self, cyc: Cyclenerd, cur: dict[str, Any]) -> None:
        self.cyc = cyc
        self.cur = cur
        self.region_zones: dict[str, set[str]] = defaultdict(set)
        for r, zs in cyc.region_zones.items():
            self.region_zones[r] |= zs
        for zs in (*cyc.zones_2023.values(), *cyc.accelerator_zones_2023.values()):
            for z in zs:
                self.region_zones[region_of(z)].add(z)
        self.skipped: dict[str, list[str]] = defaultdict(list)

    def verified_for(self, name: str) -> set[str]:
        found = set(self.cyc.zones_2023.get(name, ()))
        for prefix, entry in self.cur["verified_zones"].items():
            if name.startswith(prefix):
                found |= set(entry["zones"])
        return found

    def resolve(
        self, owner: str, regions: set[str], verified: set[str]
    ) -> tuple[list[str], list[str]]:
        zones: list[str] = []
        unverified: list[str] = []
        for r in sorted(regions, key=region_key):
            known = {z for z in verified if region_of(z) == r}
            if known:
                zones.extend(known)
                continue
            guess = self.region_zones.get(r, set())
            if not guess:
                self.skipped[owner].append(r)
                continue
            zones.extend(guess)
            unverified.extend(guess)
        return sorted(zones, key=_zone_key), sorted(unverified, key=_zone_key)


def build_machine_types(
    cyc: Cyclenerd, cur: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, str], ZoneResolver]:
    families = {f["family"]: f["sku_series"] for f in cur["families"]}
    excluded: dict[str, str] = dict(cur["exclude"])
    resolver = ZoneResolver(cyc, cur)
    out: list[dict[str, Any]] = []
    for name in sorted(cyc.shapes):
        family = _family(name)
        if family not in families or name in excluded:
            continue
        vcpus, memory_gb, deprecated, shared = cyc.shapes[name]
        if deprecated:
            excluded[name] = "deprecated in the Compute API listing"
            continue
        acc = _accelerator(name, cyc, cur)
        if acc is None and family in (
            "a2",
            "a3",
            "a4",
            "a4x",
            "g2",
            "g4",
            "ct5l",
            "ct5lp",
            "ct5p",
            "ct6e",
            "tpu7x",
        ):
            excluded[name] = "accelerator family, but no source names its accelerators"
            continue
        regions = set(cyc.regions.get(name, ()))
        verified = {
            z for z in resolver.verified_for(name) if not regions or region_of(z) in regions
        }
        if not regions:
            regions = {region_of(z) for z in verified}
        zones, unverified = resolver.resolve(name, regions, verified)
        if not zones:
            excluded[name] = "no zone known in any region that lists it"
            continue
        m: dict[str, Any] = {
            "name": name,
            "family": family,
            "vcpus": vcpus,
            "memory_gb": memory_gb,
        }
        if shared:
            m["shared_core"] = True
        if acc is not None:
            m["accelerator"] = acc
        tpu = cur["tpus"].get(name)
        if tpu is not None:
            m["tpu_topologies"] = tpu_topologies(tpu["topologies"])
        inst = cyc.instances.get(name)
        if inst is not None:
            m["local_ssd_gb"] = int(inst.get("local-ssd", 0))
        m["zones"] = zones
        if unverified:
            m["unverified_zones"] = unverified
        if family == "n1":
            attachments = _n1_gpus(m, cyc, cur, resolver)
            if attachments:
                m["gpu_attachments"] = attachments
        m["sku_series"] = families[family]
        out.append(m)
    return out, excluded, resolver


def _n1_gpus(
    m: dict[str, Any], cyc: Cyclenerd, cur: dict[str, Any], resolver: ZoneResolver
) -> list[dict[str, Any]]:
    out = []
    machine_zones = set(m["zones"])
    machine_unverified = set(m.get("unverified_zones", ()))
    for gpu, limits in cur["n1_gpus"].items():
        counts = [
            int(n)
            for n, (max_vcpus, max_memory) in sorted(limits.items(), key=lambda kv: int(kv[0]))
            if m["vcpus"] <= max_vcpus and m["memory_gb"] <= max_memory
        ]
        if not counts:
            continue
        regions = set(cyc.accelerator_regions.get(gpu, ()))
        verified = {z for z in cyc.accelerator_zones_2023.get(gpu, ()) if region_of(z) in regions}
        gzones, gunverified = resolver.resolve(gpu, regions, verified)
        zones = [z for z in gzones if z in machine_zones]
        if not zones:
            continue
        unverified = [z for z in zones if z in machine_unverified or z in set(gunverified)]
        entry: dict[str, Any] = {"type": gpu, "counts": counts, "zones": zones}
        if unverified:
            entry["unverified_zones"] = unverified
        out.append(entry)
    return out


_TPU_SKU = re.compile(r"^(tpu-v6e|tpu-v5litepod)-(\d+)$")
_TPU_SKU_FAMILY = {"tpu-v6e": "ct6e", "tpu-v5litepod": "ct5lp"}


def build_prices(
    machines: list[dict[str, Any]],
    cyc: Cyclenerd,
    tpu_rows: list[TpuPriceRow],
    skynomad: list[SpotComponents],
    as_of: dict[str, str],
) -> tuple[list[Price], list[str]]:
    """One Price per (machine type, region) that some source prices; newest source per cell."""
    cells: dict[tuple[str, str, str], list[Quote]] = defaultdict(list)
    regions_of = {m["name"]: {region_of(z) for z in m["zones"]} for m in machines}

    def offer(mt: str, region: str, cap: str, q: Quote) -> None:
        if region in regions_of.get(mt, ()):
            cells[(mt, region, cap)].append(q)

    for m in machines:
        inst = cyc.instances.get(m["name"])
        for region, cost in (inst or {}).get("cost", {}).items():
            for cap, key in (("on_demand", "hour"), ("spot", "hour_spot")):
                if key in cost:
                    quote = Quote(float(cost[key]), "CYCLENERD", as_of["CYCLENERD"])
                    offer(m["name"], region, cap, quote)
    _tpu_quotes(machines, tpu_rows, as_of, offer)
    _skynomad_quotes(machines, skynomad, offer)

    superseded: list[str] = []
    chosen: dict[tuple[str, str], dict[str, Quote]] = defaultdict(dict)
    for (mt, region, cap), quotes in cells.items():
        # newest first; among equals a copied price beats a derived one
        quotes.sort(key=lambda q: (q.as_of, not q.formula), reverse=True)
        chosen[(mt, region)][cap] = quotes[0]
        for q in quotes[1:]:
            superseded.append(
                f"{mt} {region} {cap}: {q.value:g} ({q.source} {q.as_of}"
                + (f", derived: {q.formula}" if q.formula else "")
                + f") superseded by {quotes[0].value:g} ({quotes[0].source} {quotes[0].as_of})"
            )
    order = {m["name"]: i for i, m in enumerate(machines)}
    prices = []
    for (mt, region), caps in sorted(
        chosen.items(), key=lambda kv: (order[kv[0][0]], region_key(kv[0][1]))
    ):
        od, spot = caps.get("on_demand"), caps.get("spot")
        source = (od or spot).source  # type: ignore[union-attr]
        spot_source = spot.source if spot is not None and spot.source != source else None
        prices.append(
            Price(
                machine_type=mt,
                region=region,
                on_demand=od.value if od else None,
                spot=spot.value if spot else None,
                source=source,
                spot_source=spot_source,
                on_demand_formula=od.formula if od else "",
                spot_formula=spot.formula if spot else "",
            )
        )
    return prices, sorted(superseded)


def _tpu_quotes(
    machines: list[dict[str, Any]], rows: list[TpuPriceRow], as_of: dict[str, str], offer: Any
) -> None:
    by_family_chips: dict[tuple[str, int, str], TpuPriceRow] = {}
    for row in rows:
        match = _TPU_SKU.match(row.sku)
        if match:
            by_family_chips[(_TPU_SKU_FAMILY[match.group(1)], int(match.group(2)), row.region)] = (
                row
            )
    for m in machines:
        acc = m.get("accelerator") or {}
        if acc.get("kind") != "tpu":
            continue
        chips = acc["count"]
        for (family, n, region), row in by_family_chips.items():
            if family != m["family"]:
                continue
            if n == chips:
                for cap, value in (("on_demand", row.on_demand), ("spot", row.spot)):
                    if value is not None:
                        offer(m["name"], region, cap, Quote(value, "SKYCAT", as_of["SKYCAT"]))
            elif n == 1 and chips > 1:
                for cap, value in (("on_demand", row.on_demand), ("spot", row.spot)):
                    if value is not None:
                        total, formula = derive([Component(chips, f"chip ({row.sku} row)", value)])
                        offer(
                            m["name"], region, cap, Quote(total, "SKYCAT", as_of["SKYCAT"], formula)
                        )


def _skynomad_quotes(
    machines: list[dict[str, Any]], rows: list[SpotComponents], offer: Any
) -> None:
    """a3-highgpu-* spot from SkyNomad's Cloud Billing SKUs (A3 vCPU, A3 RAM, H100 GPU), and
    a3-highgpu-8g on-demand as SkyNomad recorded it."""
    for row in rows:
        unit = {c.label: c.unit_price for c in row.components}
        for m in machines:
            if not m["name"].startswith("a3-highgpu-"):
                continue
            if {"cpu", "ram", "gpu"} <= set(unit):
                total, formula = derive(
                    [
                        Component(m["vcpus"], "vCPU", unit["cpu"]),
                        Component(m["memory_gb"], "GiB", unit["ram"]),
                        Component(m["accelerator"]["count"], "GPU", unit["gpu"]),
                    ]
                )
                offer(
                    m["name"], row.region, "spot", Quote(total, "SKYNOMAD", row.effective, formula)
                )
            if m["name"] == row.machine_type and row.on_demand is not None:
                offer(
                    m["name"],
                    row.region,
                    "on_demand",
                    Quote(float(row.on_demand), "SKYNOMAD", row.effective),
                )


_GPU_KEYS = {
    "a100": "nvidia-tesla-a100",
    "a100.80gb": "nvidia-a100-80gb",
    "h100.80gb": "nvidia-h100-80gb",
    "h100.80gb.mega": "nvidia-h100-mega-80gb",
    "l4": "nvidia-l4",
    "rtx6000": "nvidia-rtx-pro-6000",
    "p100": "nvidia-tesla-p100",
    "p4": "nvidia-tesla-p4",
    "t4": "nvidia-tesla-t4",
    "v100": "nvidia-tesla-v100",
}


def billing_skus(cyc: Cyclenerd, cur: dict[str, Any]) -> dict[str, Any]:
    """SKU description patterns per vCPU/RAM series and GPU type, from build/mapping.csv.

    ``%`` is SQL LIKE's wildcard, as in the source; the live refresh matches descriptions with it.
    """
    series = {f["sku_series"] for f in cur["families"]}
    cpu_ram: dict[str, dict[str, Any]] = defaultdict(dict)
    gpus: dict[str, dict[str, Any]] = defaultdict(dict)
    local_ssd: dict[str, Any] = {}
    for key, group, pattern in cyc.sku_patterns:
        if key in ("gce.storage.ssd.local", "gce.storage.ssd.local.spot"):
            cap = "spot" if key.endswith(".spot") else "on_demand"
            local_ssd[cap] = {"group": group, "description": pattern}
            continue
        parts = key.split(".")
        if parts[:2] != ["gce", "compute"] or parts[-1] in ("1y", "3y", "reserved", "custom"):
            continue
        spot = parts[-1] == "spot"
        body = parts[2:-1] if spot else parts[2:]
        if not body:
            continue
        kind, name = body[0], "-".join(body[1:]).replace(".", "-")
        cap = "spot" if spot else "on_demand"
        if (
            kind in ("cpu", "ram")
            and name in series
            and "custom" not in name
            and "premium" not in name
        ):
            cpu_ram[name][f"{kind}_{cap}"] = {"group": group, "description": pattern}
        elif kind == "gpu" and ".".join(body[1:]) in _GPU_KEYS:
            gpus[_GPU_KEYS[".".join(body[1:])]][cap] = {"group": group, "description": pattern}
    return {
        "series": dict(sorted(cpu_ram.items())),
        "gpus": dict(sorted(gpus.items())),
        "local_ssd": local_ssd,
    }
