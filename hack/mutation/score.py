"""Print the mutation score of the last ``mutmut run`` and list surviving mutants.

Usage: ``python hack/mutation/score.py [--min 85]`` after ``mutmut run`` and
``mutmut export-cicd-stats`` (``make mutation`` runs all three). Exits 1 when fewer than
``--min`` percent of the mutants that tests reach are killed. "Killed" counts mutants a test
failed on or that timed out (an infinite loop the tests caught); mutants no selected test reaches
("no tests") count as not killed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stats", default="mutants/mutmut-cicd-stats.json")
    parser.add_argument("--min", type=float, default=85.0, help="minimum kill rate in percent")
    args = parser.parse_args()
    stats = json.loads(Path(args.stats).read_text())
    killed = stats["killed"] + stats.get("timeout", 0)
    total = stats["total"] - stats.get("skipped", 0)
    rate = 100.0 * killed / total if total else 0.0
    print(
        f"mutants: {stats['total']}  killed: {stats['killed']}  timeout: {stats.get('timeout', 0)}"
        f"  survived: {stats['survived']}  no tests: {stats.get('no_tests', 0)}"
        f"  suspicious: {stats.get('suspicious', 0)}  skipped: {stats.get('skipped', 0)}"
    )
    print(f"kill rate: {rate:.1f}% ({killed} of {total})")
    results = subprocess.run(
        [sys.executable, "-m", "mutmut", "results"], capture_output=True, text=True, check=False
    ).stdout
    survivors = [line.strip() for line in results.splitlines() if line.strip()]
    if survivors:
        print(f"not killed ({len(survivors)}):")
        for line in survivors:
            print(f"  {line}")
    return 0 if rate >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
