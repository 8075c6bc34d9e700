"""``ccc simulate`` through the CLI: every flag, the error paths with their located messages and
exit codes (1: an input is wrong; 2: the flags do not make a run), determinism."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from ccc.cli.main import app
from ccc.simulate.result import SimulationResult

runner = CliRunner()
CLASS = """\
apiVersion: ccc.dev/v1alpha1
kind: ComputeClass
metadata: {name: h100}
spec:
  nodePoolAutoCreation: {enabled: true}
  priorities:
  - machineType: a3-highgpu-1g
    spot: true
  - machineType: a3-highgpu-1g
  whenUnsatisfiable: DoNotScaleUp
"""
WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: vllm, namespace: ml}
spec:
  replicas: 3
  template:
    spec:
      nodeSelector: {ccc.dev/compute-class: h100}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      containers:
      - name: vllm
        resources:
          requests: {cpu: "4", memory: 16Gi}
          limits: {nvidia.com/gpu: "1"}
"""
SCENARIO = """\
events:
- at: 1h
  preempt: {machineType: a3-highgpu-1g, zone: us-central1-a, capacityType: spot, nodes: 1}
- at: 2h
  demand: {workload: vllm, replicas: 5}
"""


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    (tmp_path / "classes").mkdir()
    (tmp_path / "classes" / "h100.yaml").write_text(CLASS)
    (tmp_path / "vllm.yaml").write_text(WORKLOAD)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    return tmp_path


def sim(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_workload_with_a_scenario_in_given_zones_gives_the_stable_json(files: Path) -> None:
    code, out, err = sim(
        str(files / "classes"),
        "--workload", str(files / "vllm.yaml"),
        "--scenario", str(files / "s.yaml"),
        "--zones", "us-central1-a,us-central1-b",
        "--start", "2025-10-04T00:00:00Z",
        "--duration", "4h",
        "--boot-time", "120s",
        "--preemption", "zero",
        "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    result = SimulationResult.from_json(out)
    assert (result.start, result.end, result.region) == (
        "2025-10-04T00:00:00Z",
        "2025-10-04T04:00:00Z",
        "us-central1",
    )
    s = result.summary
    assert s.preemptions == 1
    # 3 pods boot for 120 s; the preempted one is replaced in the pass that sees the
    # preemption (no batching window) and waits 120 s; the 2 added at 2 h wait 1 s (batching)
    # + 120 s.
    wanted = 3 * 7200 + 5 * 7200
    lost = 3 * 120 + 120 + 2 * 121
    assert s.served_fraction == pytest.approx((wanted - lost) / wanted)
    zones = {label.split("/")[1] for p in result.timeline for label in p.nodes}
    # The preempted offering is marked PREEMPTED, so its replacement goes to the other zone.
    assert zones == {"us-central1-a", "us-central1-b"}
    assert "us-central1-b" not in {label.split("/")[1] for label in result.timeline[0].nodes}
    assert result.timeline[0].demand == 3 and result.timeline[-1].demand == 5


def test_the_same_seed_and_inputs_give_byte_identical_json_and_other_seeds_differ(
    files: Path,
) -> None:
    """--seed jitters boot times and when trace drops hit (docs/simulate.md, "Seed"): the same
    seed gives the same document byte for byte; another seed moves the boots and drops."""
    args = (
        str(files / "classes" / "h100.yaml"), "--replicas", "4", "--trace", "skynomad-h100",
        "--region", "us-central1", "--duration", "12h", "-o", "json",
    )  # fmt: skip
    first, second = sim(*args, "--seed", "7"), sim(*args, "--seed", "7")
    assert first[0] == 0, first[2]
    assert first[1] == second[1]
    other, exact = sim(*args, "--seed", "8"), sim(*args)
    assert other[0] == 0 and exact[0] == 0
    times = [
        [p.t for p in SimulationResult.from_json(doc).timeline]
        for doc in (first[1], other[1], exact[1])
    ]
    assert times[0] != times[1] and times[0] != times[2]


def test_the_built_in_trace_drives_preemptions_and_the_table_shows_the_summary(
    files: Path,
) -> None:
    code, out, err = sim(
        str(files / "classes" / "h100.yaml"), "--replicas", "16", "--trace", "skynomad-h100",
        "--region", "us-central1", "--duration", "2d",
    )  # fmt: skip
    assert code == 0, err
    assert "served fraction" in out and "top decisions" in out
    stockouts = re.search(r"stockouts\s*│\s*(\d+)", out)
    assert "provision" in out and stockouts is not None and int(stockouts.group(1)) > 0


def test_the_report_flag_writes_a_self_contained_page(files: Path) -> None:
    page = files / "r.html"
    code, _, err = sim(
        str(files / "classes"), "--replicas", "2", "--zones", "us-central1-a",
        "--duration", "2h", "--report", str(page),
    )  # fmt: skip
    assert code == 0, err
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 3
    assert "us-central1" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replicas", "2", "--duration", "soon"], "--duration 'soon': expected a duration"),
        (["--replicas", "2", "--duration", "0s"], "--duration '0s': must be longer than 0s"),
        (["--replicas", "2", "--boot-time", "-4"], "--boot-time '-4': expected a duration"),
        (["--replicas", "2", "--start", "yesterday"], "--start 'yesterday': expected an ISO 8601"),
        (["--replicas", "2", "--start", "2025-10-04T00:00:00"], "give a time zone"),
        (["--replicas", "2", "--trace", "nope"], "--trace: 'nope' is neither a built-in trace"),
        (["--replicas", "2", "--zones", "mars-1a"], "--zones 'mars-1a': unknown zone(s) mars-1a"),
        (["--replicas", "2", "--region", "mars1"], "--region 'mars1': no zone of the catalog"),
        (
            ["--replicas", "2", "--trace", "skynomad-h100"],
            "cannot tell which region to simulate",
        ),
        (["--replicas", "2", "--report", "/nonexistent/dir/r.html"], "does not exist"),
    ],
)
def test_a_bad_flag_value_is_a_located_error_with_exit_code_1(
    files: Path, args: list[str], message: str
) -> None:
    code, out, err = (
        sim(str(files / "classes"), "--zones", "us-central1-a", *args)
        if ("--zones" not in args and "--region" not in args and "--trace" not in args)
        else sim(str(files / "classes"), *args)
    )
    assert code == 1, (out, err)
    assert message in err
    assert out == ""


def test_scenario_problems_are_all_listed_with_file_and_line(files: Path) -> None:
    bad = files / "bad.yaml"
    bad.write_text(
        "events:\n- at: 9h\n  demand: {workload: other, replicas: 2}\n"
        "- at: 1h\n  preempt: {machineType: a3-highgpu-1g, zone: us-central1-a, nodes: 0}\n"
    )
    code, _, err = sim(str(files / "classes"), "--replicas", "2", "--zones", "us-central1-a",
                       "--duration", "4h", "--scenario", str(bad))  # fmt: skip
    assert code == 1
    assert f"{bad}:5:" in err and "events[1].preempt.nodes" in err
    code, _, err = sim(str(files / "classes"), "--replicas", "2", "--zones", "us-central1-a",
                       "--duration", "4h", "--scenario", str(files / "s.yaml"))  # fmt: skip
    assert code == 1
    assert f"{files / 's.yaml'}:4: demand.workload: no workload named 'vllm'" in err


def test_an_invalid_class_names_file_line_and_field(files: Path) -> None:
    bad = files / "bad-class.yaml"
    bad.write_text(CLASS.replace("spot: true", "spot: maybe"))
    code, _, err = sim(str(bad), "--replicas", "1", "--zones", "us-central1-a")
    assert code == 1
    assert f"{bad}:1: ComputeClass/h100:" in err and "spot" in err


def test_a_workload_that_selects_no_given_class_is_refused(files: Path) -> None:
    other = files / "other.yaml"
    other.write_text(WORKLOAD.replace("compute-class: h100", "compute-class: l4"))
    code, _, err = sim(str(files / "classes"), "--workload", str(other), "--zones", "us-central1-a")
    assert code == 1
    assert "selects ComputeClass 'l4', which is not among the classes given (h100)" in err


def test_no_class_and_a_missing_file_are_input_errors(files: Path) -> None:
    code, _, err = sim(str(files / "vllm.yaml"), "--replicas", "1", "--zones", "us-central1-a")
    assert (code, "no ComputeClass in") == (1, err.split(": ", 1)[1][:18])
    code, _, err = sim(str(files / "missing.yaml"), "--replicas", "1")
    assert code == 1 and "missing.yaml" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give the demand: --workload FILE, --replicas N or --serving-group FILE"),
        (["--replicas", "1", "--workload", "w.yaml"], "not ['--workload', '--replicas']"),
        (
            ["--replicas", "1", "--serving-group", "sg.yaml"],
            "not ['--replicas', '--serving-group']",
        ),
        (["--replicas", "1", "-o", "yaml"], "Invalid value for '--output'"),
        (["--replicas", "1", "--preemption", "sometimes"], "Invalid value for '--preemption'"),
    ],
)
def test_flags_that_do_not_make_a_run_exit_with_code_2(
    files: Path, args: list[str], message: str
) -> None:
    code, _, err = sim(str(files / "classes"), *args)
    assert code == 2
    assert message in err


def test_json_output_is_clean_of_logs_and_progress(files: Path) -> None:
    code, out, err = sim(str(files / "classes"), "--replicas", "2", "--zones", "us-central1-a",
                         "--duration", "1h", "-o", "json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["summary"]["provisioningRequests"] == 1
    assert err == ""
