"""How many planned attempts carry a price: `ccc plan` over real ComputeClasses.

For every manifest in a directory (default: the shared examples, real classes written by
others), run ``ccc plan FILE -o json`` as a user would and count the attempts that are not
skips and, of those, the ones with a ``pricePerHour``. Classes that do not plan (invalid, or
made only of existing node pools) are listed with the first line of the error. Prints one line
per class and the total; the total is the figure in docs/benchmarks.md. Reservation attempts
are priced 0.0 by the walk (capacity already paid for); the figure without them is printed too.

    .venv/bin/python benchmarks/price_coverage.py [DIR] [-- extra ccc plan flags]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent.parent / "shared/examples/computeclasses"


@dataclass
class Count:
    attempts: int = 0
    priced: int = 0
    reservation: int = 0
    unpriced_types: frozenset[str] = frozenset()

    def add(self, other: Count) -> None:
        self.attempts += other.attempts
        self.priced += other.priced
        self.reservation += other.reservation
        self.unpriced_types = self.unpriced_types | other.unpriced_types


def plan(path: Path, extra: list[str]) -> tuple[Count | None, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "ccc", "plan", str(path), "-o", "json", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode not in (0, 2):
        first = (proc.stderr or proc.stdout).strip().splitlines()
        return None, first[0][:150] if first else f"exit {proc.returncode}"
    doc = json.loads(proc.stdout)
    count = Count()
    unpriced: set[str] = set()
    for a in doc["attempts"]:
        if a["decision"] == "skip":
            continue
        count.attempts += 1
        if a["capacityType"] == "reservation":
            count.reservation += 1
        if a["pricePerHour"] is not None:
            count.priced += 1
        else:
            unpriced.add(f"{a['machineType']}/{a['capacityType']}")
    count.unpriced_types = frozenset(unpriced)
    return count, ""


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:5.1f}%" if d else "    -"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("extra", nargs="*", help="flags passed to ccc plan (after --)")
    args = ap.parse_args()
    total = Count()
    print(f"{'class file':45} {'attempts':>8} {'priced':>7} {'share':>6}")
    for path in sorted(args.directory.glob("*.y*ml")):
        count, error = plan(path, args.extra)
        if count is None:
            print(f"{path.name:45} not planned: {error}")
            continue
        total.add(count)
        share = pct(count.priced, count.attempts)
        print(f"{path.name:45} {count.attempts:8d} {count.priced:7d} {share}")
        if count.unpriced_types:
            print(f"{'':45}   unpriced: {', '.join(sorted(count.unpriced_types))}")
    no_res = total.attempts - total.reservation
    print(f"{'TOTAL':45} {total.attempts:8d} {total.priced:7d} {pct(total.priced, total.attempts)}")
    print(
        f"{'TOTAL without reservation attempts':45} {no_res:8d} "
        f"{total.priced - total.reservation:7d} {pct(total.priced - total.reservation, no_res)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
