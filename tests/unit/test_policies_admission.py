"""Pods as GKE admits them (reference gke-computeclass.md §3.1): pods selecting a class tolerate
its taint; pods requesting ``nvidia.com/gpu`` or ``google.com/tpu`` tolerate those taints (the
ExtendedResourceToleration admission plugin); class selection through required node affinity
counts like the node selector."""

from __future__ import annotations

import pytest

from ccc.api import labels as L
from ccc.api.values import Taint
from ccc.api.workload import (
    NodeSelectorRequirement,
    PodRequest,
    affinity_class,
    affinity_matches,
    pod_request_from_spec,
)
from policies.admission import implied_toleration_keys, selector_mismatch, untolerated
from policies.class_admission import AdmissionSettings, admit_request
from policies.inflight import NodeSlot, absorb
from tests.builders import H100, make_class, make_pods, make_rule, walk

GPU_TAINT = Taint(key=L.GPU_RESOURCE, value="present", effect="NoSchedule")
TPU_TAINT = Taint(key=L.TPU_RESOURCE, value="present", effect="NoSchedule")
CLASS_TAINT = Taint(key=L.CLASS_LABEL, value="gpu", effect="NoSchedule")
GKE_CLASS_TAINT = Taint(key=L.GKE_CLASS_LABEL, value="gpu", effect="NoSchedule")
OTHER = Taint(key="dedicated", value="ml", effect="NoSchedule")


@pytest.mark.parametrize(
    ("gpus", "tpus", "taint", "blocked"),
    [
        (1, 0, GPU_TAINT, False),
        (0, 0, GPU_TAINT, True),
        (0, 4, TPU_TAINT, False),
        (1, 0, TPU_TAINT, True),
        (0, 0, CLASS_TAINT, False),  # the webhook's toleration
        (0, 0, GKE_CLASS_TAINT, True),  # ccc's nodes never carry it; nothing tolerates it
        (1, 0, OTHER, True),
        (0, 0, Taint(key="x", value="", effect="PreferNoSchedule"), False),
    ],
)
def test_an_admitted_pod_tolerates_its_class_and_the_accelerators_it_requests(
    gpus: int, tpus: int, taint: Taint, blocked: bool
) -> None:
    pod = make_pods(1, gpus=gpus, tpus=tpus, tolerate_all=False)
    assert (untolerated(pod, [taint]) is not None) is blocked


def test_the_walk_does_not_imply_the_class_toleration_the_webhook_adds() -> None:
    """The class toleration comes from ccc's admission webhook (policies/class_admission.py),
    not from the walk: a pod created without it stays off the class's nodes, as on the
    cluster; the accelerator tolerations of ExtendedResourceToleration are still implied."""
    pod = make_pods(1, gpus=8, tolerate_all=False, admitted=False)
    assert implied_toleration_keys(pod) == {L.GPU_RESOURCE}
    assert untolerated(pod, [GPU_TAINT, CLASS_TAINT]) == CLASS_TAINT
    plan = walk(make_class(make_rule(gpu=H100, spot=True)), pod)
    assert plan.chosen is None
    assert "does not tolerate taint ccc.dev/compute-class=gpu:NoSchedule" in plan.attempts[0].reason


def test_a_pod_that_selects_no_class_gets_no_class_toleration() -> None:
    pod = PodRequest(name="p", gpus=1)
    assert implied_toleration_keys(pod) == {L.GPU_RESOURCE}
    assert untolerated(pod, [CLASS_TAINT]) == CLASS_TAINT


def test_an_ordinary_gke_gpu_pod_without_tolerations_is_planned() -> None:
    cc = make_class(make_rule(gpu=H100, spot=True))
    plan = walk(cc, make_pods(1, tolerate_all=False))
    assert plan.chosen is not None and plan.chosen.decision == "create"


def test_a_pod_without_the_rule_taint_toleration_is_still_refused() -> None:
    cc = make_class(
        make_rule(
            gpu=H100, spot=True, taints=[{"key": "team", "value": "a", "effect": "NoSchedule"}]
        )
    )
    plan = walk(cc, make_pods(1, tolerate_all=False))
    assert plan.chosen is None
    assert "does not tolerate taint team=a:NoSchedule" in plan.attempts[0].reason


def _admitted(pod: PodRequest) -> PodRequest:
    """``pod`` as ccc's admission webhook admits it (the class toleration)."""
    return admit_request(
        pod, namespace_labels={}, known_classes={"gpu"}, settings=AdmissionSettings()
    )


def _affinity_spec(*terms: list[dict[str, object]]) -> dict[str, object]:
    return {
        "containers": [{"resources": {"limits": {"nvidia.com/gpu": 8}}}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": t} for t in terms]
                }
            }
        },
    }


def test_class_selection_through_required_node_affinity_counts_like_the_selector() -> None:
    spec = _affinity_spec([{"key": L.GKE_CLASS_LABEL, "operator": "In", "values": ["gpu"]}])
    pod = _admitted(pod_request_from_spec(spec, name="vllm"))
    assert pod.compute_class == "gpu"
    plan = walk(make_class(make_rule(gpu=H100, spot=True)), pod)
    assert plan.chosen is not None


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ([[("In", ["gpu"])]], "gpu"),
        ([[("In", ["gpu"])], [("In", ["gpu"])]], "gpu"),
        ([[("In", ["gpu"])], [("In", ["other"])]], None),  # terms disagree
        ([[("In", ["gpu", "other"])]], None),  # two classes
        ([[("NotIn", ["gpu"])]], None),
        ([[("In", ["gpu"])], []], None),  # a term without the class key
    ],
)
def test_affinity_selects_a_class_only_when_every_term_names_the_same_one(
    terms: list[list[tuple[str, list[str]]]], expected: str | None
) -> None:
    affinity = tuple(
        tuple(
            NodeSelectorRequirement(key=L.CLASS_LABEL, operator=op, values=tuple(v))  # type: ignore[arg-type]
            for op, v in term
        )
        for term in terms
    )
    assert affinity_class(affinity) == expected


@pytest.mark.parametrize(
    ("op", "values", "labels", "ok"),
    [
        ("In", ["a"], {"k": "a"}, True),
        ("In", ["a"], {"k": "b"}, False),
        ("In", ["a"], {}, False),
        ("NotIn", ["a"], {"k": "b"}, True),
        ("NotIn", ["a"], {}, True),
        ("NotIn", ["a"], {"k": "a"}, False),
        ("Exists", [], {"k": ""}, True),
        ("Exists", [], {}, False),
        ("DoesNotExist", [], {}, True),
        ("DoesNotExist", [], {"k": "x"}, False),
        ("Gt", ["5"], {"k": "6"}, True),
        ("Gt", ["5"], {"k": "5"}, False),
        ("Lt", ["5"], {"k": "4"}, True),
        ("Lt", ["5"], {"k": "5"}, False),
        ("Gt", ["5"], {"k": "x"}, False),
        ("Gt", ["5"], {}, False),
        ("Lt", [], {"k": "1"}, False),
    ],
)
def test_node_selector_requirements_follow_kubernetes_semantics(
    op: str, values: list[str], labels: dict[str, str], ok: bool
) -> None:
    r = NodeSelectorRequirement(key="k", operator=op, values=tuple(values))  # type: ignore[arg-type]
    assert r.matches(labels) is ok


def test_terms_are_ored_and_requirements_anded() -> None:
    a = NodeSelectorRequirement(key="a", operator="In", values=("1",))
    b = NodeSelectorRequirement(key="b", operator="In", values=("2",))
    assert affinity_matches(((a, b),), {"a": "1", "b": "2"})
    assert not affinity_matches(((a, b),), {"a": "1"})
    assert affinity_matches(((a,), (b,)), {"b": "2"})
    assert affinity_matches((), {})


def test_a_zone_affinity_limits_the_walk_to_that_zone() -> None:
    spec = _affinity_spec(
        [
            {"key": L.CLASS_LABEL, "operator": "In", "values": ["gpu"]},
            {"key": L.ZONE_LABEL, "operator": "In", "values": ["us-central1-b"]},
        ]
    )
    pod = _admitted(pod_request_from_spec(spec, name="vllm"))
    plan = walk(make_class(make_rule(gpu=H100, spot=True)), pod)
    assert [(a.zone, a.decision) for a in plan.attempts] == [
        ("us-central1-a", "skip"),
        ("us-central1-b", "create"),
    ]
    assert "required node affinity does not match" in plan.attempts[0].reason


def test_selector_mismatch_ignores_the_keys_the_walk_checks_per_offering() -> None:
    pod = make_pods(1, selector={L.ZONE_LABEL: "z"})
    assert selector_mismatch(pod, {L.CLASS_LABEL: "gpu"}, ignore=[L.ZONE_LABEL]) == ""
    assert "topology.kubernetes.io/zone=z" in selector_mismatch(pod, {L.CLASS_LABEL: "gpu"})


def _slot(taints: tuple[Taint, ...], labels: dict[str, str] | None = None) -> NodeSlot:
    return NodeSlot(
        name="n",
        labels=labels or {L.CLASS_LABEL: "gpu"},
        taints=taints,
        cpu_m=100_000,
        memory_bytes=2**40,
        gpus=8,
        tpus=0,
        pods=110,
    )


def test_in_flight_room_admits_gpu_pods_on_tainted_gpu_nodes_as_gke_would() -> None:
    pod = make_pods(2, gpus=4, tolerate_all=False)
    result = absorb([pod], [_slot((CLASS_TAINT, GPU_TAINT))])
    assert result.remaining == () and result.on_existing == 2


def test_in_flight_room_refuses_pods_the_node_affinity_excludes() -> None:
    spec = _affinity_spec(
        [
            {"key": L.CLASS_LABEL, "operator": "In", "values": ["gpu"]},
            {"key": L.ZONE_LABEL, "operator": "In", "values": ["b"]},
        ]
    )
    pod = pod_request_from_spec(spec, name="p")
    slot = _slot((CLASS_TAINT,), {L.CLASS_LABEL: "gpu", L.ZONE_LABEL: "a"})
    assert absorb([pod], [slot]).remaining == (pod,)
