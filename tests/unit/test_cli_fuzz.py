"""No input makes the CLI raise: hypothesis mutates the bytes of real manifests (flips, inserts
of control characters, YAML syntax and templates, deletions, duplications) and runs
`ccc validate`, `ccc plan CLASS` and `ccc plan CLASS --workload FILE` on the result.

Each run must end with an exit status the command documents (0, 1 or 2) and a message, never an
exception escaping the command (the top-level guard in `ccc.cli.main.main` is not involved:
the Typer app is invoked directly, so a bug would show up here as `result.exception`).
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ccc.cli.main import app

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "examples" / "computeclasses"
CLASSES = [
    p.read_bytes()
    for p in sorted(SHARED.glob("*.yaml")) + sorted((REPO / "examples/computeclasses").glob("*"))
]
WORKLOADS = [p.read_bytes() for p in sorted((REPO / "examples/workloads").glob("*.yaml"))]
H100 = REPO / "examples/computeclasses/h100-obtainability.yaml"

# Fragments that tend to break YAML readers and validators in interesting ways.
_FRAGMENTS = [
    b"\x00",
    b"\x1b[31m",
    b"\t",
    b"\xff\xfe",
    b"{{ .Values.x }}",
    b'"{{ x }}"',
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"[",
    b"]",
    b"{",
    b": ",
    b"- ",
    b"\n---\n",
    b"!!binary ",
    b"!!python/object:os.system ",
    b".nan",
    b"1e999",
    b"-1",
    b"99999999999999999999",
    b"null",
    b"~",
    b"? ",
    b"kind: List\nitems:\n- ",
    b"  ",
    b"\n  ",
    b"\xe2\x80\xa8",
]


_VALUES = [
    b"x",
    b"-3",
    b"3x",
    b"1.5",
    b"true",
    b"[]",
    b"{}",
    b"[1, 2]",
    b"{a: 1}",
    b"null",
    b'"{{ .Values.x }}"',
    b"500m",
    b"1e999",
    b"Gi",
    b"My_Name!",
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(data)))
        operation = draw(
            st.sampled_from(["value", "value", "value", "insert", "delete", "flip", "duplicate"])
        )
        values = [i + 2 for i in range(len(data) - 1) if data[i : i + 2] == b": "]
        if operation == "value" and values:
            # Replace a field's value (up to the end of its line) with a fragment.
            start = draw(st.sampled_from(values))
            end = data.find(b"\n", start)
            data[start : end if end >= 0 else len(data)] = draw(st.sampled_from(_VALUES))
        elif operation == "insert":
            piece = draw(st.one_of(st.sampled_from(_FRAGMENTS), st.binary(min_size=1, max_size=3)))
            data[position:position] = piece
        elif operation == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=40))]
        elif operation == "flip" and position < len(data):
            data[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        else:
            data[position:position] = data[max(0, position - 30) : position]
    return bytes(data)


def _run(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"ccc {' '.join(args)} raised {result.exception!r}"
    )
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert result.output.strip(), "a failure must say why"


_SETTINGS = settings(
    max_examples=int(os.environ.get("CCC_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(data=mutated(CLASSES))
def test_mutated_class_manifests_never_crash_validate_or_plan(data: bytes) -> None:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ccc-fuzz-{os.getpid()}.yaml"
    path.write_bytes(data)
    try:
        _run("validate", str(path))
        _run("plan", str(path), "-n", "2", "-o", "json")
    finally:
        path.unlink(missing_ok=True)


@_SETTINGS
@given(data=mutated(WORKLOADS))
def test_mutated_workload_files_never_crash_plan(data: bytes) -> None:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ccc-fuzz-workload-{os.getpid()}.yaml"
    path.write_bytes(data)
    try:
        _run("plan", str(H100), "--workload", str(path), "-o", "json")
    finally:
        path.unlink(missing_ok=True)
