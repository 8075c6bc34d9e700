"""Print the mutation score of the last ``mutmut run``, per module and in total, and list the
surviving mutants.

Usage: ``python hack/mutation/score.py [--min 90] [--module-min 85]`` after ``mutmut run``
(``make mutation`` runs both). Exits 1 when fewer than ``--min`` percent of the checked mutants
are killed in total, or fewer than ``--module-min`` percent in any module with checked mutants.
"Killed" counts mutants a test failed on or that timed out (an infinite loop the tests
caught); mutants no selected test reaches ("no tests") count as not killed; mutants not checked
yet (an interrupted run, or a run of some modules only) are listed apart and left out of the
rates.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable

KILLED = ("killed", "timeout")
UNCHECKED = ("not checked", "skipped")


def parse(lines: Iterable[str]) -> dict[str, Counter[str]]:
    """``module -> status -> count`` from ``mutmut results --all true`` lines
    (``policies.walk.x_walk_group__mutmut_3: survived``)."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        name, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in name:
            continue
        module = name.split(".x", 1)[0] if ".x" in name else name.rsplit(".", 1)[0]
        out[module][status] += 1
    return dict(out)


def rate(counts: Counter[str]) -> tuple[int, int, float]:
    """Killed, checked, and the kill rate in percent of the checked mutants."""
    killed = sum(counts[s] for s in KILLED)
    checked = sum(counts.values()) - sum(counts[s] for s in UNCHECKED)
    return killed, checked, (100.0 * killed / checked if checked else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min", type=float, default=90.0, help="minimum total kill rate, percent")
    parser.add_argument(
        "--module-min", type=float, default=85.0, help="minimum kill rate of each module, percent"
    )
    args = parser.parse_args()
    results = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    modules = parse(results)
    total: Counter[str] = Counter()
    below: list[str] = []
    print(f"{'module':36} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8} {'rate':>6}")
    for module in sorted(modules):
        c = modules[module]
        total.update(c)
        killed, checked, pct = rate(c)
        if checked and pct < args.module_min:
            below.append(module)
        print(
            f"{module:36} {sum(c.values()):7} {killed:7} {c['survived']:8} {c['no tests']:8}"
            f" {pct:5.1f}%" + (f"  ({c['not checked']} not checked)" if c["not checked"] else "")
        )
    killed, checked, pct = rate(total)
    print(f"kill rate: {pct:.1f}% ({killed} of {checked} checked; {sum(total.values())} mutants)")
    survivors = [s.strip() for s in results if s.strip().endswith(("survived", "no tests"))]
    if survivors:
        print(f"not killed ({len(survivors)}):")
        for line in survivors:
            print(f"  {line}")
    if below:
        print(f"below {args.module_min:g}% killed: {', '.join(below)}")
    return 0 if pct >= args.min and not below else 1


if __name__ == "__main__":
    sys.exit(main())
