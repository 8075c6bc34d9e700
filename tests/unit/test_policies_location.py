"""One cluster, one region (reference gke-computeclass.md §3.2 "Zones": rule zones, else
priorityDefaults, else the cluster's locations; a GKE cluster lives in one region)."""

from __future__ import annotations

import pytest

from ccc.api.errors import ConfigError
from ccc.api.location import DEFAULT_REGION, ClusterLocation, configured_location
from ccc.api.values import region_of
from policies.location import named_zones, resolve_location, rule_zones
from policies.tiers import compile_class
from policies.warnings import outside_cluster
from tests.builders import (
    H100,
    US_CENTRAL1,
    catalog,
    make_class,
    make_pods,
    make_rule,
    viable,
    walk,
)

EAST4 = ClusterLocation(region="us-east4", zones=("us-east4-a", "us-east4-b"))


@pytest.mark.parametrize(
    ("region", "zones", "class_zones", "want_region", "want_zones"),
    [
        # --zones decide region and zones.
        (None, ["us-east4-b"], ["us-central1-a"], "us-east4", ("us-east4-b",)),
        # --region alone: every catalog zone of it.
        ("us-east5", None, ["us-central1-a"], "us-east5", None),
        # Neither: the region of the first zone the class names.
        (None, None, ["us-east4-a", "us-central1-a"], "us-east4", None),
        # Nothing named: the documented default region.
        (None, None, None, DEFAULT_REGION, None),
    ],
)
def test_the_plan_location_comes_from_flags_then_class_zones_then_the_default(
    region: str | None,
    zones: list[str] | None,
    class_zones: list[str] | None,
    want_region: str,
    want_zones: tuple[str, ...] | None,
) -> None:
    cc = make_class(make_rule(zones=class_zones))
    got = resolve_location(cc, catalog(), region=region, zones=zones)
    assert got.region == want_region
    if want_zones is not None:
        assert got.zones == want_zones
    else:
        assert got.zones and all(region_of(z) == want_region for z in got.zones)
        assert set(got.zones) <= set(catalog().zones())
    assert got.source


@pytest.mark.parametrize(
    ("region", "zones"),
    [(None, ["us-central1-a", "us-east4-a"]), ("us-east4", ["us-central1-a"])],
)
def test_zones_of_two_regions_or_outside_the_region_are_a_clear_error(
    region: str | None, zones: list[str]
) -> None:
    with pytest.raises(ConfigError, match="region") as err:
        configured_location(catalog(), region=region, zones=zones)
    assert err.value.path == "--zones"


def test_a_cluster_location_rejects_zones_of_another_region() -> None:
    with pytest.raises(ValueError, match="not in region us-central1"):
        ClusterLocation(region="us-central1", zones=("us-east4-a",))


def test_named_zones_lists_rule_reservation_and_default_zones_in_order() -> None:
    cc = make_class(
        make_rule(zones=["us-central1-b"]),
        make_rule(
            zones=None,
            reservations={
                "affinity": "Specific",
                "specific": [{"name": "r", "zones": ["us-central1-c"]}],
            },
        ),
        priorityDefaults={"location": {"zones": ["us-central1-a", "us-central1-b"]}},
    )
    assert named_zones(cc) == ["us-central1-b", "us-central1-c", "us-central1-a"]


@pytest.mark.parametrize(
    ("zones", "expect_zones", "kind"),
    [
        (["us-central1-a", "us-east4-a"], ("us-central1-a",), "zones-outside-cluster"),
        (["us-east4-a", "us-east4-b"], (), "outside-cluster"),
        (["us-central1-b"], ("us-central1-b",), None),
    ],
)
def test_rule_zones_outside_the_cluster_region_are_dropped_with_a_reason(
    zones: list[str], expect_zones: tuple[str, ...], kind: str | None
) -> None:
    cc = make_class(make_rule(zones=zones))
    got = rule_zones(
        cc,
        cc.spec.priorities[0],
        0,
        offered=catalog().machine_type("a3-highgpu-8g").zones,  # type: ignore[union-attr]
        machine_names=["a3-highgpu-8g"],
        cluster=US_CENTRAL1,
    )
    assert got.zones == expect_zones
    kinds = [p.kind for p in got.problems]
    assert kinds == ([kind] if kind else [])
    if kind:
        assert "outside the cluster's region us-central1" in got.problems[0].message
        assert got.problems[0].path == "spec.priorities[0].location.zones"


def test_a_rule_whose_zones_are_all_outside_is_skipped_and_the_next_rule_serves() -> None:
    cc = make_class(
        make_rule(gpu=H100, spot=True, zones=["us-east4-a"]),
        make_rule(gpu=H100, spot=False, zones=["us-central1-a"]),
    )
    plan = walk(cc, make_pods(1))
    first = plan.attempts[0]
    assert (first.rule, first.decision) == (0, "skip")
    assert "outside the cluster's region us-central1" in first.reason
    assert plan.chosen is not None and plan.chosen.rule == 1
    compiled = compile_class(cc, catalog(), cluster=US_CENTRAL1)
    assert [p.rule_index for p in outside_cluster(compiled)] == [0]


def test_rules_that_name_no_zone_use_the_cluster_zones_that_offer_the_machine() -> None:
    cluster = ClusterLocation(
        region="us-central1", zones=("us-central1-a", "us-central1-f", "us-central1-b")
    )
    # a3-highgpu-8g is not offered in us-central1-f.
    plan = walk(make_class(make_rule(gpu=H100, zones=None)), make_pods(1), cluster=cluster)
    assert [a.zone for a in viable(plan)] == ["us-central1-a", "us-central1-b"]


def test_no_cluster_zone_offering_the_machine_is_a_reason_not_an_exception() -> None:
    cluster = ClusterLocation(region="us-central1", zones=("us-central1-f",))
    compiled = compile_class(
        make_class(make_rule(gpu=H100, zones=None)), catalog(), cluster=cluster
    )
    assert not compiled.tiers
    assert "none of the cluster zones (us-central1-f) offers a3-highgpu-8g" in (
        compiled.problems[0].message
    )


@pytest.mark.parametrize("cluster", [US_CENTRAL1, EAST4])
def test_every_attempt_of_a_multi_region_class_lies_in_the_cluster_region(
    cluster: ClusterLocation,
) -> None:
    cc = make_class(
        make_rule(gpu=H100, spot=True, zones=["us-central1-a", "us-east4-a"]),
        make_rule(gpu=H100, flexStart={"enabled": True}, zones=["us-east4-b", "us-central1-b"]),
        make_rule(gpu=H100, zones=None),
    )
    plan = walk(cc, make_pods(2), cluster=cluster)
    zones = [a.zone for a in plan.attempts if a.zone]
    assert zones and all(region_of(z) == cluster.region for z in zones)
    assert len(viable(plan)) >= 3


def test_without_a_cluster_the_class_is_compiled_in_the_region_of_its_first_zone() -> None:
    cc = make_class(make_rule(zones=["us-east4-a"]), make_rule(zones=["us-central1-a"]))
    compiled = compile_class(cc, catalog())
    assert compiled.cluster is not None and compiled.cluster.region == "us-east4"
    assert [t.rule_index for t in compiled.tiers] == [0]


def test_legacy_default_zones_set_the_cluster_region() -> None:
    cc = make_class(make_rule(zones=None), make_rule(zones=["us-east4-a"]))
    compiled = compile_class(cc, catalog(), default_zones=["us-central1-b"])
    assert compiled.cluster == ClusterLocation(
        region="us-central1",
        zones=("us-central1-b",),
        source=compiled.cluster.source,  # type: ignore[union-attr]
    )
    assert [t.zones for t in compiled.tiers] == [("us-central1-b",)]


def test_each_location_says_where_it_came_from() -> None:
    cat = catalog()
    cc = make_class(make_rule(zones=["us-east4-a"]))
    assert resolve_location(cc, cat).source == "the region of the first zone the class names"
    assert resolve_location(None, cat).source == (
        "the default region us-central1: the class names no zone"
    )
    assert resolve_location(cc, cat, zones=["us-east4-b"]).source == "--region/--zones zones"
    assert resolve_location(cc, cat, region="us-east5").source == (
        "--region/--zones region; zones: every zone of it in the catalog"
    )
