"""The Helm chart ships exactly the CRD that ``ccc crd`` prints, and its appVersion is the
package version (the image tag defaults to it)."""

from __future__ import annotations

from pathlib import Path

import yaml

import ccc
from ccc.cli.crd_cmd import render_crd

CHART = Path(__file__).resolve().parents[2] / "charts" / "ccc"
CRD_FILE = CHART / "crds" / "computeclasses.ccc.dev.yaml"
REGENERATE = f".venv/bin/ccc crd > {CRD_FILE.relative_to(CHART.parents[1])}"


def test_chart_crd_is_byte_for_byte_what_ccc_crd_prints() -> None:
    assert CRD_FILE.read_text() == render_crd(), (
        f"{CRD_FILE.name} is out of date with the API models; regenerate it with: {REGENERATE}"
    )


def test_chart_crds_directory_holds_only_the_computeclass_crd() -> None:
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == [CRD_FILE.name]


def test_chart_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == ccc.__version__, (
        f"charts/ccc/Chart.yaml appVersion {chart['appVersion']!r} != ccc.__version__ "
        f"{ccc.__version__!r}; bump both together"
    )
    assert chart["version"] == ccc.__version__


def test_image_tag_defaults_to_the_app_version() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"]["tag"] == ""
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert "default .Chart.AppVersion .Values.image.tag" in helpers
