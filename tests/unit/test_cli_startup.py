"""`ccc validate`, `ccc plan`, `ccc catalog` and `ccc crd` do not import what only `ccc run`
needs (the Kubernetes client, Google Cloud SDKs, aiohttp, Prometheus, gRPC): start-up is
measured by benchmarks/cli_startup.py; this checks the behaviour behind it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli_startup import modules_loaded, run_only

REPO = Path(__file__).resolve().parents[2]
CLASS = REPO / "examples" / "computeclasses" / "h100-obtainability.yaml"


def _run(args: list[str]) -> tuple[int | None, list[str]]:
    return modules_loaded(args)


@pytest.mark.parametrize(
    "args",
    [
        ["validate", str(CLASS)],
        ["plan", str(CLASS)],
        ["plan", str(CLASS), "-o", "json"],
        ["catalog"],
        ["crd"],
    ],
    ids=["validate", "plan", "plan-json", "catalog", "crd"],
)
def test_offline_commands_do_not_import_the_run_only_libraries(args: list[str]) -> None:
    code, modules = _run(args)
    assert code in (0, None)
    assert run_only(modules) == []


def test_validate_imports_neither_the_planner_nor_the_table_printer() -> None:
    code, modules = _run(["validate", str(CLASS)])
    assert code in (0, None)
    # validate's warnings (policies.warnings: zones outside the region, pool creation off,
    # fields not acted on) compile the class (policies.tiers, with the location rules) and
    # nothing more of the decision core: never the planner, the state or the lifecycle.
    core = {m for m in modules if m == "policies" or m.startswith("policies.")}
    warnings = {"policies.warnings", "policies.tiers", "policies.unacted", "policies.location"}
    assert core <= {"policies", *warnings}, sorted(core - warnings)
    assert not [m for m in modules if m.startswith(("ccc.controller", "ccc.cli.plan"))]
    assert not [m for m in modules if m.startswith(("rich", "ccc.cli.text_table"))]
    # a file of ComputeClasses never loads the ServingGroup models
    assert not [m for m in modules if m.startswith("ccc.api.servinggroup")]


def test_ccc_run_is_still_a_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ccc", "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "--provider" in out.stdout


def test_plan_prints_its_table_without_rich() -> None:
    code, modules = _run(["plan", str(CLASS)])
    assert code in (0, None)
    assert not [m for m in modules if m.startswith("rich")]
    # planning a class never loads the ServingGroup capacity split
    assert not [m for m in modules if m.startswith("ccc.cli.plan_serv")]


@pytest.mark.parametrize("output", ["table", "json"])
def test_catalog_loads_neither_the_computeclass_models_nor_rich_nor_yaml(output: str) -> None:
    code, modules = _run(["catalog", "-o", output])
    assert code in (0, None)
    # NodePoolSpec completes itself with the node settings (which reuse the ComputeClass
    # models) on first use, and the catalog never builds a pool spec
    assert not [m for m in modules if m.startswith(("ccc.api.computeclass", "ccc.api.node_s"))]
    # the table is plain text (rich took about 0.5 s to lay out every machine type); asyncio
    # and rich are for --refresh, PyYAML for -o yaml and YAML catalog files
    assert not [m for m in modules if m.startswith(("rich", "asyncio", "yaml"))]
