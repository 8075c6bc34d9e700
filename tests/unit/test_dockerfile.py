"""Lint of the Dockerfile's essentials. No container engine runs here, so the image is never
built in tests; this checks what a review would: a multi-stage build on a slim base, a non-root
final user that matches the chart's ``runAsUser``, no package caches, dependencies installed
only from a fully ``==``-pinned file, and ``ccc run`` as the entrypoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
PINS = REPO / "requirements" / "image.txt"
CHART_UID = 65532


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_build_is_multi_stage_on_a_slim_python_311_base() -> None:
    steps = _instructions()
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2, "the Dockerfile must have a builder and a final stage"
    base = next(args for word, args in steps if word == "ARG" and args.startswith("PYTHON_IMAGE"))
    assert base.split("=", 1)[1] in ("python:3.11-slim",) or "distroless" in base
    final = _final_stage()
    assert any(word == "COPY" and args.startswith("--from=builder") for word, args in final)


def test_final_stage_runs_as_the_non_root_user_the_chart_expects() -> None:
    users = [args for word, args in _final_stage() if word == "USER"]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid == str(CHART_UID), f"USER {users[-1]} != the chart's runAsUser {CHART_UID}"
    deployment = (REPO / "charts" / "ccc" / "templates" / "deployment.yaml").read_text()
    assert f"runAsUser: {CHART_UID}" in deployment


def test_no_package_manager_caches_end_up_in_a_layer() -> None:
    for word, args in _instructions():
        if word != "RUN":
            continue
        for command in re.split(r"&&|\|\||;", args):
            if re.search(r"\bpip3? install\b", command) or re.search(r"\bpip3? wheel\b", command):
                assert "--no-cache-dir" in command, f"pip without --no-cache-dir: {command}"
            if re.search(r"\bapt-get install\b", command):
                assert "rm -rf /var/lib/apt/lists" in args, f"apt lists left behind: {args}"
    env = " ".join(args for word, args in _instructions() if word == "ENV")
    assert "PIP_NO_CACHE_DIR=1" in env


def test_dependencies_come_only_from_the_pinned_file() -> None:
    installs = [
        command
        for word, args in _instructions()
        if word == "RUN"
        for command in args.split("&&")
        if re.search(r"\bpip install\b", command)
    ]
    assert installs
    for command in installs:
        pinned = "-r requirements/image.txt" in command
        own_wheel_only = "--no-deps" in command and "-c requirements/image.txt" in command
        assert pinned or own_wheel_only, f"unpinned install: {command.strip()}"


def test_pinned_dependency_file_pins_every_line_exactly() -> None:
    assert PINS.exists(), (
        f"{PINS.relative_to(REPO)} is missing; see the Dockerfile for how to make it"
    )
    lines = [
        line.strip()
        for line in PINS.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[A-Za-z0-9_,\-]+\])?==[A-Za-z0-9_.+!\-]+", line), (
            f"requirements/image.txt: {line!r} is not pinned with =="
        )


def test_pinned_file_covers_every_runtime_dependency_of_the_package() -> None:
    """Every name in pyproject's ``dependencies`` has a pin (transitive ones come from freeze)."""
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pinned = {
        norm(line.split("==")[0])
        for line in PINS.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    wanted = {norm(re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]) for dep in deps}
    assert wanted <= pinned, f"not pinned in requirements/image.txt: {sorted(wanted - pinned)}"


def test_entrypoint_is_ccc_run_in_exec_form() -> None:
    entrypoints = [args for word, args in _final_stage() if word == "ENTRYPOINT"]
    assert entrypoints, "the final stage must set ENTRYPOINT"
    assert json.loads(entrypoints[-1]) == ["ccc", "run"]


@pytest.mark.parametrize(
    "needed", ["pyproject.toml", "README.md", "requirements", "ccc", "policies", "providers"]
)
def test_build_context_keeps_what_the_dockerfile_copies(needed: str) -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, ".dockerignore should start from an empty context"
    assert f"!{needed}" in ignore, f"{needed} is excluded from the build context"
    copies = " ".join(args for word, args in _instructions() if word == "COPY")
    assert needed in copies


def test_make_image_builds_with_docker() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^image:", makefile, re.M)
    assert "docker build" in makefile
    chart = yaml.safe_load((REPO / "charts" / "ccc" / "Chart.yaml").read_text())
    assert chart["appVersion"] in makefile or "pyproject.toml" in makefile
