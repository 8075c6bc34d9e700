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

Byte code: an installed ccc (``pip install`` of the wheel, the image) runs from compiled
``.pyc`` files. A development shell often sets ``PYTHONDONTWRITEBYTECODE=1`` (this machine's
does), and then every run compiles ccc's own modules from source again (about 0.06 s of
``ccc validate``). So the commands run with a byte-code cache of their own
(``PYTHONPYCACHEPREFIX``, a directory under the system temp dir; the warm-up run fills it);
``--no-bytecode-cache`` runs them with the caller's environment as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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
from ccc.cli.entry import main
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


def bytecode_cached_env() -> dict[str, str]:
    """The environment with a byte-code cache: compiled modules are written on the first run
    and read on the next ones, as from an installed wheel."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "ccc-cli-startup-pycache")
    return env


def _time(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per command")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run with the environment as it is (PYTHONDONTWRITEBYTECODE=1: compile every run)",
    )
    args = parser.parse_args()
    env = None if args.no_bytecode_cache else bytecode_cached_env()
    rows = [("python -c pass", [sys.executable, "-c", "pass"], None)]
    rows += [(f"ccc {name}", [str(CCC), *argv], argv) for name, argv in COMMANDS.items()]
    print(
        f"{'command':<16} {'wall min':>9} {'wall median':>12} {'CPU min':>8}"
        "  run-only modules loaded"
    )
    for label, argv, probe in rows:
        _time(argv, env)  # warm the file cache (and the byte-code cache)
        samples = [_time(argv, env) for _ in range(args.repeat)]
        walls = [w for w, _ in samples]
        cpu = min(c for _, c in samples)
        loaded = "-" if probe is None else (", ".join(run_only(modules_loaded(probe)[1])) or "none")
        flag = "" if probe is None or min(walls) <= TARGET_S else "  (wall over the target)"
        print(
            f"{label:<16} {min(walls):>9.3f} {statistics.median(walls):>12.3f} {cpu:>8.3f}"
            f"  {loaded}{flag}"
        )
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print("byte code: " + ("as the environment has it" if env is None else "cached"))


if __name__ == "__main__":
    main()
