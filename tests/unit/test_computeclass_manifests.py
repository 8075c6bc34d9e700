"""Every manifest under ``tests/manifests`` gets the verdict and the field path its header
promises, every cross-field rule is exercised by at least one invalid manifest, and error
messages say how to fix the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccc.api.computeclass import ComputeClass, cross_field_rules
from ccc.api.manifest import (
    InvalidComputeClass,
    ManifestError,
    Problem,
    load_documents,
    load_file,
    parse_compute_class,
)
from ccc.api.reference import rules_under

MANIFESTS = Path(__file__).parents[2] / "tests" / "manifests"
VALID = sorted((MANIFESTS / "valid").rglob("*.y*ml"))
INVALID = sorted((MANIFESTS / "invalid").glob("*.yaml"))


def _header(path: Path, key: str) -> str | None:
    for line in path.read_text().splitlines():
        if line.startswith(f"# {key}:"):
            return line.split(":", 1)[1].strip()
    return None


def _problems(path: Path) -> list[Problem]:
    problems: list[Problem] = []
    for doc in load_file(path):
        try:
            parse_compute_class(doc.body)
        except InvalidComputeClass as exc:
            problems += exc.problems
    return problems


def test_there_are_many_manifests_of_each_verdict() -> None:
    assert len(VALID) >= 10
    assert len(INVALID) >= 60


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_manifest_has_no_problems(path: Path) -> None:
    assert _problems(path) == []


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_manifest_is_reported_at_the_promised_field(path: Path) -> None:
    expected = _header(path, "expect-error")
    assert expected, f"{path.name} lacks an '# expect-error: <field.path>' header"
    problems = _problems(path)
    assert expected in [p.path for p in problems], problems
    for problem in problems:  # messages continue "field.path: ...", so they start lower-case
        assert not problem.message[0].isupper(), problem


def test_every_cross_field_rule_is_exercised_by_an_invalid_manifest() -> None:
    exercised = {_header(path, "rule") for path in INVALID}
    declared = {rule.id for rules in rules_under(ComputeClass).values() for rule in rules}
    assert declared - exercised == set()


def test_every_rule_message_says_how_to_fix_it() -> None:
    fixes = (
        "set ",
        "add ",
        "remove",
        "use ",
        "rename",
        "shorten",
        "move",
        "choose",
        "give ",
        "list ",
    )
    for rules in cross_field_rules().values():
        for rule in rules:
            assert any(word in rule.message for word in fixes), rule.id


@pytest.mark.parametrize(
    ("manifest", "suggestion"),
    [
        ("unknown-boot-disk.yaml", "bootDiskType and storage.bootDiskSize"),
        ("unknown-spec-field.yaml", "did you mean priorities"),
        ("unknown-location-type.yaml", "locationPolicy"),
        ("unknown-reservation-keys.yaml", "reservations.affinity"),
    ],
)
def test_unknown_fields_come_with_a_suggestion(manifest: str, suggestion: str) -> None:
    [problem] = _problems(MANIFESTS / "invalid" / manifest)
    assert problem.message.startswith("unknown field")
    assert suggestion in problem.message


def test_a_typo_in_a_nested_field_suggests_the_close_names() -> None:
    doc = {
        "apiVersion": "cloud.google.com/v1",
        "kind": "ComputeClass",
        "metadata": {"name": "typo"},
        "spec": {"priorities": [{"machineFamily": "n4", "storage": {"bootDiskSzie": 100}}]},
    }
    with pytest.raises(InvalidComputeClass) as caught:
        parse_compute_class(doc)
    [problem] = caught.value.problems
    assert problem.path == "spec.priorities[0].storage.bootDiskSzie"
    assert "did you mean bootDiskSize" in problem.message


def test_several_problems_in_one_class_are_all_reported() -> None:
    doc = {
        "apiVersion": "ccc.dev/v1alpha1",
        "kind": "ComputeClass",
        "metadata": {"name": "many"},
        "spec": {
            "whenUnsatisfiable": "Never",
            "priorities": [
                {"machineType": "n2-standard-8", "machineFamily": "n2"},
                {"spot": True, "flexStart": {"enabled": True}, "machineFamily": "g2"},
            ],
        },
    }
    with pytest.raises(InvalidComputeClass) as caught:
        parse_compute_class(doc)
    paths = [p.path for p in caught.value.problems]
    assert paths == [
        "spec.priorities[0].machineType",
        "spec.priorities[1].spot",
        "spec.whenUnsatisfiable",
    ]
    assert caught.value.name == "many"


@pytest.mark.parametrize("body", [[1, 2], "text", 7])
def test_a_document_that_is_not_a_mapping_is_a_problem_not_a_crash(body: object) -> None:
    with pytest.raises(InvalidComputeClass, match="expected a mapping"):
        parse_compute_class(body)  # type: ignore[arg-type]


def test_documents_of_a_directory_are_found_recursively_and_empty_ones_skipped() -> None:
    documents = load_documents(MANIFESTS / "valid")
    names = [doc.name for doc in documents]
    assert "nested" in names  # from nested/in-subdirectory.yml
    assert names.count("first") == names.count("second") == 1
    multi = [doc for doc in documents if doc.source.endswith("multi-document.yaml")]
    assert [doc.index for doc in multi] == [0, 2]


def test_unparseable_yaml_reports_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: ccc.dev/v1alpha1\nkind: ComputeClass\nmetadata:\n  name: [x\n")
    with pytest.raises(ManifestError) as caught:
        load_file(bad)
    assert caught.value.line is not None and caught.value.column is not None
    assert caught.value.location().startswith(f"{bad}:")


def test_an_unrendered_template_is_recognised(tmp_path: Path) -> None:
    bad = tmp_path / "template.yaml"
    bad.write_text("kind: ComputeClass\nmetadata:\n  name: {{ .Values.name }}\n")
    with pytest.raises(ManifestError, match="unrendered template") as caught:
        load_file(bad)
    assert (caught.value.line, caught.value.column) == (3, 10)


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "dup.yaml"
    bad.write_text("kind: ComputeClass\nspec:\n  whenUnsatisfiable: A\n  whenUnsatisfiable: B\n")
    with pytest.raises(ManifestError, match="duplicate key 'whenUnsatisfiable'") as caught:
        load_file(bad)
    assert caught.value.line == 4


def test_a_missing_path_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file"):
        load_documents(tmp_path / "absent.yaml")
