"""``ccc validate``: verdicts, exit codes and the one-line-per-problem output, on the shared
examples, on our own manifests and on broken input (which must never produce a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccc.cli.main import app

REPO = Path(__file__).parents[2]
SHARED = REPO.parent / "shared"
EXAMPLES = SHARED / "examples" / "computeclasses"
MANIFESTS = REPO / "tests" / "manifests"


def _validate(*paths: Path | str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *map(str, paths)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


SHARED_FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_the_shared_examples_exist() -> None:
    assert len(SHARED_FILES) >= 8, f"expected the shared examples in {EXAMPLES}"


@pytest.mark.parametrize("path", SHARED_FILES, ids=[p.name for p in SHARED_FILES])
def test_shared_example_gets_the_verdict_its_header_states(path: Path) -> None:
    expect = next(line for line in path.read_text().splitlines() if line.startswith("# expect:"))
    code, output = _validate(path)
    if "invalid" in expect:
        assert code == 1, output
    else:
        assert code == 0, output
        assert output.startswith("OK: 1 ComputeClass valid in 1 file")


def test_only_example_28_is_invalid_and_the_line_names_file_class_and_field() -> None:
    code, output = _validate(EXAMPLES)
    assert code == 1
    problem_lines = [
        line
        for line in output.splitlines()
        if not line.startswith("FAILED") and ": warning: " not in line
    ]
    assert problem_lines == [
        f"{EXAMPLES / '28-gkemcp-l4-gpu-class-bad-storage.yaml'}: ComputeClass/l4-gpu-class:"
        " spec.priorities[0].storage.bootDisk: unknown field; use storage.bootDiskType and"
        " storage.bootDiskSize (GB)"
    ]
    assert "FAILED: 1 problem(s), 1 of 8 ComputeClass(es) invalid" in output


def test_our_valid_manifests_pass_with_a_short_summary() -> None:
    code, output = _validate(MANIFESTS / "valid")
    assert code == 0, output
    assert [line for line in output.splitlines() if ": warning: " not in line] == [
        output.splitlines()[0]
    ]
    assert output.startswith("OK: ")


def test_every_invalid_manifest_fails_with_one_line_per_problem() -> None:
    files = sorted((MANIFESTS / "invalid").glob("*.yaml"))
    code, output = _validate(*files)
    assert code == 1
    lines = output.splitlines()
    for file in files:
        assert any(line.startswith(f"{file}: ") for line in lines), f"nothing reported for {file}"
    for line in lines[:-1]:
        source, label, rest = line.split(": ", 2)
        assert source.endswith(".yaml")
        assert label.startswith(("ComputeClass/", "document "))
        assert rest


def test_problems_in_several_files_and_valid_files_are_reported_together(tmp_path: Path) -> None:
    good = MANIFESTS / "valid" / "empty-spec.yaml"
    bad = MANIFESTS / "invalid" / "flex-start-with-spot.yaml"
    code, output = _validate(good, bad)
    assert code == 1
    assert output.splitlines()[0] == (
        f"{bad}: ComputeClass/bad: spec.priorities[0].spot: flexStart cannot be combined with"
        " spot: true; move flex-start and Spot into separate rules"
    )


def test_unparseable_yaml_reports_file_line_and_column(tmp_path: Path) -> None:
    template = tmp_path / "class.yaml"
    template.write_text(
        "apiVersion: ccc.dev/v1alpha1\nkind: ComputeClass\nmetadata:\n"
        "  name: {{ .Values.name }}\nspec: {}\n"
    )
    code, output = _validate(template)
    assert code == 1
    first = output.splitlines()[0]
    assert first.startswith(f"{template}:4:10: invalid YAML: ")
    assert "unrendered template" in first


def test_other_kinds_are_skipped_and_counted(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n---\n"
        "apiVersion: ccc.dev/v1alpha1\nkind: ComputeClass\nmetadata: {name: c}\nspec: {}\n"
    )
    code, output = _validate(mixed)
    assert code == 0
    assert output.strip() == (
        "OK: 1 ComputeClass valid in 1 file, 1 other document(s) skipped (1 Deployment)"
    )


def test_a_file_without_compute_classes_is_a_usage_error(tmp_path: Path) -> None:
    other = tmp_path / "deploy.yaml"
    other.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    code, output = _validate(other)
    assert code == 2
    assert "no ComputeClass found in 1 file" in output


def test_a_document_without_kind_is_an_error_not_skipped(tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text("metadata: {name: x}\nspec: {}\n")
    code, output = _validate(bare)
    assert code == 1
    assert f"{bare}: document 1 (line 1): kind: missing; set kind: ComputeClass" in output


def test_a_missing_path_is_reported_with_exit_code_2(tmp_path: Path) -> None:
    code, output = _validate(tmp_path / "nope.yaml", MANIFESTS / "valid" / "empty-spec.yaml")
    assert code == 2
    assert f"{tmp_path / 'nope.yaml'}: no such file or directory" in output


@pytest.mark.parametrize(
    "content",
    [
        "- just\n- a list\n",
        "plain scalar\n",
        "kind: ComputeClass\nmetadata: [1, 2]\nspec: 7\n",
        "kind: ComputeClass\nmetadata:\n  name: x\nspec:\n  priorities: [[]]\n",
        "\tkind: ComputeClass\n",
        "kind: ComputeClass\nmetadata: {name: x}\nspec: {priorities: [{gpu: {count: 1e400}}]}\n",
    ],
)
def test_garbage_never_produces_a_traceback(tmp_path: Path, content: str) -> None:
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text(content)
    code, output = _validate(garbage)
    assert code in (1, 2)
    assert output.strip()


def test_binary_files_are_reported_as_unreadable(tmp_path: Path) -> None:
    blob = tmp_path / "blob.yaml"
    blob.write_bytes(b"\xff\xfe\x00\x01kind")
    code, output = _validate(blob)
    assert code == 1
    assert output.startswith(f"{blob}:1:1: not UTF-8 text (byte 0xff); save the file as UTF-8")


def test_validate_without_arguments_shows_usage() -> None:
    result = CliRunner().invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "Usage" in result.output


NEAR_MISSES = [
    ("ccc.dev/v1alpha1", "CustomComputeClass", "kind 'CustomComputeClass' is not a kind ccc knows"),
    ("cloud.google.com/v1", "ComputeClasses", "kind 'ComputeClasses' is not a kind ccc knows"),
    ("cloud.google.com/v1", "Computeclass", "kind 'Computeclass' is not a kind ccc knows"),
    ("cloud.google.com/v1", "ComputeClas", "kind 'ComputeClas' is not a kind ccc knows"),
    ("ccc.dev/v1alpha1", "Policy", "the ccc.dev API group has no kind 'Policy'; its kinds are"),
]


@pytest.mark.parametrize(("api_version", "kind", "message"), NEAR_MISSES)
def test_near_miss_kinds_are_errors_not_silent_skips(
    api_version: str, kind: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "near.yaml"
    path.write_text(f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\nspec: {{}}\n")
    code, output = _validate(path, MANIFESTS / "valid" / "empty-spec.yaml")
    assert code == 1
    assert f"{path}: {kind}/x: kind: {message}" in output
    assert "did you mean kind: ComputeClass" in output or "its kinds are" in output
    assert "FAILED: 1 problem(s), 1 of 2 documents invalid" in output


def test_other_groups_kinds_that_merely_live_in_cloud_google_com_are_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "backend.yaml"
    path.write_text("apiVersion: cloud.google.com/v1\nkind: BackendConfig\nmetadata: {name: b}\n")
    code, output = _validate(path, MANIFESTS / "valid" / "empty-spec.yaml")
    assert code == 0, output
    assert "(1 BackendConfig)" in output


def test_a_quoted_unrendered_template_gets_the_render_it_first_hint() -> None:
    code, output = _validate(MANIFESTS / "invalid" / "name-unrendered-template.yaml")
    assert code == 1
    assert "metadata.name: is not a valid Kubernetes object name" in output
    assert "this looks like an unrendered template: render it first (helm template)" in output


def test_cross_field_messages_name_the_rule_index(tmp_path: Path) -> None:
    path = tmp_path / "scores.yaml"
    path.write_text(
        "apiVersion: ccc.dev/v1alpha1\nkind: ComputeClass\nmetadata: {name: s}\nspec:\n"
        "  priorities:\n  - {machineFamily: n4, priorityScore: 5}\n  - {machineFamily: c3}\n"
        "  - {machineFamily: n2}\n"
    )
    code, output = _validate(path)
    assert code == 1
    assert (
        "spec.priorities: priorityScore must be set on every rule or on none; add a score to"
        " the rules without one (rules 1 and 2)"
    ) in output


def test_the_kind_dispatch_takes_new_kinds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ccc.api import manifest

    def parse(obj: object) -> object:
        raise manifest.InvalidManifest([manifest.Problem("spec.size", "must be positive")])

    monkeypatch.setitem(
        manifest.KINDS,
        "ServingGroup",
        manifest.KindSpec("ServingGroup", ("ccc.dev/v1alpha1",), parse),
    )
    path = tmp_path / "sg.yaml"
    path.write_text("apiVersion: ccc.dev/v1alpha1\nkind: ServingGroup\nmetadata: {name: g}\n")
    code, output = _validate(path)
    assert code == 1
    assert f"{path}: ServingGroup/g: spec.size: must be positive" in output
    assert "1 of 1 ServingGroup(s) invalid" in output
