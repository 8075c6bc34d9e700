#!/usr/bin/env python3
"""Generate ccc's built-in GCP catalog from public sources.

    .venv/bin/python hack/catalog/generate.py \\
        --cyclenerd /work/.mirror/Cyclenerd+google-cloud-pricing-cost-calculator/repo \\
        --commit fd66b26ff84fee5cdd94f341ea89206e76c06b99 --shared ../shared/data

writes ``ccc/api/data/gcp-catalog.json`` (machine types, zones, provenance),
``ccc/api/data/gcp-prices.csv`` (prices) and ``ccc/api/data/gcp-billing-skus.yaml`` (SKU
patterns for the live Cloud Billing refresh), then prints what it left out and which older
prices a newer source superseded. ``--check`` compares instead of writing (exit 1 on a
difference). The fetched repository itself is never committed; see README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from build import Built, billing_skus, build_machine_types, build_prices
from sources import GitSnapshot, read_cyclenerd, read_skynomad, read_tpu_prices
from write import billing_yaml, catalog_json

from ccc.api.builtin_catalog import parse_catalog
from ccc.api.pricing import format_price_csv

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_MIRROR = Path("/work/.mirror/Cyclenerd+google-cloud-pricing-cost-calculator/repo")
DEFAULT_COMMIT = "fd66b26ff84fee5cdd94f341ea89206e76c06b99"

FLEX_NOTE = (
    "Assumption, not a price. No per-SKU DWS flex-start price was found; GKE documents "
    'flex-start as "discounts (up to 53%) on vCPU, GPU and TPU" (kubernetes-engine/docs/concepts/'
    "dws). ccc uses the published upper bound 0.53, the only figure any source gives, so a "
    "flex-start price ccc shows is a lower bound (best case) of the real price. Override it in "
    "your own catalog file if you know your discount."
)


def sources_table(cyc_commit: str, generated: str, dates: dict[str, str]) -> dict[str, Any]:
    cyc = "github.com/Cyclenerd/google-cloud-pricing-cost-calculator"
    return {
        "CYCLENERD": {
            "title": "Cyclenerd pricing.yml: whole-VM list prices per region (on-demand, spot)",
            "url": f"{cyc} pricing.yml",
            "version": f"commit {cyc_commit}, generated {generated}",
            "as_of": dates["pricing.yml"],
            "license": "Apache-2.0",
        },
        "CYCLENERD-MACHINES": {
            "title": "gcloud compute machine-types list: shapes and regions per machine type",
            "url": f"{cyc} tools/machinetypes.csv, tools/machinetyperegion.csv",
            "version": f"commit {cyc_commit}",
            "as_of": dates["tools/machinetyperegion.csv"],
            "license": "Apache-2.0",
        },
        "CYCLENERD-ZONES": {
            "title": "gcloud machine-types / accelerator-types / zones list, per zone",
            "url": f"{cyc} tools/machinetypezone.csv, acceleratortypezone.csv, zones.csv",
            "version": f"commit {cyc_commit}",
            "as_of": dates["tools/machinetypezone.csv"],
            "license": "Apache-2.0",
        },
        "SKYCAT": {
            "title": "SkyPilot catalog rows (Cloud Billing Catalog API), via ccc's shared "
            "gcp-accelerator-prices/prices.csv: TPU v5e and v6e slices incl. host",
            "url": "github.com/skypilot-org/skypilot-catalog catalogs/v7/gcp/vms.csv",
            "version": "commit 017e2502fb63c7a28757acd94002b2d6099d3e3d",
            "as_of": "unknown",
            "license": "none stated (values transcribed by hand, see PROVENANCE.md)",
        },
        "SKYNOMAD": {
            "title": "SkyNomad Cloud Billing SKU cache for a3-highgpu-8g (A3 vCPU, RAM, H100)",
            "url": "github.com/andylizf/skynomad-artifact data/spot_price_cache/gcp",
            "version": "fetched 2025-10-23, SKUs effective 2025-10-22",
            "as_of": "2025-10-22",
            "license": "Apache-2.0",
        },
        "TPU-ZONES": {
            "title": "Cloud TPU regions and zones; GKE flex-start page (v6e asia-northeast1-b)",
            "url": "docs.cloud.google.com/tpu/docs/regions-zones",
            "version": "stored copy in the project's docs corpus (lists TPU7x)",
            "as_of": "unknown",
            "license": "Google documentation (facts only)",
        },
        "XPK": {
            "title": "xpk system_characteristics.py: GKE accelerator names, TPU topologies",
            "url": "github.com/AI-Hypercomputer/xpk src/xpk/core/system_characteristics.py",
            "version": "commit 367c838253bea41e7d7716145ad6513f44c1a21e",
            "as_of": "2026-06-25",
            "license": "Apache-2.0",
        },
        "GCE-GPU-DOCS": {
            "title": "Compute Engine GPU machine types: N1 + T4/P4/V100/P100 limits",
            "url": "cloud.google.com/compute/docs/gpus",
            "version": "transcribed, not re-checked against a stored copy",
            "as_of": "unknown",
            "license": "Google documentation (facts only)",
        },
    }


PROVENANCE = """\
GENERATED by hack/catalog/generate.py from public sources (see `sources`); do not edit by hand.
Schema: ccc.api.catalog.Catalog (unknown keys are errors). Docs: docs/catalog.md.
Machine types: every non-deprecated type of the families in hack/catalog/curated.yaml that the
Compute API lists (CYCLENERD-MACHINES), with its vCPUs and memory. Accelerators: CYCLENERD
(GPU keys), XPK and curated.yaml. TPU topologies: XPK and GKE's "Plan TPUs" tables.
Zones: regions from CYCLENERD-MACHINES; within a region, the zones named by CYCLENERD-ZONES,
TPU-ZONES, SKYNOMAD or SKYCAT; where no source names a zone of a listed region, all zones of
that region are listed and repeated in unverified_zones.
Prices (gcp-prices.csv): USD per node-hour, list prices. One value per machine type, region and
capacity type; the newest source wins; values derived from SKU components or from a 1-chip TPU
row carry their formula (on_demand_formula / spot_formula) and fill only gaps. A price no source
gives is absent: never invented. Flex-start is on-demand x (1 - flex_start_discount), an
explicit assumption (below)."""


def generate(args: argparse.Namespace) -> tuple[dict[str, str], Built]:
    snap = GitSnapshot(args.cyclenerd, args.commit)
    cyc = read_cyclenerd(snap)
    curated = yaml.safe_load((HERE / "curated.yaml").read_text())
    machines, excluded, resolver = build_machine_types(cyc, curated)
    as_of = {"CYCLENERD": cyc.file_dates["pricing.yml"], "SKYCAT": ""}
    prices, superseded = build_prices(
        machines, cyc, read_tpu_prices(args.shared), read_skynomad(args.shared), as_of
    )
    built = Built(
        machine_types=machines,
        prices=prices,
        billing_skus=billing_skus(cyc, curated),
        excluded=excluded,
        superseded=superseded,
        skipped_regions=dict(resolver.skipped),
    )
    head = {
        "provenance": PROVENANCE,
        "sources": sources_table(args.commit, cyc.generated, cyc.file_dates),
        "flex_start_discount": 0.53,
        "flex_start_discount_note": FLEX_NOTE,
        "prices_csv": "gcp-prices.csv",
    }
    files = {
        "gcp-catalog.json": catalog_json(head, machines),
        "gcp-prices.csv": format_price_csv(
            prices,
            header_notes=[
                "Prices of ccc's built-in catalog, USD per node-hour. GENERATED by",
                "hack/catalog/generate.py; sources and rules: gcp-catalog.json `provenance`.",
            ],
        ),
        "gcp-billing-skus.yaml": billing_yaml(
            "# Cloud Billing SKU description patterns ('%' = any text) per vCPU/RAM series and\n"
            "# GPU type, used by the live price refresh (providers/gke/billing.py).\n"
            "# GENERATED by hack/catalog/generate.py from Cyclenerd build/mapping.csv\n"
            f"# (commit {args.commit}, Apache-2.0).",
            built.billing_skus,
        ),
    }
    return files, built


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--cyclenerd", type=Path, default=DEFAULT_MIRROR, help="git dir of the fetched snapshot"
    )
    ap.add_argument("--commit", default=DEFAULT_COMMIT)
    ap.add_argument("--shared", type=Path, default=REPO.parent.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "ccc" / "api" / "data")
    ap.add_argument("--check", action="store_true", help="compare with the files in --out")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    files, built = generate(args)
    # The output must load: schema, consistency and every price row.
    cat = parse_catalog(
        files["gcp-catalog.json"],
        origin="generated gcp-catalog.json",
        resources={"gcp-prices.csv": files["gcp-prices.csv"]},
    )
    cat.validate_prices()
    if args.check:
        stale = [n for n, text in files.items() if (args.out / n).read_text() != text]
        for n in stale:
            print(f"{args.out / n} is out of date; run hack/catalog/generate.py", file=sys.stderr)
        return 1 if stale else 0
    for name, text in files.items():
        (args.out / name).write_text(text)
    if not args.quiet:
        report(built)
    return 0


def report(built: Built) -> None:
    n_prices = sum((p.on_demand is not None) + (p.spot is not None) for p in built.prices)
    derived = [p for p in built.prices if p.on_demand_formula or p.spot_formula]
    print(
        f"{len(built.machine_types)} machine types, {len(built.prices)} price rows "
        f"({n_prices} prices, {len(derived)} rows with a derived value)"
    )
    print("Left out:")
    for name, why in sorted(built.excluded.items()):
        print(f"  {name}: {why}")
    skipped: dict[str, int] = {}
    for regions in built.skipped_regions.values():
        for r in regions:
            skipped[r] = skipped.get(r, 0) + 1
    print("Regions the Compute listing names but no source lists zones of (left out):")
    for region, n in sorted(skipped.items()):
        print(f"  {region}: {n} machine or GPU types")
    print("Superseded by a newer source (only values from another source are listed):")
    for line in built.superseded:
        if "(SKYCAT " in line and line.endswith("(SKYCAT )"):
            continue  # a 1-chip derivation where the source has the slice row itself
        print(f"  {line}")


if __name__ == "__main__":
    sys.exit(main())
