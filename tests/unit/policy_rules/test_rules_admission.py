"""Rules of policies/admission.py: which taints a pod tolerates without writing it (reference
gke-computeclass.md §3.1), and why a node's labels fail its node selector or required node
affinity (the reason a plan gives for skipping an attempt, which tells the user which of the
pod's requirements to change)."""

from __future__ import annotations

import pytest

from ccc.api import labels as L
from ccc.api.values import Taint
from ccc.api.workload import (
    NODE_NAME_FIELD,
    NodeSelectorRequirement,
    PodRequest,
    affinity_matches,
    required_node_affinity,
)
from policies.admission import implied_toleration_keys, selector_mismatch, untolerated
from tests.builders import make_pods

TPU_TAINT = Taint(key=L.TPU_RESOURCE, value="present", effect="NoSchedule")
GPU_TAINT = Taint(key=L.GPU_RESOURCE, value="present", effect="NoSchedule")


@pytest.mark.parametrize(
    ("gpus", "tpus", "implied"),
    [
        (0, 0, set()),
        (1, 0, {L.GPU_RESOURCE}),
        (0, 1, {L.TPU_RESOURCE}),
        (2, 4, {L.GPU_RESOURCE, L.TPU_RESOURCE}),
    ],
    ids=["none", "one-gpu", "one-tpu-chip", "both"],
)
def test_every_accelerator_a_pod_requests_even_one_unit_of_implies_its_toleration(
    gpus: int, tpus: int, implied: set[str]
) -> None:
    """ExtendedResourceToleration adds an ``Exists`` toleration for each extended resource with
    any request, so a one-chip TPU pod (a v5e 1x1 slice) is admitted onto TPU nodes (§3.1)."""
    pod = make_pods(1, gpus=gpus, tpus=tpus, tolerate_all=False)
    assert implied_toleration_keys(pod) == implied
    blocked = [t for t in (GPU_TAINT, TPU_TAINT) if untolerated(pod, [t]) is not None]
    assert {t.key for t in blocked} == {L.GPU_RESOURCE, L.TPU_RESOURCE} - implied


def test_an_ignored_selector_key_does_not_stop_the_check_of_the_keys_after_it() -> None:
    """The walk ignores the per-offering keys (zone, capacity type) here; the keys after them
    in the pod's selector are still checked."""
    pod = PodRequest(name="p", gpus=1, node_selector={L.ZONE_LABEL: "us-central1-a", "team": "ml"})
    labels = {"team": "search"}
    why = selector_mismatch(pod, labels, ignore=[L.ZONE_LABEL])
    assert why.startswith("node selector team=ml does not match")
    assert selector_mismatch(pod, {"team": "ml"}, ignore=[L.ZONE_LABEL]) == ""


def _affinity_pod(*terms: tuple[NodeSelectorRequirement, ...]) -> PodRequest:
    return PodRequest(name="p", gpus=1, node_affinity=tuple(terms))


def _req(key: str, op: str, *values: str) -> NodeSelectorRequirement:
    return NodeSelectorRequirement(key=key, operator=op, values=values)


AFFINITY_REASONS = [
    (
        "in-two-values",
        (_req("team", "In", "ml", "search"),),
        {"team": "ads"},
        "(e.g. team In ml,search; node has ads)",
    ),
    ("in-label-unset", (_req("team", "In", "ml"),), {}, "(e.g. team In ml; node has unset)"),
    ("exists-unset", (_req("team", "Exists"),), {}, "(e.g. team Exists; node has unset)"),
    (
        "not-in-set",
        (_req("team", "NotIn", "ads"),),
        {"team": "ads"},
        "(e.g. team NotIn ads; node has ads)",
    ),
    (
        "second-requirement-fails",
        (_req("team", "Exists"), _req("tier", "In", "gold")),
        {"team": "ml", "tier": "bronze"},
        "(e.g. team Exists; node has ml)",
    ),
]


@pytest.mark.parametrize(
    ("term", "labels", "detail"),
    [row[1:] for row in AFFINITY_REASONS],
    ids=[row[0] for row in AFFINITY_REASONS],
)
def test_an_affinity_that_rejects_the_node_is_explained_by_its_first_requirement(
    term: tuple[NodeSelectorRequirement, ...], labels: dict[str, str], detail: str
) -> None:
    """The skip reason of a plan attempt names the first requirement of the first term, with
    its operator and values, and the node's value of that key ('unset' when it has none): the
    user sees which requirement to check without reading every term."""
    why = selector_mismatch(_affinity_pod(term), labels)
    assert why == f"required node affinity does not match the node {detail}"


def test_a_matching_term_admits_the_node_whatever_the_others_say() -> None:
    pod = _affinity_pod((_req("team", "In", "ml"),), (_req("team", "In", "ads"),))
    assert selector_mismatch(pod, {"team": "ads"}) == ""
    assert selector_mismatch(pod, {"team": "web"}).endswith("(e.g. team In ml; node has web)")


def test_affinity_keys_the_walk_checks_per_offering_are_left_out() -> None:
    pod = _affinity_pod((_req(L.ZONE_LABEL, "In", "us-central1-b"), _req("team", "Exists")))
    assert selector_mismatch(pod, {"team": "ml"}, ignore=[L.ZONE_LABEL]) == ""
    assert selector_mismatch(pod, {"team": "ml"}).startswith("required node affinity")


def test_an_empty_affinity_term_matches_no_node_but_no_terms_is_no_requirement() -> None:
    """Kubernetes (NodeSelectorTerm): "a null or empty node selector term matches no objects";
    the terms are ORed, so another term may still admit the node."""
    # nothing to cite from an empty first term
    why = selector_mismatch(_affinity_pod(()), {"team": "ml"})
    assert why == "required node affinity does not match the node"
    assert selector_mismatch(_affinity_pod((), (_req("team", "In", "ml"),)), {"team": "ml"}) == ""
    assert selector_mismatch(_affinity_pod(), {"team": "ml"}) == ""
    assert not affinity_matches(((),), {"team": "ml"})
    assert affinity_matches(((), (_req("team", "Exists"),)), {"team": "ml"})


def _pinned(operator: str) -> dict[str, object]:
    field = {"key": "metadata.name", "operator": operator, "values": ["node-7"]}
    term = {"matchFields": [field], "matchExpressions": [{"key": "team", "operator": "Exists"}]}
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            }
        }
    }


def test_a_pod_pinned_to_a_named_node_by_match_fields_fits_no_new_node() -> None:
    """``matchFields`` (``metadata.name``) is kept, not dropped: a pod that names its node
    cannot land on a node ccc creates, and a pod that only excludes one still can."""
    pinned = required_node_affinity(_pinned("In"))
    assert pinned == ((_req("team", "Exists"), _req(NODE_NAME_FIELD, "In", "node-7")),)
    assert not affinity_matches(pinned, {"team": "ml"})
    assert selector_mismatch(_affinity_pod(*pinned), {"team": "ml"}) != ""
    excluded = required_node_affinity(_pinned("NotIn"))
    assert affinity_matches(excluded, {"team": "ml"})
    assert selector_mismatch(_affinity_pod(*excluded), {"team": "ml"}) == ""
