"""`ccc crd` prints the CRDs stored in ccc/api/data/crds.json (no model is built at start-up);
that file must be exactly what the models generate."""

from __future__ import annotations

from ccc.api.crd import all_crds
from ccc.api.crd_data import RESOURCE, generated_text, stored_crds


def test_the_stored_crds_are_byte_for_byte_what_the_models_generate() -> None:
    from importlib import resources

    stored = resources.files("ccc.api").joinpath("data", RESOURCE).read_text(encoding="utf-8")
    assert stored == generated_text(), (
        f"ccc/api/data/{RESOURCE} is out of date with the API models; regenerate it with: "
        ".venv/bin/python -m ccc.api.crd_data (then the chart's copies: see "
        "tests/unit/test_chart_crd_sync.py)"
    )


def test_the_stored_crds_are_the_generated_ones_in_install_order() -> None:
    assert stored_crds() == all_crds()
    assert [c["spec"]["names"]["kind"] for c in stored_crds()] == ["ComputeClass", "ServingGroup"]
