"""``ccc catalog``: table, JSON and YAML output, filters, and clear failures on bad filters.

The command is registered on a fresh Typer app exactly as ``ccc.cli.main`` does, so these tests
exercise ``catalog_cmd.register`` without depending on the other sub-commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from ccc.cli import catalog_cmd

app = typer.Typer(pretty_exceptions_enable=False)


@app.callback()
def _root() -> None:
    """Stands in for the ``ccc`` root so ``catalog`` is a sub-command, as in ccc.cli.main."""


catalog_cmd.register(app)
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["catalog", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _json(*args: str) -> dict[str, Any]:
    code, out = _run(*args, "-o", "json")
    assert code == 0, out
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_default_table_lists_cpu_gpu_and_tpu_machine_types() -> None:
    code, out = _run()
    assert code == 0
    for name in ("n4-standard-8", "c4d-highcpu-8", "g4-standard-48", "a4x-highgpu-4g"):
        assert name in out
    assert "nvidia-h200-141gb x 8" in out
    assert "attach nvidia-tesla-t4 x 1/2/4" in out
    assert "no source gives a price" in out


def test_table_for_a_zone_shows_prices_of_its_region() -> None:
    code, out = _run("--zone", "us-central1-a", "--accelerator", "nvidia-l4")
    assert code == 0
    assert "Machine types in us-central1-a, prices of us-central1" in out
    assert "on-demand $/h" in out
    assert "0.854" in out and "0.480" in out
    assert "g2-standard-96" in out


def test_table_of_tpus_shows_topologies_with_hosts() -> None:
    code, out = _run("--accelerator", "tpu-v5p-slice")
    assert code == 0
    assert "2x2x4 (4)" in out


def test_json_lists_machine_types_with_prices_per_region_sources_and_formulas() -> None:
    doc = _json("--accelerator", "nvidia-h100-80gb")
    assert doc["flexStartDiscount"] == 0.53
    assert doc["sources"]["CYCLENERD"]["asOf"] == "2026-07-30"
    by_name = {m["name"]: m for m in doc["machineTypes"]}
    assert {"a3-highgpu-1g", "a3-highgpu-8g", "a3-edgegpu-8g"} <= set(by_name)
    a3 = by_name["a3-highgpu-8g"]
    assert (a3["localSsdGb"], a3["sharedCore"], a3["gpuAttachments"]) == (6000, False, [])
    prices = {p["region"]: p for p in a3["prices"]}
    central = prices["us-central1"]
    assert (central["onDemand"], central["source"], central["spotSource"]) == (
        88.4899999025753,
        "CYCLENERD",
        "CYCLENERD",
    )
    assert central["derived"]["onDemand"] is None
    assert central["derived"]["flexStart"].startswith("on-demand 88.4899999 x (1 - 0.53")
    assert all(p["onDemand"] is None for p in by_name["a3-edgegpu-8g"]["prices"])


def test_json_for_a_zone_keeps_only_that_zone_and_its_region() -> None:
    doc = _json("--zone", "us-east5-a", "--family", "ct6e")
    for m in doc["machineTypes"]:
        assert m["zones"] == ["us-east5-a"]
        assert [p["region"] for p in m["prices"]] == ["us-east5"]
    four = next(m for m in doc["machineTypes"] if m["name"] == "ct6e-standard-4t")
    assert four["prices"][0]["onDemand"] == 10.8
    assert four["prices"][0]["derived"]["onDemand"] == "4 chip (tpu-v6e-1 row) x 2.7 = 10.8"
    assert four["tpuTopologies"][1] == {"topology": "2x4", "chips": 8, "hosts": 2}


def test_json_of_an_n1_type_lists_the_gpus_that_attach_to_it() -> None:
    doc = _json("--family", "n1", "--zone", "us-central1-a")
    n1 = next(m for m in doc["machineTypes"] if m["name"] == "n1-standard-8")
    t4 = next(a for a in n1["gpuAttachments"] if a["type"] == "nvidia-tesla-t4")
    assert t4 == {
        "type": "nvidia-tesla-t4",
        "counts": [1, 2, 4],
        "zones": ["us-central1-a"],
        "unverifiedZones": [],
    }


def test_yaml_output_parses_to_the_same_document_as_json() -> None:
    code, out = _run("--family", "a4", "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(out) == _json("--family", "a4")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--accelerator", "nvidia-h100"),
            "unknown accelerator type 'nvidia-h100': none is in the catalog; "
            "did you mean nvidia-h100-80gb, nvidia-h100-mega-80gb",
        ),
        (("--family", "g3"), "unknown machine family 'g3'"),
        (("--zone", "us-centrl1-a"), "did you mean us-central1-a"),
        (
            ("--accelerator", "tpu-v5p-slice", "--zone", "us-west4-a"),
            "no machine type matches --accelerator tpu-v5p-slice --zone us-west4-a: "
            "none is offered in us-west4-a",
        ),
        (
            ("--accelerator", "nvidia-l4", "--family", "a3"),
            "nvidia-l4 is in family g2",
        ),
        (
            ("--accelerator", "tpu7x", "--zone", "us-central1-a"),
            "in us-central1 try us-central1-c",
        ),
        (
            ("--accelerator", "nvidia-b200", "--zone", "asia-east1-a"),
            "it is offered in us-central1-a, us-central1-b",
        ),
    ],
)
def test_filters_that_match_nothing_exit_1_with_a_hint(args: tuple[str, ...], message: str) -> None:
    code, out = _run(*args)
    assert code == 1
    assert out.startswith("ccc catalog: ")
    assert message in out
    assert "Traceback" not in out


def test_a_broken_catalog_file_exits_1_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text("provenance: x\nflex_start_discount: 2\n")
    code, out = _run("--catalog", str(bad))
    assert code == 1
    assert "mine.yaml" in out and "flex_start_discount" in out


def test_unknown_output_format_is_rejected_by_the_cli() -> None:
    code, out = _run("-o", "xml")
    assert code == 2
    assert "xml" in out
