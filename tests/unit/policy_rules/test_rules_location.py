"""Rules of policies/location.py: a zone problem names the field it comes from
(reference/gke-computeclass.md §2.1 ``priorityDefaults``: ``location`` is copied into rules that
lack it, so a bad default zone is reported at ``spec.priorityDefaults.location.zones``)."""

from __future__ import annotations

from policies.tiers import compile_class
from tests.builders import US_CENTRAL1, catalog, make_class, make_rule


def test_zones_of_priority_defaults_outside_the_cluster_region_are_reported_at_that_field() -> None:
    cc = make_class(
        make_rule("a3-highgpu-8g", zones=None),
        priorityDefaults={"location": {"zones": ["us-central1-a", "europe-west4-a"]}},
    )
    compiled = compile_class(cc, catalog(), cluster=US_CENTRAL1)
    assert [(p.path, p.kind) for p in compiled.problems] == [
        ("spec.priorityDefaults.location.zones", "zones-outside-cluster")
    ]
    assert [t.zones for t in compiled.tiers] == [("us-central1-a",)]
