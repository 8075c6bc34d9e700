"""Readers of the public sources the catalog generator uses. Plain data out, no decisions.

* Cyclenerd/google-cloud-pricing-cost-calculator (Apache-2.0), read straight from a git snapshot
  at a pinned commit (``git show COMMIT:path``): ``pricing.yml`` (whole-VM prices per region),
  ``tools/machinetypes.csv`` and ``tools/machinetyperegion.csv`` (``gcloud compute machine-types
  list``: shapes and regions), ``tools/machinetypezone.csv`` and ``tools/zones.csv`` (the same, per
  zone, as of 2023), ``tools/acceleratortype{zone,region}.csv`` and ``build/mapping.csv`` (Cloud
  Billing SKU description patterns). Only data files are read; none of its code is used.
* ccc's shared data set (``../shared/data``): TPU slice prices transcribed from the SkyPilot
  catalog (``gcp-accelerator-prices/prices.csv``) and the SkyNomad Cloud Billing SKU components
  of a3-highgpu-8g (``skynomad-gcp-h100-spot/spot_price_cache_gcp/*.json``).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class GitSnapshot:
    """One commit of a fetched repository (a bare git directory)."""

    git_dir: Path
    commit: str

    def read(self, path: str) -> str:
        out = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", "show", f"{self.commit}:{path}"],
            check=True,
            capture_output=True,
        )
        return out.stdout.decode("utf-8")

    def last_change(self, path: str) -> str:
        """ISO date of the last commit (up to ``commit``) that changed ``path``."""
        out = subprocess.run(
            [
                "git",
                f"--git-dir={self.git_dir}",
                "log",
                "-1",
                "--format=%cs",
                self.commit,
                "--",
                path,
            ],
            check=True,
            capture_output=True,
        )
        return out.stdout.decode().strip()


def _semicolon_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def _grouped(snap: GitSnapshot, path: str, key: str, value: str) -> dict[str, set[str]]:
    """``key`` -> set of ``value`` over the rows of a semicolon CSV (the gcloud listings)."""
    out: dict[str, set[str]] = defaultdict(set)
    for row in _semicolon_rows(snap.read(path)):
        out[row[key]].add(row[value])
    return dict(out)


@dataclass
class Cyclenerd:
    """Everything read from the Cyclenerd snapshot."""

    generated: str
    #: name -> {"cpu", "ram", "cost": {region: {"hour", "hour_spot", ...}}, gpu key: count, ...}
    instances: dict[str, dict[str, Any]]
    #: name -> (vCPUs, memory GB, deprecated, shared core)
    shapes: dict[str, tuple[int, float, bool, bool]]
    #: name -> regions (2026 listing)
    regions: dict[str, set[str]]
    #: name -> zones (2023 listing)
    zones_2023: dict[str, set[str]]
    #: region -> zones (2023 listing)
    region_zones: dict[str, set[str]]
    #: accelerator type -> zones (2023) and regions (current)
    accelerator_zones_2023: dict[str, set[str]]
    accelerator_regions: dict[str, set[str]]
    #: (mapping key, resource group, description LIKE pattern) rows of build/mapping.csv
    sku_patterns: list[tuple[str, str, str]]
    file_dates: dict[str, str] = field(default_factory=dict)


def read_cyclenerd(snap: GitSnapshot) -> Cyclenerd:
    pricing = yaml.load(
        snap.read("pricing.yml"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )
    shapes: dict[str, tuple[int, float, bool, bool]] = {}
    for row in _semicolon_rows(snap.read("tools/machinetypes.csv")):
        shapes[row["NAME"]] = (
            int(row["CPUS"]),
            float(row["MEMORY_GB"]),
            bool(row["DEPRECATED"]),
            row["SHARED_CPU"] == "True",
        )
    regions = _grouped(snap, "tools/machinetyperegion.csv", "NAME", "ZONE")
    zones_2023 = _grouped(snap, "tools/machinetypezone.csv", "NAME", "ZONE")
    region_zones = _grouped(snap, "tools/zones.csv", "REGION", "NAME")
    acc_zones = _grouped(snap, "tools/acceleratortypezone.csv", "NAME", "ZONE")
    acc_regions = _grouped(snap, "tools/acceleratortyperegion.csv", "NAME", "ZONE")
    patterns = [
        (row["MAPPING"], row["GROUP"], row["SKU_DESCRIPTION"])
        for row in csv.DictReader(io.StringIO(snap.read("build/mapping.csv")))
        if row.get("SKU_DESCRIPTION")
    ]
    dated = [
        "pricing.yml",
        "tools/machinetypes.csv",
        "tools/machinetyperegion.csv",
        "tools/machinetypezone.csv",
        "tools/zones.csv",
        "tools/acceleratortypezone.csv",
        "tools/acceleratortyperegion.csv",
        "build/mapping.csv",
    ]
    return Cyclenerd(
        generated=str(pricing["about"]["generated"]),
        instances=pricing["compute"]["instance"],
        shapes=shapes,
        regions=regions,
        zones_2023=zones_2023,
        region_zones=region_zones,
        accelerator_zones_2023=acc_zones,
        accelerator_regions=acc_regions,
        sku_patterns=patterns,
        file_dates={p: snap.last_change(p) for p in dated},
    )


@dataclass(frozen=True)
class TpuPriceRow:
    """One SKYCAT row of prices.csv: an N-chip TPU slice (host included) in a region."""

    sku: str
    chips: int
    region: str
    on_demand: float | None
    spot: float | None


def read_tpu_prices(shared: Path) -> list[TpuPriceRow]:
    out = []
    with (shared / "gcp-accelerator-prices" / "prices.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["source_id"] != "SKYCAT" or not row["sku"].startswith("tpu-"):
                continue
            out.append(
                TpuPriceRow(
                    sku=row["sku"],
                    chips=int(row["accel_count"]),
                    region=row["region"],
                    on_demand=float(row["on_demand_usd_per_hr"])
                    if row["on_demand_usd_per_hr"]
                    else None,
                    spot=float(row["spot_usd_per_hr"]) if row["spot_usd_per_hr"] else None,
                )
            )
    return out


@dataclass(frozen=True)
class SkuComponent:
    """One Cloud Billing SKU price as SkyNomad recorded it."""

    label: str  # cpu | ram | gpu
    sku_id: str
    description: str
    unit_price: float


@dataclass(frozen=True)
class SpotComponents:
    region: str
    machine_type: str
    effective: str
    components: tuple[SkuComponent, ...]
    on_demand: float | None


def read_skynomad(shared: Path) -> list[SpotComponents]:
    out = []
    for path in sorted((shared / "skynomad-gcp-h100-spot" / "spot_price_cache_gcp").glob("*.json")):
        data = json.loads(path.read_text())
        out.append(
            SpotComponents(
                region=data["region"],
                machine_type=data["machine_type"],
                effective=data["effective_time"][:10],
                components=tuple(
                    SkuComponent(c["label"], c["sku_id"], c["description"], float(c["unit_price"]))
                    for c in data["components"]
                ),
                on_demand=data.get("on_demand_price"),
            )
        )
    return out
