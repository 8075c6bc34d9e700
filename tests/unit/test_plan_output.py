"""`ccc plan` output for people and scripts: a table readable at 80 columns, `-o wide` with
every column, no reason that repeats the other columns, the waits capacityCheckWaitTimeSeconds
implies, GKE's per-pool node limit, `--detailed-exitcode`, flags checked against the catalog,
and the ScaleUpAnyway outcome."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccc.cli import main as cli_main
from ccc.cli.main import app

REPO = Path(__file__).resolve().parents[2]
CLASSES = sorted((REPO / "examples" / "computeclasses").glob("*.yaml")) + sorted(
    (REPO.parent / "shared" / "examples" / "computeclasses").glob("*.yaml")
)
H100 = REPO / "examples/computeclasses/h100-obtainability.yaml"

FLEX_WAIT = """apiVersion: cloud.google.com/v1
kind: ComputeClass
metadata: {name: waits}
spec:
  nodePoolAutoCreation: {enabled: true}
  priorities:
  - machineType: a3-highgpu-8g
    flexStart: {enabled: true}
    capacityCheckWaitTimeSeconds: 600
    location: {zones: [us-central1-a, us-central1-b]}
  - machineType: a3-highgpu-8g
    spot: true
    location: {zones: [us-central1-a]}
  whenUnsatisfiable: ScaleUpAnyway
"""


def _plan(*args: str, columns: int = 80) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["plan", *args], env={"COLUMNS": str(columns)})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_table_fits_80_columns_for_every_example_that_plans() -> None:
    planned = 0
    for path in CLASSES:
        code, out, err = _plan(str(path), "-n", "3")
        if code == 1:  # not plannable with the built-in catalog; errors are lines of their own
            assert err.startswith("error: "), err
            continue
        assert code == 0, err
        planned += 1
        widest = max(len(line.rstrip()) for line in out.splitlines())
        assert widest <= 80, f"{path.name}:\n{out}"
    assert planned >= 6


def test_viable_attempts_say_their_step_and_do_not_repeat_the_columns() -> None:
    code, out, _ = _plan(str(H100), "-n", "4")
    assert code == 0
    assert "first choice" in out and "fallback 1" in out
    assert "create 4 x a3-highgpu-8g" not in out.split("outcome:")[0]


def test_skip_reasons_are_numbered_notes_written_once(tmp_path: Path) -> None:
    code, out, _ = _plan(
        str(H100),
        "-n",
        "1",
        "-u",
        "a3-highgpu-8g:us-central1-a:reservation",
        "-u",
        "a3-highgpu-8g:us-central1-a:flex-start",
        "-u",
        "a3-highgpu-8g:us-central1-a:spot",
    )
    assert code == 0
    flat = " ".join(out.split())
    assert flat.count("skip [1]") == 3
    assert flat.count("marked unavailable until") == 1
    assert "[1] marked unavailable until" in flat


def test_wide_output_has_every_column_and_the_full_reason() -> None:
    code, out, _ = _plan(str(H100), "-n", "4", "-o", "wide", columns=80)
    assert code == 0
    header = next(line for line in out.splitlines() if line.lstrip().startswith("#"))
    for column in ("accelerator", "pool size", "wait", "tried after", "node pool", "reason"):
        assert column in header
    assert "first choice: create 4 x a3-highgpu-8g reservation in us-central1-a (rule 0)" in out
    assert "ccc-h100-obtainability-0-rs-" in out


def test_waits_of_flex_start_rules_delay_the_later_attempts(tmp_path: Path) -> None:
    path = tmp_path / "waits.yaml"
    path.write_text(FLEX_WAIT)
    code, out, _ = _plan(str(path), "-n", "1", "-o", "json")
    assert code == 0
    attempts = json.loads(out)["attempts"]
    viable = [a for a in attempts if a["decision"] != "skip"]
    assert [(a["capacityType"], a["waitSeconds"], a["triedAfterSeconds"]) for a in viable] == [
        ("flex-start", 600, 0),
        ("flex-start", 600, 600),
        ("spot", None, 1200),
    ]
    _, table, _ = _plan(str(path), "-n", "1")
    assert "after" in table and "20m" in table


def test_the_scale_up_anyway_outcome_says_what_ccc_will_do(tmp_path: Path) -> None:
    path = tmp_path / "waits.yaml"
    path.write_text(FLEX_WAIT)
    _, out, _ = _plan(str(path), "-n", "1", "-o", "json")
    outcome = json.loads(out)["outcome"]
    assert "GKE would add a default E2 node, but ccc creates no node outside the class's" in (
        outcome
    )
    assert "pods stay Pending" in outcome


def test_a_pool_beyond_gke_node_limit_is_warned_about() -> None:
    code, out, _ = _plan(str(REPO / "examples/computeclasses/l4-serving.yaml"), "-n", "1500")
    assert code == 0
    flat = " ".join(out.split())
    assert "warning: GKE allows at most 1,000 nodes per node pool per zone" in flat
    _, as_json, _ = _plan(
        str(REPO / "examples/computeclasses/l4-serving.yaml"), "-n", "1500", "-o", "json"
    )
    assert any("1,000 nodes per node pool" in w for w in json.loads(as_json)["warnings"])


def _workload(tmp_path: Path, gpus: int) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
        "  nodeSelector: {ccc.dev/compute-class: h100-obtainability}\n"
        "  tolerations: [{operator: Exists}]\n"
        f"  containers: [{{name: c, resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}}}]\n"
    )
    return path


def test_detailed_exitcode_is_2_when_pods_would_stay_pending(tmp_path: Path) -> None:
    too_big = _workload(tmp_path, 16)
    assert _plan(str(H100), "-w", str(too_big), "-o", "json")[0] == 0
    assert _plan(str(H100), "-w", str(too_big), "-o", "json", "--detailed-exitcode")[0] == 2


def test_detailed_exitcode_is_0_when_every_pod_has_a_first_choice(tmp_path: Path) -> None:
    fits = _workload(tmp_path, 8)
    assert _plan(str(H100), "-w", str(fits), "--detailed-exitcode")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-u", "a3-highgpu-9g:us-central1-a:spot"],
            "machine type 'a3-highgpu-9g' is not in the catalog; did you mean a3-highgpu-8g",
        ),
        (
            ["-u", "a3-highgpu-8g:us-central1-q:spot"],
            "'us-central1-q' is neither a zone nor a region of the catalog; did you mean",
        ),
        (["--zones", "us-centrl1-a"], "--zones: 'us-centrl1-a' is not a zone of the catalog"),
        (["--zones", ","], "--zones: give at least one zone"),
    ],
)
def test_unavailable_and_zones_are_checked_against_the_catalog(
    args: list[str], message: str
) -> None:
    code, _, err = _plan(str(H100), *args)
    assert code == 1
    assert message in err


def test_a_region_is_accepted_for_a_regional_quota() -> None:
    assert _plan(str(H100), "-u", "a3-highgpu-8g:us-central1:spot")[0] == 0


def test_a_near_miss_kind_in_the_class_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(H100.read_text().replace("kind: ComputeClass", "kind: CustomComputeClass"))
    code, _, err = _plan(str(path))
    assert code == 1
    assert "kind 'CustomComputeClass' is not a kind ccc knows; did you mean kind: ComputeClass" in (
        err
    )


def test_an_unexpected_error_is_one_line_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug is injected on purpose (a command that raises) to exercise the top-level guard."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("ccc.cli.validate_cmd.validate_paths", broken)
    monkeypatch.setattr(sys, "argv", ["ccc", "validate", str(H100)])
    monkeypatch.delenv(cli_main.DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as caught:
        cli_main.main()
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("ccc: internal error (RuntimeError: boom second line); this is a bug")
