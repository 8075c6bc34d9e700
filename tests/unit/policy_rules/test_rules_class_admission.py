"""Rules of policies/class_admission.py (reference gke-computeclass.md §3.1): which existing
tolerations already cover a class taint, tolerations for every class a pod selects, where the
class came from, the JSON patch as RFC 6902 applies it, and plans of pods as admission leaves
them."""

from __future__ import annotations

from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.workload import PodRequest, Toleration
from policies.class_admission import (
    AdmissionSettings,
    admit,
    admit_request,
    apply_patch,
    tolerations,
)

SETTINGS = AdmissionSettings()
KNOWN = frozenset({"h100", "l4"})


def _pod(
    *, selector: dict[str, str] | None = None, tolerations: list[Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "x"}]}
    if selector is not None:
        spec["nodeSelector"] = selector
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"metadata": {"namespace": "team"}, "spec": spec}


@pytest.mark.parametrize(
    "existing",
    [
        {"operator": "Exists"},
        {"key": "", "operator": "Exists"},
        {"key": L.CLASS_LABEL, "operator": "Exists", "effect": ""},
        {"key": L.CLASS_LABEL, "operator": "Equal", "value": "h100", "effect": ""},
    ],
    ids=["exists-no-key", "exists-empty-key", "key-exists-every-effect", "equal-every-effect"],
)
def test_a_toleration_that_already_covers_the_class_taint_gets_no_duplicate(
    existing: dict[str, str],
) -> None:
    """Kubernetes: an empty key with ``Exists`` tolerates every taint, an empty effect every
    effect; such a toleration already covers ``ccc.dev/compute-class=h100:NoSchedule``."""
    result = admit(
        _pod(selector={L.CLASS_LABEL: "h100"}, tolerations=[existing]),
        namespace_labels={},
        known_classes=KNOWN,
        settings=SETTINGS,
    )
    added = [op["value"] for op in result.patch]
    assert all(t["key"] != L.CLASS_LABEL for t in added)


def test_a_toleration_for_another_effect_does_not_cover_the_class_taint() -> None:
    existing = {"key": L.CLASS_LABEL, "operator": "Exists", "effect": "NoExecute"}
    result = admit(
        _pod(selector={L.CLASS_LABEL: "h100"}, tolerations=[existing]),
        namespace_labels={},
        known_classes=KNOWN,
        settings=SETTINGS,
    )
    assert [op["value"] for op in result.patch] == tolerations("h100", SETTINGS)


@pytest.mark.parametrize(
    ("tolerated", "added"),
    [("h100", "l4"), ("l4", "h100")],
    ids=["first-already-tolerated", "second-already-tolerated"],
)
def test_a_pod_selecting_two_classes_gets_exactly_the_tolerations_it_lacks(
    tolerated: str, added: str
) -> None:
    """The pod selects h100 under ccc's key and l4 under GKE's; it already tolerates one of
    them, so only the other's tolerations are appended (§3.1)."""
    the_pod = _pod(
        selector={L.CLASS_LABEL: "h100", L.GKE_CLASS_LABEL: "l4"},
        tolerations=tolerations(tolerated, SETTINGS),
    )
    result = admit(the_pod, namespace_labels={}, known_classes=KNOWN, settings=SETTINGS)
    assert result.classes == ("h100", "l4")
    assert [op["value"] for op in result.patch] == tolerations(added, SETTINGS)
    assert {op["path"] for op in result.patch} == {"/spec/tolerations/-"}


@pytest.mark.parametrize(
    ("selector", "namespace_labels", "settings", "source"),
    [
        ({L.CLASS_LABEL: "h100"}, {}, SETTINGS, "pod"),
        (None, {L.DEFAULT_CLASS_LABEL: "h100"}, SETTINGS, "namespace"),
        (None, {}, AdmissionSettings(cluster_default="h100"), "cluster"),
        (None, {L.DEFAULT_CLASS_LABEL: "gone"}, SETTINGS, "namespace"),
        (None, {}, AdmissionSettings(cluster_default="gone"), "cluster"),
    ],
    ids=["pod", "namespace", "cluster", "namespace-missing", "cluster-missing"],
)
def test_admission_reports_where_the_class_came_from_even_when_it_is_missing(
    selector: dict[str, str] | None,
    namespace_labels: dict[str, str],
    settings: AdmissionSettings,
    source: str,
) -> None:
    result = admit(
        _pod(selector=selector),
        namespace_labels=namespace_labels,
        known_classes=KNOWN,
        settings=settings,
    )
    assert result.source == source


# -- the patch as RFC 6902 applies it ----------------------------------------------------------


def test_apply_patch_adds_into_list_elements_at_indexes_and_at_the_end() -> None:
    obj = {"spec": {"tolerations": [{"key": "a"}, {"key": "c"}]}}
    patch: list[dict[str, Any]] = [
        {"op": "add", "path": "/spec/tolerations/0/value", "value": "v"},
        {"op": "add", "path": "/spec/tolerations/1", "value": {"key": "b"}},
        {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "d"}},
    ]
    assert apply_patch(obj, patch) == {
        "spec": {
            "tolerations": [{"key": "a", "value": "v"}, {"key": "b"}, {"key": "c"}, {"key": "d"}]
        }
    }


def test_the_patched_object_shares_no_value_with_the_patch() -> None:
    value = [{"key": L.CLASS_LABEL, "operator": "Exists"}]
    patched = apply_patch(
        {"spec": {}}, [{"op": "add", "path": "/spec/tolerations", "value": value}]
    )
    patched["spec"]["tolerations"][0]["key"] = "changed"
    assert value == [{"key": L.CLASS_LABEL, "operator": "Exists"}]


def test_apply_patch_refuses_to_add_under_a_value_that_is_not_a_container() -> None:
    with pytest.raises(ValueError, match="/spec/x/y"):
        apply_patch({"spec": {"x": 1}}, [{"op": "add", "path": "/spec/x/y", "value": 2}])


# -- plans see pods as admission leaves them ---------------------------------------------------


def test_a_planned_pod_keeps_its_own_tolerations_beside_the_class_ones() -> None:
    own = Toleration(key="dedicated", operator="Equal", value="ml", effect="NoSchedule")
    request = PodRequest(
        name="w", namespace="team", node_selector={L.CLASS_LABEL: "h100"}, tolerations=(own,)
    )
    admitted = admit_request(request, namespace_labels={}, known_classes=KNOWN, settings=SETTINGS)
    assert admitted.tolerations == (own, *(Toleration(**t) for t in tolerations("h100", SETTINGS)))


def test_a_planned_pod_in_an_excluded_namespace_gets_no_default_class() -> None:
    request = PodRequest(name="w", namespace="kube-system")
    settings = AdmissionSettings(cluster_default="h100")
    assert (
        admit_request(request, namespace_labels={}, known_classes=KNOWN, settings=settings)
        == request
    )
