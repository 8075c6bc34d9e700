"""Rebuild the built-in ``skynomad-h100`` trace from the SkyNomad probe table.

Reads ``h100_spot_probes.csv`` (ccc's shared copy of andylizf/skynomad-artifact's per-probe
counts, see its PROVENANCE.md), keeps for every zone only the probe rounds where the number of
launched VMs changed, and writes them in ccc's generic CSV trace format, gzip-compressed with a
fixed timestamp so the output is byte-for-byte reproducible:

    .venv/bin/python hack/traces/build_skynomad_h100.py \\
        [--probes ../shared/data/skynomad-gcp-h100-spot/h100_spot_probes.csv]

The result goes to ``providers/simulated/data/skynomad-h100/trace.csv.gz``; the test
``tests/unit/test_trace_sources.py`` checks that the shipped file equals this derivation.
"""

from __future__ import annotations

import argparse
import gzip
import os
from pathlib import Path

from providers.simulated.trace_csv import format_csv_trace
from providers.simulated.trace_sources import load_skynomad_probes

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("CCC_SHARED_DIR", REPO.parent / "shared"))
DEFAULT_PROBES = SHARED / "data" / "skynomad-gcp-h100-spot" / "h100_spot_probes.csv"
OUTPUT = REPO / "providers" / "simulated" / "data" / "skynomad-h100" / "trace.csv.gz"


def build(probes: Path) -> bytes:
    """The gzip-compressed generic CSV of the probe table (deterministic bytes)."""
    text = format_csv_trace(load_skynomad_probes(probes))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=Path, default=DEFAULT_PROBES)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    blob = build(args.probes)
    args.output.write_bytes(blob)
    print(f"wrote {args.output} ({len(blob)} bytes)")


if __name__ == "__main__":
    main()
