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
    # synthetic pods are not admitted: the admission rules load only for a workload file
    assert "policies.class_admission" not in modules


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


def _ccc(
    args: list[str], stdin: str = "", *, via: tuple[str, ...] = ("-m", "ccc")
) -> tuple[int, str, str]:
    """``ccc ARGS`` in a fresh interpreter (``via``: how Python starts it)."""
    out = subprocess.run(
        [sys.executable, *via, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=120,
    )
    return out.returncode, out.stdout, out.stderr


MANIFESTS = REPO / "tests" / "manifests"


@pytest.mark.parametrize(
    "paths",
    [
        [str(CLASS)],
        [str(MANIFESTS / "invalid" / "affinity-enum.yaml"), str(CLASS)],
        [str(MANIFESTS / "valid")],
        [str(REPO / "no-such-file.yaml")],
        ["-"],
    ],
    ids=["valid", "invalid-and-valid", "directory", "missing", "stdin"],
)
def test_validate_of_plain_paths_prints_what_the_typer_command_prints(paths: list[str]) -> None:
    stdin = CLASS.read_text() if paths == ["-"] else ""
    # `--` sends the same paths through the Typer command (an option-like argument)
    assert _ccc(["validate", *paths], stdin) == _ccc(["validate", "--", *paths], stdin)


def test_validate_of_plain_paths_imports_neither_typer_nor_click() -> None:
    code, modules = _run(["validate", str(CLASS)])
    assert code == 0
    assert not [m for m in modules if m.split(".")[0] in ("typer", "click")]
    # options still reach the Typer command
    code, out, _ = _ccc(["validate", "--help"])
    assert code == 0 and "PATH" in out


def test_plan_with_plain_options_imports_neither_typer_nor_click() -> None:
    code, modules = _run(["plan", str(CLASS), "-o", "json"])
    assert code in (0, None)
    assert not [m for m in modules if m.split(".")[0] in ("typer", "click")]


def test_crd_builds_no_model_and_imports_neither_typer_nor_pydantic() -> None:
    code, modules = _run(["crd"])
    assert code in (0, None)
    # the CRDs are stored data (ccc.api.crd_data), generated from the models by a test
    assert not [m for m in modules if m.split(".")[0] in ("typer", "click", "pydantic")]
    assert not [m for m in modules if m.startswith(("ccc.api.computeclass", "ccc.api.crd."))]
    assert "ccc.api.crd" not in modules
