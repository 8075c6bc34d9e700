"""Proof that the locally built tools are real, version-stamped releases: every binary reports the
pinned version from hack/control-plane/versions.env, and helm lints and renders a chart.

Version stamping matters beyond cosmetics: kwokctl and Helm `kubeVersion:` constraints read these
versions, and an unstamped kube binary reports v0.0.0.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.controlplane import REPO_ROOT

pytestmark = [pytest.mark.controlplane, pytest.mark.e2e]

CHART = Path(__file__).parent / "charts" / "trivial"


def _pinned() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "hack" / "control-plane" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            pins[key.strip()] = value.strip()
    return pins


PINS = _pinned()


def _run(bin_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(args)} failed: {result.stderr}"
    return result.stdout + result.stderr


VERSION_CHECKS = [
    (("kube-apiserver", "--version"), f"Kubernetes {PINS['KUBERNETES_VERSION']}"),
    (("kube-controller-manager", "--version"), f"Kubernetes {PINS['KUBERNETES_VERSION']}"),
    (("kube-scheduler", "--version"), f"Kubernetes {PINS['KUBERNETES_VERSION']}"),
    (("kubectl", "version", "--client"), f"Client Version: {PINS['KUBERNETES_VERSION']}"),
    (("etcd", "--version"), f"etcd Version: {PINS['ETCD_VERSION'].removeprefix('v')}"),
    (("kwok", "--version"), f"kwok version {PINS['KWOK_VERSION']}"),
    (("helm", "version", "--short"), PINS["HELM_VERSION"]),
]


@pytest.mark.parametrize(
    ("command", "expected"),
    [pytest.param(command, expected, id=command[0]) for command, expected in VERSION_CHECKS],
)
def test_binary_reports_its_pinned_version(
    control_plane_bin: Path, command: tuple[str, ...], expected: str
) -> None:
    assert expected in _run(control_plane_bin, *command)


def test_helm_lints_the_trivial_chart(control_plane_bin: Path) -> None:
    output = _run(control_plane_bin, "helm", "lint", "--strict", str(CHART))
    assert "1 chart(s) linted, 0 chart(s) failed" in output


def test_helm_template_renders_the_trivial_chart_for_the_pinned_kubernetes_minor(
    control_plane_bin: Path,
) -> None:
    rendered = _run(
        control_plane_bin, "helm", "template", "demo", str(CHART), "--set", "greeting=hi"
    )
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert [doc["kind"] for doc in documents] == ["ConfigMap"]
    config_map = documents[0]
    assert config_map["metadata"]["name"] == "demo-trivial"
    assert config_map["data"]["greeting"] == "hi"
    major_minor = ".".join(PINS["KUBERNETES_VERSION"].split(".")[:2])
    assert config_map["data"]["kubeVersion"].startswith(major_minor)
