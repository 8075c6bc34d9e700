"""`ccc plan` and `ccc crd` read a plain command line without Typer (start-up: Typer and its
parameter adapters were about a tenth of a second of each start, benchmarks/cli_startup.py).
Every command line that way must mean, print and exit exactly what it does through the Typer
command; every other line (help, `--`, usage errors, values Typer converts) is refused and left
to Typer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccc.cli import crd_cmd, plan_cmd
from ccc.cli.main import app
from ccc.cli.plain_args import PlainParser, parse, positive_int
from tests.unit.test_cli_startup import _ccc

REPO = Path(__file__).resolve().parents[2]
CLASS = str(REPO / "examples" / "computeclasses" / "h100-obtainability.yaml")
L4 = str(REPO / "examples" / "computeclasses" / "l4-serving.yaml")
L4_WORKLOAD = str(REPO / "examples" / "workloads" / "l4-batch.yaml")
SERVING = str(REPO / "examples" / "serving" / "llama-3.1-8b")

PLAN_LINES = [
    [CLASS],
    [CLASS, "-o", "json"],
    [CLASS, "--output=yaml", "--replicas", "3"],
    ["-o", "wide", CLASS, "-n2"],
    [
        CLASS,
        "-u",
        "a3-highgpu-8g:us-central1-a:spot",
        "--unavailable=a3-highgpu-8g:us-central1-b:spot",
    ],
    [CLASS, "--region", "europe-west4", "--detailed-exitcode"],
    [CLASS, "--zones", "us-central1-a,us-central1-c", "-n", "1", "-n", "2"],
    [CLASS, "-u", "no-such-machine:us-central1-a:spot"],
    [CLASS, "--zones", "mars-central1-a"],
    [L4, "-w", L4_WORKLOAD, "--no-admission"],
    [L4, "--workload", L4_WORKLOAD, "--no-admission", "--admission", "-o", "json"],
    [L4, "-w", L4_WORKLOAD, "--default-compute-class", "l4-serving"],
    [L4, "-w", L4_WORKLOAD, "-n", "2"],
    [str(REPO / "no-such-class.yaml")],
    [SERVING, "--unobtainable", "h100", "-o", "json"],
    [SERVING, "-n", "2"],
]


class _FrozenDatetime(datetime):
    """`datetime` whose `now` is one fixed instant, so that the two runs compared here print
    the same expiry for an `--unavailable` mark (each is `now` + the mark's duration, and a
    second boundary falls between two real runs now and then)."""

    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        return datetime(2026, 12, 3, 16, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _one_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_cmd, "datetime", _FrozenDatetime)


def _typer(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def _plain(
    module: object, args: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    options = module.parse_plain(args)  # type: ignore[attr-defined]
    assert options is not None, f"{args} was refused"
    try:
        code = module.run(options)  # type: ignore[attr-defined]
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("args", PLAN_LINES, ids=lambda a: " ".join(Path(x).name for x in a))
def test_plan_without_typer_prints_and_exits_as_the_typer_command(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _plain(plan_cmd, args, capsys) == _typer(["plan", *args])


@pytest.mark.parametrize(
    "args",
    [[], ["-o", "json"], ["--kind", "ServingGroup"], ["-k", "ComputeClass", "--output=json"]],
)
def test_crd_without_typer_prints_what_the_typer_command_prints(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _plain(crd_cmd, args, capsys) == _typer(["crd", *args])


@pytest.mark.parametrize(
    "args",
    [
        [],  # the class file is missing
        [CLASS, "--help"],
        ["--", CLASS],
        [CLASS, "-h"],
        [CLASS, "extra.yaml"],
        [CLASS, "--no-such-option"],
        [CLASS, "--detail"],  # an abbreviation
        [CLASS, "-o", "JSON"],  # Typer's matching of the case decides
        [CLASS, "-n", "0"],
        [CLASS, "-n", "01"],
        [CLASS, "-n", "+2"],
        [CLASS, "-n=2"],
        [CLASS, "--replicas"],
        [CLASS, "--region="],
        [CLASS, "--region", ""],
        [CLASS, "--region", "-1"],
        [CLASS, "--detailed-exitcode=yes"],
        ["-1"],
    ],
)
def test_plan_leaves_every_other_command_line_to_typer(args: list[str]) -> None:
    assert plan_cmd.parse_plain(args) is None


@pytest.mark.parametrize("args", [["-o", "JSON"], ["--kind", "computeclass"], ["--help"], ["x"]])
def test_crd_leaves_other_case_help_and_arguments_to_typer(args: list[str]) -> None:
    assert crd_cmd.parse_plain(args) is None


def test_a_plain_plan_line_has_the_typer_commands_defaults() -> None:
    assert plan_cmd.parse_plain([CLASS]) == plan_cmd.PlanOptions(class_file=Path(CLASS))
    assert plan_cmd.parse_plain(["-", "-o", "json", "-u", "a", "-u", "b"]) == (
        plan_cmd.PlanOptions(
            class_file=Path("-"), output=plan_cmd.Output.json, unavailable=("a", "b")
        )
    )


def test_a_short_option_may_carry_its_value_and_stdin_is_a_path() -> None:
    parser = PlainParser()
    parser.add_argument("path")
    parser.add_argument("--count", "-n", type=positive_int)
    parser.add_argument("--flag", action="store_true")
    parsed = parse(parser, ["-", "-n12", "--flag"])
    assert parsed is not None
    assert (parsed.path, parsed.count, parsed.flag) == ("-", 12, True)
    assert parse(parser, ["-", "--flag=1"]) is None
    assert parse(parser, ["-", "-x"]) is None


@pytest.mark.parametrize("args", [["plan", CLASS, "--help"], ["plan", CLASS, "-n", "0"]])
def test_the_executable_sends_refused_lines_to_the_typer_command(args: list[str]) -> None:
    via_entry = _ccc(args, via=("-c", "from ccc.cli.entry import main; main()"))
    # ccc.cli.main: always the Typer app
    assert via_entry == _ccc(args, via=("-c", "from ccc.cli.main import main; main()"))
    assert via_entry[0] == (0 if "--help" in args else 2)
