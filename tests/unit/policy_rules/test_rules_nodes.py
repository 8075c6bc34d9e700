"""Rules of policies/nodes.py: which nodes belong to a class (ccc's or GKE's class label,
reference/gke-computeclass.md §3.1), the rank of the rule that made each, a flex-start node's
deadline from ccc's deadline label, and a node's replacement progress from its annotations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from policies.nodes import NodeProgress, deadline_of, node_facts
from policies.tiers import compile_class
from tests.builders import US_CENTRAL1, catalog, make_class, make_node, make_rule


def _relabel(node: NodeInfo, drop: str, **add: str) -> NodeInfo:
    labels = {k: v for k, v in node.labels.items() if k != drop}
    return replace(node, labels={**labels, **add})


def test_nodes_of_a_class_are_those_with_ccc_or_gkes_class_label_in_any_order() -> None:
    """A node without a class label is no class's; one listed first hides none after it."""
    plain = _relabel(make_node("plain"), L.CLASS_LABEL)
    gke = _relabel(make_node("gke"), L.CLASS_LABEL, **{L.GKE_CLASS_LABEL: "gpu"})
    ready, not_ready = make_node("ccc"), make_node("booting", ready=False)
    facts = node_facts([plain, gke, ready, not_ready], {})
    assert sorted(facts) == ["booting", "ccc", "gke"]
    assert {f.name: (f.class_name, f.ready) for f in facts.values()} == {
        "gke": ("gpu", True),
        "ccc": ("gpu", True),
        "booting": ("gpu", False),
    }


def test_a_nodes_rule_rank_is_its_rules_place_in_the_walk_order_when_the_rule_still_exists() -> (
    None
):
    """Rule 1 of a class whose second rule is walked first has rank 0; a rule index the class
    no longer has, or a class that is not compiled, has no rank."""
    cc = make_class(
        make_rule("a3-highgpu-8g", priorityScore=1), make_rule("a3-highgpu-8g", priorityScore=2)
    )
    compiled = {"gpu": compile_class(cc, catalog(), cluster=US_CENTRAL1)}
    first = make_node("first", labels={L.RULE_INDEX_LABEL: "1"})
    gone = make_node("gone", labels={L.RULE_INDEX_LABEL: "5"})
    other = make_node("other", cls="elsewhere")
    facts = node_facts([first, gone, other], compiled)
    assert {n: (f.rule, f.rule_rank) for n, f in facts.items()} == {
        "first": (1, 0),
        "gone": (5, None),
        "other": (0, None),
    }


def test_a_flex_start_nodes_deadline_can_come_from_cccs_deadline_label() -> None:
    """The label holds Unix seconds (label values cannot hold an RFC 3339 time)."""
    node = make_node("flex", labels={L.FLEX_START_DEADLINE_LABEL: "1800000000"})
    assert deadline_of(node) == datetime.fromtimestamp(1_800_000_000, UTC)
    assert deadline_of(node) == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def test_a_node_being_replaced_without_replacement_pools_yet_lists_none() -> None:
    node = replace(make_node("n"), annotations={L.DISRUPTION_ANNOTATION: "expiry"})
    progress = NodeProgress.of(node)
    assert progress is not None and progress.replacement_pools == ()


def test_a_spot_node_that_lost_readiness_signals_whichever_spot_label_it_carries() -> None:
    """A node of a pool ccc did not create (a manual pool, a GKE-created one) carries only GKE's
    ``cloud.google.com/gke-spot=true``, not ccc's capacity-type label; losing readiness is a
    preemption signal for it too. A NotReady on-demand node is not (gke-computeclass.md §5)."""
    spot_labels = {
        "ccc-spot": {L.CAPACITY_TYPE_LABEL: "spot"},
        "gke-spot": {L.GKE_SPOT_LABEL: "true"},
        "provisioned-spot": {L.GKE_PROVISIONING_LABEL: "spot"},
        "provisioned-preemptible": {L.GKE_PROVISIONING_LABEL: "preemptible"},
        "legacy-preemptible": {L.GKE_PREEMPTIBLE_LABEL: "true"},
    }
    other_labels = {
        "gke-od": {L.GKE_SPOT_LABEL: "false"},
        "standard": {L.GKE_PROVISIONING_LABEL: "standard"},
        "flex": {L.GKE_PROVISIONING_LABEL: "flex-start"},
        "od": {L.CAPACITY_TYPE_LABEL: "on-demand"},
        "not-preemptible": {L.GKE_PREEMPTIBLE_LABEL: "false"},
    }
    nodes = [
        make_node(n, ready=False, labels=v) for n, v in {**spot_labels, **other_labels}.items()
    ]
    nodes.append(make_node("ready", labels={L.GKE_SPOT_LABEL: "true"}))
    facts = node_facts(nodes, {})
    assert {n: f.signal for n, f in facts.items()} == {
        **dict.fromkeys(spot_labels, "NotReady"),
        **dict.fromkeys(other_labels, None),
        "ready": None,
    }
