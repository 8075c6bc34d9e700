"""`ccc plan` end to end through the CLI (no cluster, built-in catalog)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccc.cli.main import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SHARED = REPO.parent / "shared" / "examples" / "computeclasses"
runner = CliRunner()


def _plan(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["plan", *args])
    return result.exit_code, result.stdout, result.stderr


def test_plan_of_the_readme_example_lists_the_reservation_first() -> None:
    code, out, _ = _plan(
        str(EXAMPLES / "computeclasses/h100-obtainability.yaml"), "--replicas", "4", "-o", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["class"] == "h100-obtainability"
    first = doc["attempts"][0]
    assert (first["rule"], first["capacityType"], first["decision"], first["nodes"]) == (
        0,
        "reservation",
        "create",
        4,
    )
    assert [a["rule"] for a in doc["attempts"]] == sorted(a["rule"] for a in doc["attempts"])


def test_unavailable_offerings_are_skipped_with_the_reason() -> None:
    code, out, _ = _plan(
        str(EXAMPLES / "computeclasses/h100-obtainability.yaml"),
        "-n",
        "1",
        "-o",
        "json",
        "-u",
        "a3-highgpu-8g:us-central1-a:reservation",
        "-u",
        "a3-highgpu-8g:us-central1-a:flex-start",
    )
    assert code == 0
    attempts = json.loads(out)["attempts"]
    assert [a["decision"] for a in attempts[:3]] == ["skip", "skip", "create"]
    assert attempts[2]["zone"] == "us-central1-b"
    assert "marked unavailable" in attempts[0]["reason"]


def test_workload_file_drives_the_pod_count_and_shape() -> None:
    code, out, _ = _plan(
        str(EXAMPLES / "computeclasses/h100-obtainability.yaml"),
        "-w",
        str(EXAMPLES / "workloads/vllm-h100.yaml"),
        "-o",
        "yaml",
    )
    assert code == 0
    assert "nodes: 3" in out


def test_table_output_is_readable_and_ends_with_the_outcome() -> None:
    code, out, _ = _plan(str(EXAMPLES / "computeclasses/tpu-v6e-serving.yaml"), "-n", "2")
    assert code == 0
    assert "ct6e-standard-4t" in out and "outcome:" in out


@pytest.mark.parametrize(
    "name",
    [
        "01-ap-gpu-h200-obtainability.yaml",
        "08-ap-tpu-v5e-2x4.yaml",
        "12-vszal-flexstart-training.yaml",
        "39-docs-crd-reference-snippet-2024.yaml",
    ],
)
def test_plan_runs_on_published_gke_manifests(name: str) -> None:
    code, out, err = _plan(str(SHARED / name), "-n", "2", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["attempts"]


def test_an_invalid_class_prints_one_line_per_problem_with_the_field_path() -> None:
    code, _, err = _plan(str(SHARED / "28-gkemcp-l4-gpu-class-bad-storage.yaml"))
    assert code == 1
    assert "ComputeClass/l4-gpu-class: spec.priorities[0].storage.bootDisk" in err
    assert "Traceback" not in err


def test_unparseable_yaml_reports_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: ccc.dev/v1alpha1\nkind: ComputeClass\nmetadata: {name: {{ .x }}\n")
    code, _, err = _plan(str(bad))
    assert code == 1
    assert re.search(rf"{re.escape(str(bad))}:\d+:\d+: invalid YAML", err)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-u", "a3-highgpu-8g:us-central1-a"], "MACHINE_TYPE:ZONE:CAPACITY_TYPE"),
        (["-u", "a3-highgpu-8g:us-central1-a:cheap"], "capacity type must be one of"),
        (["-w", "missing.yaml"], "no such file"),
        (["-w", str(EXAMPLES / "workloads/l4-batch.yaml")], "no pod selects the class"),
        (["-n", "2", "-w", str(EXAMPLES / "workloads/vllm-h100.yaml")], "not both"),
    ],
)
def test_bad_flags_give_a_clear_error_and_a_non_zero_exit(args: list[str], message: str) -> None:
    code, _, err = _plan(str(EXAMPLES / "computeclasses/h100-obtainability.yaml"), *args)
    assert code != 0
    assert message in err and "Traceback" not in err


def test_missing_class_file_is_a_clear_error() -> None:
    code, _, err = _plan("does-not-exist.yaml")
    assert code == 1 and "no such file" in err
