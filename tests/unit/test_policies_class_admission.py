"""Pod admission (policies/class_admission.py): class toleration, namespace and cluster defaults.

GKE's rules are in reference/gke-computeclass.md §3.1: pods that select a class are
auto-tolerated; a namespace label ``cloud.google.com/default-compute-class`` names a default
(``-non-daemonset`` skips DaemonSets); a cluster default applies when neither names one; a pod
that names its own class keeps it.
"""

from __future__ import annotations

from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.workload import PodRequest, Toleration
from policies.class_admission import (
    CLASS_NOT_FOUND,
    AdmissionSettings,
    admit,
    admit_request,
    apply_patch,
    classes_to_check,
    toleration,
    tolerations,
)

KNOWN = frozenset({"h100", "l4", "tpu"})
DEFAULT = AdmissionSettings()
NO_GKE = AdmissionSettings(accept_gke_label=False)
KEYS = (L.CLASS_LABEL, L.GKE_CLASS_LABEL)
BOTH = tolerations("h100", DEFAULT)  # ccc's taint and GKE's (§3.1: manual pools carry GKE's)
CLUSTER_L4 = AdmissionSettings(cluster_default="l4")


def pod(
    *,
    namespace: str = "team",
    selector: dict[str, str] | None = None,
    affinity_terms: list[list[dict[str, Any]]] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    owner: str | None = None,
    node_name: str | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "x"}]}
    if selector is not None:
        spec["nodeSelector"] = selector
    if affinity_terms is not None:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": t} for t in affinity_terms]
                }
            }
        }
    if tolerations is not None:
        spec["tolerations"] = tolerations
    if node_name is not None:
        spec["nodeName"] = node_name
    meta: dict[str, Any] = {"generateName": "web-", "namespace": namespace}
    if owner is not None:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner, "name": "o", "uid": "u", "controller": True}
        ]
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def in_class(key: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


SEL = L.CLASS_LABEL
GKE = L.GKE_CLASS_LABEL
NS = L.DEFAULT_CLASS_LABEL
NS_NON_DS = L.DEFAULT_CLASS_NON_DAEMONSET_LABEL
GKE_NS = L.GKE_DEFAULT_CLASS_LABEL
GKE_NS_NON_DS = L.GKE_DEFAULT_CLASS_NON_DAEMONSET_LABEL
ADD_TOLERATIONS = "/spec/tolerations"
APPEND_TOLERATION = "/spec/tolerations/-"
ADD_SELECTOR = "/spec/nodeSelector"
ADD_SELECTOR_KEY = "/spec/nodeSelector/ccc.dev~1compute-class"

# (id, pod, namespace labels, settings, expected classes after admission, expected patch paths,
#  expected missing-class events)
Case = tuple[str, dict[str, Any], dict[str, str], AdmissionSettings, list[str], list[str], int]
CASES: list[Case] = [
    ("gke-style pod: only the node selector", pod(selector={SEL: "h100"}), {}, DEFAULT,
     ["h100"], [ADD_TOLERATIONS], 0),
    ("gke's own key where accepted", pod(selector={GKE: "h100"}), {}, DEFAULT,
     ["h100"], [ADD_TOLERATIONS], 0),
    ("gke's key while the alias is off: GKE's pod, left alone", pod(selector={GKE: "h100"}), {},
     NO_GKE, [], [], 0),
    ("required node affinity on the class key", pod(affinity_terms=[[in_class(SEL, "l4")]]), {},
     DEFAULT, ["l4"], [ADD_TOLERATIONS], 0),
    ("required node affinity on gke's key", pod(affinity_terms=[[in_class(GKE, "l4")]]), {},
     DEFAULT, ["l4"], [ADD_TOLERATIONS], 0),
    ("affinity with two classes tolerates both",
     pod(affinity_terms=[[in_class(SEL, "l4", "h100")]]), {}, DEFAULT,
     ["l4", "h100"], [ADD_TOLERATIONS, APPEND_TOLERATION, APPEND_TOLERATION], 0),
    ("affinity on another key selects nothing",
     pod(affinity_terms=[[in_class("pool", "a")]]), {}, DEFAULT, [], [], 0),
    ("already tolerated (Equal)", pod(selector={SEL: "h100"}, tolerations=BOTH),
     {}, DEFAULT, ["h100"], [], 0),
    ("tolerating ccc's taint alone: gke's is added (a pool moved over from GKE carries it)",
     pod(selector={SEL: "h100"}, tolerations=[toleration("h100")]), {}, DEFAULT,
     ["h100"], [APPEND_TOLERATION], 0),
    ("while gke's key is off, ccc's taint alone is enough",
     pod(selector={SEL: "h100"}, tolerations=[toleration("h100")]), {}, NO_GKE, ["h100"], [], 0),
    ("gke's taint while gke's key is off: ccc's is added",
     pod(selector={SEL: "h100"}, tolerations=[toleration("h100", GKE)]), {}, NO_GKE,
     ["h100"], [APPEND_TOLERATION], 0),
    ("already tolerated (Exists on everything)",
     pod(selector={SEL: "h100"}, tolerations=[{"operator": "Exists"}]), {}, DEFAULT,
     ["h100"], [], 0),
    ("already tolerated (Exists on both class keys)",
     pod(selector={SEL: "h100"}, tolerations=[{"key": k, "operator": "Exists"} for k in KEYS]),
     {}, DEFAULT, ["h100"], [], 0),
    ("Exists on ccc's class key alone: gke's is added",
     pod(selector={SEL: "h100"}, tolerations=[{"key": SEL, "operator": "Exists"}]), {}, DEFAULT,
     ["h100"], [APPEND_TOLERATION], 0),
    ("a toleration of another class does not count",
     pod(selector={SEL: "h100"}, tolerations=[toleration("l4")]), {}, DEFAULT,
     ["h100"], [APPEND_TOLERATION, APPEND_TOLERATION], 0),
    ("a NoExecute toleration does not count",
     pod(selector={SEL: "h100"}, tolerations=[{**toleration("h100"), "effect": "NoExecute"}]),
     {}, DEFAULT, ["h100"], [APPEND_TOLERATION, APPEND_TOLERATION], 0),
    ("missing class: unchanged, with an Event", pod(selector={SEL: "nope"}), {}, DEFAULT,
     [], [], 1),
    ("one of two affinity classes missing",
     pod(affinity_terms=[[in_class(SEL, "l4")], [in_class(SEL, "nope")]]), {}, DEFAULT,
     ["l4"], [ADD_TOLERATIONS], 1),
    ("namespace default", pod(), {NS: "l4"}, DEFAULT, ["l4"], [ADD_SELECTOR, ADD_TOLERATIONS], 0),
    ("namespace default next to other selectors and tolerations",
     pod(selector={"disk": "ssd"}, tolerations=[{"key": "x", "operator": "Exists"}]),
     {NS: "l4"}, DEFAULT, ["l4"], [ADD_SELECTOR_KEY, APPEND_TOLERATION, APPEND_TOLERATION], 0),
    ("namespace default applies to DaemonSet pods", pod(owner="DaemonSet"), {NS: "l4"}, DEFAULT,
     ["l4"], [ADD_SELECTOR, ADD_TOLERATIONS], 0),
    ("non-daemonset default skips DaemonSet pods", pod(owner="DaemonSet"), {NS_NON_DS: "l4"},
     DEFAULT, [], [], 0),
    ("non-daemonset default applies to ReplicaSet pods", pod(owner="ReplicaSet"),
     {NS_NON_DS: "l4"}, DEFAULT, ["l4"], [ADD_SELECTOR, ADD_TOLERATIONS], 0),
    ("both labels: non-DaemonSet pods take the non-daemonset one", pod(),
     {NS: "h100", NS_NON_DS: "l4"}, DEFAULT, ["l4"], [ADD_SELECTOR, ADD_TOLERATIONS], 0),
    ("both labels: DaemonSet pods take the plain one", pod(owner="DaemonSet"),
     {NS: "h100", NS_NON_DS: "l4"}, DEFAULT, ["h100"], [ADD_SELECTOR, ADD_TOLERATIONS], 0),
    ("gke's namespace label where accepted", pod(), {GKE_NS: "l4"}, DEFAULT,
     ["l4"], [ADD_SELECTOR, ADD_TOLERATIONS], 0),
    ("gke's non-daemonset namespace label skips DaemonSet pods", pod(owner="DaemonSet"),
     {GKE_NS_NON_DS: "l4"}, DEFAULT, [], [], 0),
    ("gke's namespace label while the alias is off", pod(), {GKE_NS: "l4"}, NO_GKE, [], [], 0),
    ("ccc's namespace label wins over gke's", pod(), {GKE_NS: "h100", NS: "l4"}, DEFAULT,
     ["l4"], [ADD_SELECTOR, ADD_TOLERATIONS], 0),
    ("a pod naming its own class keeps it", pod(selector={SEL: "h100"}), {NS: "l4"}, CLUSTER_L4,
     ["h100"], [ADD_TOLERATIONS], 0),
    ("a pod naming a gke class (alias off) gets no default", pod(selector={GKE: "x"}),
     {NS: "l4"}, NO_GKE, [], [], 0),
    ("missing namespace default: unchanged, with an Event, no fall-through", pod(),
     {NS: "nope"}, CLUSTER_L4, [], [], 1),
    ("cluster default", pod(), {}, CLUSTER_L4, ["l4"], [ADD_SELECTOR, ADD_TOLERATIONS], 0),
    ("namespace default wins over the cluster default", pod(), {NS: "h100"}, CLUSTER_L4,
     ["h100"], [ADD_SELECTOR, ADD_TOLERATIONS], 0),
    ("cluster default never applies to DaemonSet pods", pod(owner="DaemonSet"), {}, CLUSTER_L4,
     [], [], 0),
    ("missing cluster default", pod(), {}, AdmissionSettings(cluster_default="nope"), [], [], 1),
    ("no class anywhere", pod(), {}, DEFAULT, [], [], 0),
    ("kube-system is excluded", pod(namespace="kube-system", selector={SEL: "h100"}), {},
     DEFAULT, [], [], 0),
    ("ccc's own namespace is excluded",
     pod(namespace="ccc-system"), {NS: "l4"},
     AdmissionSettings(excluded_namespaces=frozenset({"kube-system", "ccc-system"})), [], [], 0),
    ("a pod bound to a node gets no default", pod(node_name="n1"), {NS: "l4"}, DEFAULT,
     [], [], 0),
    ("a bound pod selecting a class is still tolerated", pod(node_name="n1", selector={SEL: "l4"}),
     {}, DEFAULT, ["l4"], [ADD_TOLERATIONS], 0),
    ("a mirror pod gets no default", pod(annotations={"kubernetes.io/config.mirror": "x"}),
     {NS: "l4"}, DEFAULT, [], [], 0),
]  # fmt: skip


def _selected_after(patched: dict[str, Any], settings: AdmissionSettings) -> list[str]:
    from ccc.api.selection import class_keys, selected_classes

    keys = class_keys(accept_gke_label=settings.accept_gke_label)
    return [c for c in selected_classes(patched["spec"], keys) if c in KNOWN]


@pytest.mark.parametrize(
    ("the_pod", "ns_labels", "settings", "classes", "paths", "missing"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_admission_patches_selects_and_reports_as_gke_does(
    the_pod: dict[str, Any],
    ns_labels: dict[str, str],
    settings: AdmissionSettings,
    classes: list[str],
    paths: list[str],
    missing: int,
) -> None:
    result = admit(the_pod, namespace_labels=ns_labels, known_classes=KNOWN, settings=settings)
    assert [op["path"] for op in result.patch] == paths
    assert all(op["op"] == "add" for op in result.patch)
    assert list(result.classes) == classes
    assert [e.reason for e in result.events] == [CLASS_NOT_FOUND] * missing
    assert list(result.warnings) == [e.message for e in result.events]
    patched = apply_patch(the_pod, result.patch)
    # Every class the admitted pod selects is tolerated, and it selects no other ccc class.
    if result.source is not None:
        assert sorted(_selected_after(patched, settings)) == sorted(classes)
    for name in classes:
        for wanted in tolerations(name, settings):
            assert wanted in patched["spec"]["tolerations"] or any(
                t.get("operator") == "Exists" and t.get("key") in (None, wanted["key"])
                for t in patched["spec"]["tolerations"]
            )
    # Idempotent: the admitted pod, admitted again, needs nothing more.
    again = admit(patched, namespace_labels=ns_labels, known_classes=KNOWN, settings=settings)
    assert again.patch == ()
    # The lookup list covers every class the decision depends on.
    checked = classes_to_check(the_pod, namespace_labels=ns_labels, settings=settings)
    assert set(classes) <= set(checked)
    assert len([c for c in checked if c not in KNOWN]) == missing


def test_missing_class_events_name_the_class_and_say_how_to_fix_it() -> None:
    (event,) = admit(
        pod(selector={SEL: "h200"}), namespace_labels={}, known_classes=KNOWN, settings=DEFAULT
    ).events
    assert "'h200'" in event.message and "Create the ComputeClass" in event.message
    (event,) = admit(
        pod(), namespace_labels={NS: "h200"}, known_classes=KNOWN, settings=DEFAULT
    ).events
    assert NS in event.message and "unchanged" in event.message


def test_outcomes_are_stable_words_for_logs_and_metrics() -> None:
    def outcome(p: dict[str, Any], labels: dict[str, str] | None = None) -> str:
        return admit(
            p, namespace_labels=labels or {}, known_classes=KNOWN, settings=DEFAULT
        ).outcome

    assert outcome(pod(selector={SEL: "h100"})) == "tolerated"
    assert outcome(pod(), {NS: "l4"}) == "defaulted"
    assert outcome(pod(selector={SEL: "h100"}, tolerations=tolerations("h100", DEFAULT))) == (
        "unchanged"
    )
    assert outcome(pod(selector={SEL: "nope"})) == "class_missing"
    assert outcome(pod()) == "ignored"


def test_the_patch_is_valid_json_patch_applied_by_the_api_server_in_order() -> None:
    the_pod = pod(selector={"disk": "ssd"})
    result = admit(the_pod, namespace_labels={NS: "l4"}, known_classes=KNOWN, settings=DEFAULT)
    assert list(result.patch) == [
        {"op": "add", "path": ADD_SELECTOR_KEY, "value": "l4"},
        {"op": "add", "path": ADD_TOLERATIONS, "value": tolerations("l4", DEFAULT)},
    ]
    patched = apply_patch(the_pod, result.patch)
    assert patched["spec"]["nodeSelector"] == {"disk": "ssd", SEL: "l4"}
    assert the_pod["spec"]["nodeSelector"] == {"disk": "ssd"}  # the input is not modified


def test_apply_patch_refuses_operations_admission_never_emits() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        apply_patch({"a": 1}, [{"op": "remove", "path": "/a"}])


def test_plans_see_pods_as_admission_leaves_them() -> None:
    """``ccc plan`` applies the same function to workload pods (PodRequest values)."""
    plain = PodRequest(name="w", namespace="team", node_selector={SEL: "h100"})
    admitted = admit_request(plain, namespace_labels={}, known_classes={"h100"}, settings=DEFAULT)
    assert admitted.tolerations == tuple(Toleration(**t) for t in BOTH)
    defaulted = admit_request(
        PodRequest(name="w", namespace="team"),
        namespace_labels={NS: "h100"},
        known_classes={"h100"},
        settings=DEFAULT,
    )
    assert defaulted.compute_class == "h100"
    assert defaulted.tolerations == tuple(Toleration(**t) for t in BOTH)
    other = PodRequest(name="w", namespace="team", node_selector={SEL: "l4"})
    assert admit_request(other, namespace_labels={}, known_classes={"h100"}, settings=DEFAULT) == (
        other
    )
