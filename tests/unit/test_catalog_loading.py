"""Loading catalogs: user files (YAML or JSON, inline prices or a price CSV), named zone sets,
bare TPU topology strings, derived prices, and clear errors for inconsistent or broken data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ccc.api.builtin_catalog import load_builtin_catalog, load_catalog_file, parse_catalog
from ccc.api.errors import ConfigError
from ccc.api.pricing import CSV_COLUMNS, Component, PriceTable, derive, parse_price_csv
from ccc.api.values import CapacityType

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

_WITH_CSV = """
provenance: test
sources: {MINE: {title: negotiated prices, as_of: '2026-11-01'}}
flex_start_discount: 0.5
flex_start_discount_note: test
prices_csv: prices.csv
zone_sets: {central: [us-central1-a, us-central1-b]}
machine_types:
  - {name: n2-standard-8, family: n2, vcpus: 8, memory_gb: 32, zones: central}
  - {name: n1-standard-8, family: n1, vcpus: 8, memory_gb: 30, zones: central,
     gpu_attachments: [{type: nvidia-tesla-t4, counts: [1, 2, 4], zones: [us-central1-a]}]}
accelerator_prices:
  - {accelerator_type: nvidia-tesla-t4, region: us-central1, on_demand: 0.35, spot: 0.14,
     source: MINE}
"""

_CSV = (
    ",".join(CSV_COLUMNS)
    + "\n"
    + ("n2-standard-8,us-central1,0.38,0.09,MINE,,,,\nn1-standard-8,us-central1,0.3,0.1,MINE,,,,\n")
)


@pytest.mark.parametrize(
    ("topology", "price", "message"),
    [
        ("{topology: 2x4, chips: 8, hosts: 1}", "", "1 hosts x 4 chips per host"),
        ("{topology: 2x4, chips: 6, hosts: 2}", "", "has 8 chips, not 6"),
        ("{topology: 2by4, chips: 8, hosts: 2}", "", "not of the form AxB"),
        ("2by4", "", "not of the form AxB"),
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


def test_bare_topology_strings_get_chips_and_hosts_from_chips_per_host() -> None:
    cat = parse_catalog(_MINIMAL.replace("TOPO", "2x4").replace("PRICE", ""), origin="t.yaml")
    (m,) = cat.machine_types
    (t,) = m.tpu_topologies
    assert (t.topology, t.chips, t.hosts) == ("2x4", 8, 2)


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


def test_a_catalog_with_a_price_csv_zone_sets_and_gpu_prices_loads_and_prices_n1_gpus(
    tmp_path: Path,
) -> None:
    (tmp_path / "cat.yaml").write_text(_WITH_CSV)
    (tmp_path / "prices.csv").write_text(_CSV)
    cat = load_catalog_file(tmp_path / "cat.yaml")
    n2 = cat.machine_type("n2-standard-8")
    assert n2 is not None and n2.zones == ("us-central1-a", "us-central1-b")
    assert cat.price("n2-standard-8", "us-central1-b", CapacityType.SPOT) == 0.09
    t4 = cat.machine_type("n1-standard-8", gpu_type="nvidia-tesla-t4", gpu_count=2)
    assert t4 is not None and t4.accelerator is not None and t4.accelerator.count == 2
    assert t4.zones == ("us-central1-a",)
    q = cat.quote(t4, "us-central1-a", CapacityType.SPOT)
    assert q is not None
    assert q.value == pytest.approx(0.1 + 2 * 0.14)
    assert q.formula == "n1-standard-8 VM 0.1 (MINE) + 2 nvidia-tesla-t4 x 0.14 (MINE) = 0.38"
    assert cat.machine_type("n1-standard-8", gpu_type="nvidia-tesla-t4", gpu_count=3) is not None
    assert cat.machine_type("n1-standard-8", gpu_type="nvidia-tesla-t4", gpu_count=3) == (
        cat.machine_type("n1-standard-8")
    )


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("a,b\n", "header must be machine_type,region"),
        (_CSV.replace("0.38", "cheap"), r"prices\.csv:2: could not convert"),
        (_CSV.replace(",MINE,,,,\nn1", ",,,,,\nn1"), r"prices\.csv:2: source is empty"),
        (_CSV + "n2-standard-8,us-central1,1,1,MINE,,,,\n", "a second price row for n2"),
        (_CSV + "n2-standard-8,europe-west4,1,1,MINE,,,,\n", "a region with none of its zones"),
        (_CSV.replace("0.3,0.1,MINE", "0.3,0.1,THEIRS"), "unknown source 'THEIRS'"),
    ],
)
def test_a_broken_price_csv_is_reported_with_file_and_line(
    tmp_path: Path, csv_text: str, message: str
) -> None:
    (tmp_path / "cat.yaml").write_text(_WITH_CSV)
    (tmp_path / "prices.csv").write_text(csv_text)
    with pytest.raises(ConfigError, match=message):
        load_catalog_file(tmp_path / "cat.yaml")


def test_a_missing_price_csv_or_zone_set_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "cat.yaml").write_text(_WITH_CSV)
    with pytest.raises(ConfigError, match=r"prices_csv names prices\.csv, which is not a file"):
        load_catalog_file(tmp_path / "cat.yaml")
    (tmp_path / "prices.csv").write_text(_CSV)
    (tmp_path / "cat.yaml").write_text(_WITH_CSV.replace("zones: central}", "zones: west}", 1))
    with pytest.raises(ConfigError, match="no zone_sets entry named 'west'"):
        load_catalog_file(tmp_path / "cat.yaml")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read catalog file"),
        ("machine_types: [\n", r"cat\.yaml:\d+:\d+: not valid YAML"),
        ("- just a list\n", "a catalog is a YAML mapping"),
        ('{"provenance": ', r"cat\.yaml:\d+:\d+: not valid YAML"),
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


def test_price_table_parses_only_the_machine_types_it_is_asked_about() -> None:
    table = PriceTable(_CSV, origin="p.csv")
    assert table.machine_types() == ["n2-standard-8", "n1-standard-8"]
    assert list(table.rows_of("n1-standard-8")) == ["us-central1"]
    assert table.rows_of("zz9-standard-1") == {}
    assert len(table.all()) == 2
    assert parse_price_csv("# a note\n" + _CSV, origin="p.csv") == table.all()


def test_derive_sums_components_and_shows_the_formula() -> None:
    total, formula = derive(
        [
            Component(208, "vCPU", 0.00586),
            Component(1872, "GiB", 0.000511),
            Component(8, "GPU", 2.253),
        ]
    )
    assert total == 20.199472
    assert formula == "208 vCPU x 0.00586 + 1872 GiB x 0.000511 + 8 GPU x 2.253 = 20.199472"


def test_builtin_catalog_parses_the_price_rows_of_looked_up_machine_types_only() -> None:
    load_builtin_catalog.cache_clear()
    cat = load_builtin_catalog()
    cat.price("n2-standard-8", "us-central1-a", CapacityType.ON_DEMAND)
    cat.price("n2-standard-8", "europe-west4-a", CapacityType.SPOT)
    table = cat._table
    assert table is not None and list(table._parsed) == ["n2-standard-8"]


def test_priced_regions_of_the_whole_catalog_match_each_machine_types_regions_with_price(
    tmp_path: Path,
) -> None:
    load_builtin_catalog.cache_clear()
    builtin = load_builtin_catalog()
    (tmp_path / "cat.yaml").write_text(_WITH_CSV)
    # a row with no on-demand and no spot price does not make its region priced
    (tmp_path / "prices.csv").write_text(_CSV.replace("0.3,0.1,MINE", ",,MINE"))
    user = load_catalog_file(tmp_path / "cat.yaml")
    for cat in (builtin, user):
        expected = {m.name: cat.regions_with_price(m.name) for m in cat.machine_types}
        assert cat.priced_regions() == expected
    assert user.priced_regions() == {"n2-standard-8": ("us-central1",), "n1-standard-8": ()}
    assert sum(map(len, builtin.priced_regions().values())) > 1000
