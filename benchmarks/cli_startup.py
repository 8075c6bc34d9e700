"""CLI start-up: wall time of `ccc validate one.yaml`, `ccc plan`, `ccc catalog` and `ccc crd`,
each a fresh process as a user runs it, and the modules the command imports.

The target is at most 0.35 s per command on the project machine; run-only modules (the
Kubernetes client, Google Cloud SDKs, aiohttp, Prometheus) must not be imported at all.

    .venv/bin/python benchmarks/cli_startup.py [--repeat 15]

Prints, per command, the minimum and median wall time over the runs (the minimum is the figure
to compare: the machine is shared, and other work only ever adds time), the minimum CPU time
(user + system: what the command itself costs, whatever else runs), the same for a bare
`python -c pass` (the interpreter's own start-up), whether a run-only module was loaded, and the
load average while it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CCC = Path(sys.executable).with_name("ccc")
CLASS = REPO / "examples" / "computeclasses" / "h100-obtainability.yaml"
COMMANDS = {
    "validate": ["validate", str(CLASS)],
    "plan": ["plan", str(CLASS)],
    "catalog": ["catalog"],
    "crd": ["crd"],
}
RUN_ONLY = ("kubernetes_asyncio", "google.cloud", "aiohttp", "prometheus_client", "grpc")
TARGET_S = 0.35

# Runs one command in a fresh interpreter and reports its exit code and every module it loaded.
_PROBE = """
import json, sys
from ccc.cli.main import main
sys.argv = ["ccc", *json.loads(sys.argv[1])]
code = None
try:
    main()
except SystemExit as exit:
    code = exit.code
print("\\nRESULT " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def modules_loaded(args: list[str]) -> tuple[int | None, list[str]]:
    """Run ``ccc ARGS`` in a fresh interpreter; its exit code and the modules it imported."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=120,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    return result["code"], list(result["modules"])


def run_only(modules: list[str]) -> list[str]:
    """The run-only packages among ``modules``."""
    return sorted({r for r in RUN_ONLY for m in modules if m == r or m.startswith(r + ".")})


def _time(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per command")
    args = parser.parse_args()
    rows = [("python -c pass", [sys.executable, "-c", "pass"], None)]
    rows += [(f"ccc {name}", [str(CCC), *argv], argv) for name, argv in COMMANDS.items()]
    print(
        f"{'command':<16} {'wall min':>9} {'wall median':>12} {'CPU min':>8}"
        "  run-only modules loaded"
    )
    for label, argv, probe in rows:
        _time(argv)  # warm the file cache
        samples = [_time(argv) for _ in range(args.repeat)]
        walls = [w for w, _ in samples]
        cpu = min(c for _, c in samples)
        loaded = "-" if probe is None else (", ".join(run_only(modules_loaded(probe)[1])) or "none")
        flag = "" if probe is None or min(walls) <= TARGET_S else "  (wall over the target)"
        print(
            f"{label:<16} {min(walls):>9.3f} {statistics.median(walls):>12.3f} {cpu:>8.3f}"
            f"  {loaded}{flag}"
        )
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
