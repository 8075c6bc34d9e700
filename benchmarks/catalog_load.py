"""Start-up cost of the built-in catalog, and of `ccc plan` with it, in fresh interpreters.

Each measurement runs in a new Python process (as every CLI invocation does), ``--repeat`` times;
the median is printed. Parts:

* ``import``: importing ``ccc.api.builtin_catalog`` (pydantic models included);
* ``load``: ``load_builtin_catalog()`` (JSON parse + validation of every machine type);
* ``first price``: the first ``Catalog.price`` call (indexes the price CSV, parses one machine
  type's rows);
* ``ccc plan``: wall time of ``python -m ccc plan FILE -o json`` for the given class files.

    .venv/bin/python benchmarks/catalog_load.py [--repeat 7] [CLASS.yaml ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO.parent.parent / "shared/examples/computeclasses"
PROBE = """
import json, time
t0 = time.perf_counter()
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.values import CapacityType
t1 = time.perf_counter()
cat = load_builtin_catalog()
t2 = time.perf_counter()
cat.price("n2-standard-8", "us-central1-a", CapacityType.ON_DEMAND)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first price": t3 - t2,
                  "machine types": len(cat.machine_types)}))
"""


def probe(repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def plan_wall(path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "ccc", "plan", str(path), "-o", "json"],
            cwd=REPO,
            capture_output=True,
            check=False,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("classes", nargs="*", type=Path)
    args = ap.parse_args()
    parts = probe(args.repeat)
    print(f"built-in catalog: {int(parts.pop('machine types'))} machine types")
    for name, seconds in parts.items():
        print(f"  {name:12} {seconds * 1000:7.1f} ms (median of {args.repeat})")
    classes = args.classes or [
        EXAMPLES / "27-gkemcp-spot-with-fallback.yaml",
        EXAMPLES / "01-ap-gpu-h200-obtainability.yaml",
    ]
    for path in classes:
        print(f"ccc plan {path.name} -o json: {plan_wall(path, args.repeat):.3f} s wall (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
