"""Reading manifests never tracebacks or hangs, and every bad input gets a located, specific
message: control characters, deep nesting, alias bombs, huge files and documents, named pipes,
devices, symlink loops, unreadable files; and what kubectl accepts (merge keys, ``kind: List``,
stdin, timestamps and numeric keys as strings) ccc accepts too."""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccc.api import file_source, yaml_source
from ccc.api.manifest import ManifestError, load_file, manifest_files
from ccc.cli.main import app

CLASS = """apiVersion: ccc.dev/v1alpha1
kind: ComputeClass
metadata:
  name: {name}
spec:
  priorities:
  - machineType: a3-highgpu-8g
"""
#: The same class with pool creation on (GKE's default is off, which ``validate`` warns about),
#: for tests that compare the whole output.
CREATING_CLASS = CLASS.replace("spec:\n", "spec:\n  nodePoolAutoCreation:\n    enabled: true\n")


def _validate(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *args], input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _error(text: str | bytes, tmp_path: Path) -> str:
    path = tmp_path / "m.yaml"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    with pytest.raises(ManifestError) as caught:
        load_file(path)
    return str(caught.value).removeprefix(str(path))


@pytest.mark.parametrize(
    ("inserted", "expected"),
    [
        ("\x1b[31m", ":4:13: control character U+001B (ESC) is not allowed in YAML; a pasted"),
        ("\x00", ":4:13: control character U+0000 (NUL) is not allowed in YAML; is this a binary"),
        ("\x07", ":4:13: control character U+0007 (BEL) is not allowed in YAML"),
    ],
)
def test_control_characters_are_named_with_line_and_column(
    inserted: str, expected: str, tmp_path: Path
) -> None:
    text = CLASS.format(name="h100").replace("name: h100", "name: h100" + inserted)
    assert _error(text, tmp_path).startswith(expected)


def test_yaml_nested_300_deep_is_refused_where_it_gets_too_deep(tmp_path: Path) -> None:
    message = _error("a: " + "[" * 300 + "]" * 300 + "\n", tmp_path)
    assert message == (
        ":1:103: nested more than 100 levels deep; no Kubernetes object is this deep, is the"
        " file corrupted?"
    )


def test_a_deep_block_mapping_is_refused_too(tmp_path: Path) -> None:
    text = "x:\n" + "".join("  " * (i + 1) + "k:\n" for i in range(300))
    assert "nested more than 100 levels deep" in _error(text, tmp_path)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    message = _error("\n".join(lines) + "\n", tmp_path)
    assert "aliases expand this document to more than 1,000,000 values" in message


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    assert "recursive alias" in _error("a: &a [*a]\n", tmp_path)


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(yaml_source.MAX_FILE_BYTES + 1)
    with pytest.raises(ManifestError) as caught:
        load_file(big)
    assert "file is larger than 8 MiB (8.0 MiB read); split it" in str(caught.value)


def test_a_document_over_the_api_server_limit_is_refused(tmp_path: Path) -> None:
    text = "a: " + "x" * (yaml_source.MAX_DOCUMENT_CHARS + 10) + "\n---\nb: 1\n"
    message = _error(text, tmp_path)
    assert message.startswith(":1:1: document is larger than 3 MiB, the most the API server")


def test_non_utf8_bytes_are_located(tmp_path: Path) -> None:
    assert _error(b"a: 1\nb: \xff\n", tmp_path) == (
        ":2:4: not UTF-8 text (byte 0xff); save the file as UTF-8"
    )


def test_a_named_pipe_without_a_writer_is_refused_after_the_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_source, "PIPE_WAIT_S", 0.2)
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    code, output = _validate(str(fifo))
    assert code == 1
    assert f"{fifo}: named pipe (FIFO) with nothing written to it within 0.2 s" in output


def test_a_named_pipe_with_a_writer_is_read_like_process_substitution(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(CREATING_CLASS.format(name="piped")))
    writer.start()
    try:
        code, output = _validate(str(fifo))
    finally:
        writer.join(timeout=10)
    assert (code, output.strip()) == (0, "OK: 1 ComputeClass valid in 1 file")


def test_devices_are_refused_without_reading_them() -> None:
    code, output = _validate("/dev/zero")
    assert code == 1
    assert "/dev/zero: is a character device, not a manifest file" in output


def test_a_symlink_loop_is_named_as_such(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    code, output = _validate(str(loop))
    assert code == 2
    assert f"{loop}: symbolic link loop (too many levels of symbolic links)" in output


def test_a_broken_symlink_in_a_directory_is_reported_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(CLASS.format(name="good"))
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "gone.yaml")
    code, output = _validate(str(tmp_path))
    assert code == 1
    assert f"{tmp_path / 'dangling.yaml'}: broken symbolic link to {tmp_path / 'gone.yaml'}" in (
        output
    )


def _as_nobody(function: Callable[[], Any]) -> Any:
    """Run ``function`` in a forked child without root's right to read every file (the test
    suite often runs as root, which ignores file modes); return its result or the text of the
    exception it raised."""
    if os.geteuid() != 0:
        try:
            return function()
        except Exception as exc:  # returned as text, like the child's
            return str(exc)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            outcome: Any = function()
        except Exception as exc:
            outcome = str(exc)
        os.write(write_end, pickle.dumps(outcome))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


def test_an_unreadable_file_says_permission_denied(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    secret = tmp_path / "secret.yaml"
    secret.write_text(CLASS.format(name="secret"))
    secret.chmod(0o000)
    outcome = _as_nobody(lambda: load_file(secret))
    assert outcome == (
        f"{secret}: permission denied; make the file readable (chmod +r) or run as its owner"
    )


def test_stdin_is_read_for_a_dash() -> None:
    code, output = _validate("-", stdin=CREATING_CLASS.format(name="from-stdin"))
    assert (code, output.strip()) == (0, "OK: 1 ComputeClass valid in 1 file")


def test_problems_in_stdin_name_it() -> None:
    code, output = _validate("-", stdin=CLASS.format(name="My_Class"))
    assert code == 1
    assert output.startswith("<stdin>: ComputeClass/My_Class: metadata.name: is not a valid")


def test_yaml_merge_keys_work_and_explicit_keys_win(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "x-defaults: &defaults\n  machineType: a3-highgpu-8g\n  spot: false\n"
        "---\n"
        + CLASS.format(name="merged").replace(
            "  - machineType: a3-highgpu-8g\n",
            "  - <<: *defaults\n    spot: true\n",
        )
    )
    with pytest.raises(ManifestError):  # an alias only works inside its own document
        load_file(path)
    path.write_text(
        CLASS.format(name="merged").replace(
            "spec:\n  priorities:\n  - machineType: a3-highgpu-8g\n",
            "spec:\n  priorityDefaults: {}\n  priorities:\n"
            "  - &base {machineType: a3-highgpu-8g, spot: false}\n"
            "  - <<: *base\n    spot: true\n",
        )
    )
    [doc] = load_file(path)
    assert doc.body["spec"]["priorities"][1] == {"machineType": "a3-highgpu-8g", "spot": True}
    assert _validate(str(path))[0] == 0


def test_duplicate_keys_are_errors_but_merged_keys_may_be_overridden(tmp_path: Path) -> None:
    assert "duplicate key 'a'; keep only one" in _error("a: 1\na: 2\n", tmp_path)


def test_kind_list_from_kubectl_get_is_unwrapped_with_the_lines_of_its_items(
    tmp_path: Path,
) -> None:
    items = "".join(
        "- " + CLASS.format(name=n).replace("\n", "\n  ").rstrip() + "\n" for n in ("a", "b")
    )
    path = tmp_path / "list.yaml"
    path.write_text(f"apiVersion: v1\nkind: List\nitems:\n{items}")
    docs = load_file(path)
    assert [(d.name, d.item, d.line) for d in docs] == [("a", 0, 4), ("b", 1, 11)]
    assert _validate(str(path))[1].startswith("OK: 2 ComputeClasses valid in 1 file")


def test_values_decode_as_kubectl_sends_them(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("d: 2024-01-01\nk: {1: a, true: b}\nf: 2.0\n")
    [doc] = load_file(path)
    assert doc.body == {"d": "2024-01-01", "k": {"1": "a", "true": "b"}, "f": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: .nan\n", ":1:4: invalid YAML: .nan (not a number / infinity) has no JSON form"),
        ("a: !!binary aGk=\n", ":1:4: invalid YAML: the YAML tag !!binary has no JSON form"),
        ("? [a]\n: 1\n", ":1:3: invalid YAML: mapping key is a list"),
        ("a: !Ref x\n", ":1:4: invalid YAML: could not determine a constructor for the tag"),
    ],
)
def test_yaml_without_a_json_form_is_located(text: str, expected: str, tmp_path: Path) -> None:
    assert _error(text, tmp_path).startswith(expected)


def test_directories_list_yaml_files_sorted_and_do_not_follow_linked_directories(
    tmp_path: Path,
) -> None:
    (tmp_path / "b.yaml").write_text("a: 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text("a: 1\n")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "sub")
    assert manifest_files(tmp_path) == [tmp_path / "b.yaml", tmp_path / "sub" / "a.yml"]
