"""The Helm chart ships exactly the CRDs that ``ccc crd`` prints, and its appVersion is the
package version (the image tag defaults to it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import ccc
from ccc.cli.crd_cmd import Kind, render_crd

CHART = Path(__file__).resolve().parents[2] / "charts" / "ccc"
CRD_FILES = {
    Kind.COMPUTE_CLASS: CHART / "crds" / "computeclasses.ccc.dev.yaml",
    Kind.SERVING_GROUP: CHART / "crds" / "servinggroups.ccc.dev.yaml",
}


@pytest.mark.parametrize("kind", list(Kind))
def test_chart_crd_is_byte_for_byte_what_ccc_crd_prints(kind: Kind) -> None:
    crd_file = CRD_FILES[kind]
    regenerate = f".venv/bin/ccc crd --kind {kind} > {crd_file.relative_to(CHART.parents[1])}"
    assert crd_file.read_text() == render_crd(kind=kind), (
        f"{crd_file.name} is out of date with the API models; regenerate it with: {regenerate}"
    )


def test_chart_crds_directory_holds_exactly_one_file_per_crd_of_ccc_crd() -> None:
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == sorted(
        p.name for p in CRD_FILES.values()
    )
    printed = [d["metadata"]["name"] for d in yaml.safe_load_all(render_crd())]
    assert sorted(printed) == sorted(p.name.removesuffix(".yaml") for p in CRD_FILES.values())


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
