"""The built-in GCP catalog: shapes, zones, prices against their sources, and load errors.

Prices are checked against ccc's shared transcription of the sources
(``../shared/data/gcp-accelerator-prices/prices.csv``; ``CCC_SHARED_DIR`` overrides the location),
so a price in the catalog that no source row gives fails here.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from ccc.api.builtin_catalog import load_builtin_catalog, load_catalog_file, parse_catalog
from ccc.api.catalog import Catalog
from ccc.api.errors import ConfigError
from ccc.api.values import AcceleratorKind, CapacityType, region_of

SHARED = Path(os.environ.get("CCC_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
PRICES_CSV = SHARED / "data" / "gcp-accelerator-prices" / "prices.csv"
ZONE_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z][a-z0-9]*$")

# CSV sku -> catalog machine type, for rows that price a whole node (VM incl. host).
TPU_SKU = {
    "tpu-v6e-1": "ct6e-standard-1t",
    "tpu-v6e-4": "ct6e-standard-4t",
    "tpu-v6e-8": "ct6e-standard-8t",
    "tpu-v5litepod-1": "ct5lp-hightpu-1t",
    "tpu-v5litepod-4": "ct5lp-hightpu-4t",
    "tpu-v5litepod-8": "ct5lp-hightpu-8t",
}


def _csv_rows() -> list[dict[str, str]]:
    with PRICES_CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def _num(text: str) -> float | None:
    return float(text) if text.strip() else None


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_builtin_catalog()


def test_builtin_catalog_is_cached_and_names_its_sources(cat: Catalog) -> None:
    assert load_builtin_catalog() is cat
    for source_id in ("SKYCAT", "CYCLENERD", "SKYNOMAD"):
        assert source_id in cat.provenance
    assert "53%" in cat.flex_start_discount_note


def test_catalog_covers_every_family_the_issue_names(cat: Catalog) -> None:
    assert set(cat.families()) >= {"g2", "a2", "a3", "a4", "ct5lp", "ct5p", "ct6e"}
    expected = {
        "nvidia-l4",
        "nvidia-tesla-a100",
        "nvidia-a100-80gb",
        "nvidia-h100-80gb",
        "nvidia-h100-mega-80gb",
        "nvidia-h200-141gb",
        "nvidia-b200",
        "tpu-v5-lite-podslice",
        "tpu-v5-lite-device",
        "tpu-v5p-slice",
        "tpu-v6e-slice",
    }
    assert set(cat.accelerator_types()) == expected


@pytest.mark.parametrize(
    ("name", "vcpus", "memory_gb", "accel_type", "count"),
    [
        ("g2-standard-8", 8, 32, "nvidia-l4", 1),
        ("g2-standard-96", 96, 384, "nvidia-l4", 8),
        ("a2-highgpu-1g", 12, 85, "nvidia-tesla-a100", 1),
        ("a2-megagpu-16g", 96, 1360, "nvidia-tesla-a100", 16),
        ("a2-ultragpu-8g", 96, 1360, "nvidia-a100-80gb", 8),
        ("a3-highgpu-8g", 208, 1872, "nvidia-h100-80gb", 8),
        ("a3-megagpu-8g", 208, 1872, "nvidia-h100-mega-80gb", 8),
        ("a3-ultragpu-8g", 224, 2952, "nvidia-h200-141gb", 8),
        ("a4-highgpu-8g", 224, 3968, "nvidia-b200", 8),
        ("ct5lp-hightpu-8t", 224, 384, "tpu-v5-lite-podslice", 8),
        ("ct5p-hightpu-4t", 208, 448, "tpu-v5p-slice", 4),
        ("ct6e-standard-4t", 180, 720, "tpu-v6e-slice", 4),
    ],
)
def test_machine_type_shapes_match_the_published_ones(
    cat: Catalog, name: str, vcpus: int, memory_gb: float, accel_type: str, count: int
) -> None:
    m = cat.machine_type(name)
    assert m is not None
    assert (m.vcpus, m.memory_gb) == (vcpus, memory_gb)
    assert m.accelerator is not None
    assert (m.accelerator.type, m.accelerator.count) == (accel_type, count)


def test_every_machine_type_has_well_formed_zones(cat: Catalog) -> None:
    for m in cat.machine_types:
        assert m.zones, f"{m.name} has no zones"
        for z in m.zones:
            assert ZONE_RE.match(z), f"{m.name}: {z!r} is not a zone name"
        assert set(m.unverified_zones) <= set(m.zones)


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        # docs.cloud.google.com/tpu/docs/regions-zones and the GKE flex-start TPU zones
        ("ct6e-standard-4t", "us-east5-a"),
        ("ct6e-standard-1t", "asia-northeast1-b"),
        ("ct5lp-hightpu-8t", "us-west4-a"),
        ("ct5p-hightpu-4t", "us-east5-a"),
        # SkyNomad launched a3-highgpu-1g in every one of its 13 probe zones
        ("a3-highgpu-1g", "asia-south2-b"),
        ("a3-highgpu-1g", "europe-west3-c"),
    ],
)
def test_zones_confirmed_by_a_source_are_offered_and_not_marked_unverified(
    cat: Catalog, name: str, zone: str
) -> None:
    m = cat.machine_type(name)
    assert m is not None
    assert zone in m.zones
    assert zone not in m.unverified_zones


def test_tpu_zones_the_reference_calls_unverified_are_marked_so(cat: Catalog) -> None:
    v5e = cat.machine_type("ct5lp-hightpu-1t")
    assert v5e is not None
    assert {"europe-west4-a", "europe-west4-b"} <= set(v5e.unverified_zones)


def test_tpu_topologies_multiply_out_to_hosts_times_chips_per_host(cat: Catalog) -> None:
    for m in cat.machine_types:
        if m.accelerator is not None and m.accelerator.kind is AcceleratorKind.TPU:
            assert m.tpu_topologies, f"{m.name} has no topologies"
            for t in m.tpu_topologies:
                assert t.chips == t.hosts * m.chips_per_host
        else:
            assert not m.tpu_topologies


def test_every_price_is_in_a_region_that_offers_the_machine_type(cat: Catalog) -> None:
    for p in cat.prices:
        m = cat.machine_type(p.machine_type)
        assert m is not None
        assert p.region in {region_of(z) for z in m.zones}
        assert p.source in {"SKYCAT", "CYCLENERD", "SKYNOMAD"}


def test_whole_node_prices_equal_the_source_rows(cat: Catalog) -> None:
    checked = 0
    for row in _csv_rows():
        scope = row["price_scope"]
        if scope.startswith("GPU component only"):
            continue
        machine_type = TPU_SKU.get(row["sku"], row["sku"])
        p = cat.price_record(machine_type, row["region"])
        assert p is not None, f"no catalog price for CSV row {row['sku']} {row['region']}"
        assert p.on_demand == pytest.approx(_num(row["on_demand_usd_per_hr"]), abs=1e-9)
        if row["source_id"] == "SKYNOMAD":
            # The SKYNOMAD spot figure is a GPU SKU only (see PROVENANCE): not a node price.
            assert p.spot is None
        else:
            assert p.spot == pytest.approx(_num(row["spot_usd_per_hr"]), abs=1e-9)
        checked += 1
    assert checked == 23


def test_derived_tpu_prices_are_chips_times_the_per_chip_row_of_the_same_region(
    cat: Catalog,
) -> None:
    per_chip = {
        (row["sku"].rsplit("-", 1)[0], row["region"]): row
        for row in _csv_rows()
        if row["sku"] in ("tpu-v6e-1", "tpu-v5litepod-1")
    }
    derived = [p for p in cat.prices if p.note.startswith("derived")]
    assert len(derived) == 6
    for p in derived:
        m = cat.machine_type(p.machine_type)
        assert m is not None
        sku_family = "tpu-v6e" if m.family == "ct6e" else "tpu-v5litepod"
        row = per_chip[(sku_family, p.region)]
        chips = m.chips_per_host
        assert p.on_demand == pytest.approx(chips * float(row["on_demand_usd_per_hr"]))
        assert p.spot == pytest.approx(chips * float(row["spot_usd_per_hr"]))


def test_gpu_only_source_rows_are_not_presented_as_node_prices(cat: Catalog) -> None:
    # The SKYCAT "L4 (GPU part only)" x8 row lacks the host VM: g2-standard-96 stays unpriced.
    assert cat.price("g2-standard-96", "us-central1-a", CapacityType.ON_DEMAND) is None
    assert cat.price("g2-standard-96", "us-central1-a", CapacityType.SPOT) is None


@pytest.mark.parametrize(
    "name",
    [
        "a3-ultragpu-8g",
        "a3-megagpu-8g",
        "a4-highgpu-8g",
        "ct5p-hightpu-4t",
        "ct5l-hightpu-8t",
        "g2-standard-4",
        "a2-highgpu-8g",
    ],
)
def test_machine_types_no_source_prices_have_null_prices_everywhere(
    cat: Catalog, name: str
) -> None:
    m = cat.machine_type(name)
    assert m is not None
    assert cat.regions_with_price(name) == ()
    for zone in m.zones:
        for capacity_type in CapacityType:
            assert cat.price(name, zone, capacity_type) is None


def test_no_price_row_exists_without_a_source_row(cat: Catalog) -> None:
    sourced = {(TPU_SKU.get(r["sku"], r["sku"]), r["region"]) for r in _csv_rows()}
    for p in cat.prices:
        if p.note.startswith("derived"):
            continue
        assert (p.machine_type, p.region) in sourced


@pytest.mark.parametrize(
    ("capacity_type", "expected"),
    [
        (CapacityType.ON_DEMAND, 0.853624271),
        (CapacityType.RESERVATION, 0.853624271),
        (CapacityType.SPOT, 0.336764),
        (CapacityType.FLEX_START, round(0.853624271 * (1 - 0.53), 6)),
    ],
)
def test_price_per_capacity_type_in_a_zone_uses_its_region(
    cat: Catalog, capacity_type: CapacityType, expected: float
) -> None:
    assert cat.flex_start_discount == 0.53
    assert cat.price("g2-standard-8", "us-central1-b", capacity_type) == pytest.approx(expected)
    assert cat.price("g2-standard-8", "us-central1", capacity_type) == pytest.approx(expected)


def test_unknown_machine_type_has_no_price_and_no_record(cat: Catalog) -> None:
    assert cat.machine_type("n2-standard-32") is None
    assert cat.price("n2-standard-32", "us-central1-a", CapacityType.ON_DEMAND) is None


_MINIMAL = """
provenance: test
flex_start_discount: 0.5
flex_start_discount_note: test
machine_types:
  - {name: ct5lp-hightpu-4t, family: ct5lp, vcpus: 112, memory_gb: 192,
     accelerator: {kind: tpu, type: tpu-v5-lite-podslice, count: 4},
     tpu_topologies: [TOPO], zones: [us-central1-a]}
prices: [PRICE]
"""


@pytest.mark.parametrize(
    ("topology", "price", "message"),
    [
        ("{topology: 2x4, chips: 8, hosts: 1}", "", "1 hosts x 4 chips per host"),
        ("{topology: 2x4, chips: 6, hosts: 2}", "", "has 8 chips, not 6"),
        ("{topology: 2by4, chips: 8, hosts: 2}", "", "not of the form AxB"),
        (
            "{topology: 2x4, chips: 8, hosts: 2}",
            "{machine_type: nope, region: us-central1, on_demand: 1, source: X}",
            "unknown machine type 'nope'",
        ),
        (
            "{topology: 2x4, chips: 8, hosts: 2}",
            "{machine_type: ct5lp-hightpu-4t, region: europe-west4, on_demand: 1, source: X}",
            "none of its zones",
        ),
    ],
)
def test_inconsistent_catalog_data_is_rejected_with_a_clear_message(
    topology: str, price: str, message: str
) -> None:
    text = _MINIMAL.replace("TOPO", topology).replace("PRICE", price)
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_catalog(text, origin="test.yaml")


def test_unknown_field_in_a_catalog_file_names_its_path(tmp_path: Path) -> None:
    f = tmp_path / "cat.yaml"
    f.write_text(
        _MINIMAL.replace("TOPO", "{topology: 2x2, chips: 4, hosts: 1}")
        .replace("PRICE", "")
        .replace("vcpus: 112", "vcpus: 112, gpus: 3")
    )
    with pytest.raises(ConfigError, match=r"cat\.yaml: machine_types\.0\.gpus: Extra inputs"):
        load_catalog_file(f)


def test_user_catalog_file_replaces_the_builtin_one(tmp_path: Path) -> None:
    f = tmp_path / "cat.yaml"
    f.write_text(
        _MINIMAL.replace("TOPO", "{topology: 2x2, chips: 4, hosts: 1}").replace(
            "PRICE",
            "{machine_type: ct5lp-hightpu-4t, region: us-central1, on_demand: 3.0, source: mine}",
        )
    )
    cat = load_catalog_file(f)
    assert cat.price("ct5lp-hightpu-4t", "us-central1-a", CapacityType.FLEX_START) == 1.5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read catalog file"),
        ("machine_types: [\n", r"cat\.yaml:\d+:\d+: not valid YAML"),
        ("- just a list\n", "a catalog is a YAML mapping"),
    ],
)
def test_unreadable_catalog_files_end_in_config_errors(
    tmp_path: Path, content: str | None, message: str
) -> None:
    f = tmp_path / "cat.yaml"
    if content is not None:
        f.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_catalog_file(f)
