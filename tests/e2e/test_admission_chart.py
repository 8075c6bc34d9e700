"""The chart's webhook filters (namespaceSelectors and CEL matchConditions, evaluated here with
cel-python) send ccc every pod that ccc would change or report, and no pod that selects no
class in a namespace without a default label while no cluster default is set.

The API server compiles the same expressions in tests/e2e/test_helm_chart_cluster.py
(server-side dry run) and applies them for real in tests/e2e/test_admission.py; this test covers
the many pod shapes that would take minutes to create one by one.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import celpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccc.api import labels as L
from policies.class_admission import AdmissionSettings, admit
from tests.e2e.test_helm_chart import render

pytestmark = [pytest.mark.e2e]
RELEASE_NS = "ccc-system"
KNOWN = frozenset({"a", "b"})
CLASS_VALUES = st.sampled_from(["a", "b", "missing"])
DEFAULT_LABELS = (
    L.DEFAULT_CLASS_LABEL,
    L.DEFAULT_CLASS_NON_DAEMONSET_LABEL,
    L.GKE_DEFAULT_CLASS_LABEL,
    L.GKE_DEFAULT_CLASS_NON_DAEMONSET_LABEL,
)
VARIANTS = {
    "gke-alias-on": (True, None),
    "gke-alias-off": (False, None),
    "cluster-default": (True, "a"),
    "cluster-default-alias-off": (False, "missing"),
}


@functools.cache
def _webhooks(bin_dir: Path, accept_gke: bool, cluster_default: str | None) -> list[Any]:
    values = ["provider=kwok", f"controller.acceptGkeClassLabel={str(accept_gke).lower()}"]
    if cluster_default:
        values.append(f"webhook.defaultComputeClass={cluster_default}")
    (config,) = [
        o
        for o in render(
            bin_dir, namespace=RELEASE_NS, values=values, show_only=("templates/webhook.yaml",)
        )
        if o["kind"] == "MutatingWebhookConfiguration"
    ]
    env = celpy.Environment()
    return [
        (
            webhook["namespaceSelector"]["matchExpressions"],
            [env.program(env.compile(c["expression"])) for c in webhook["matchConditions"]],
        )
        for webhook in config["webhooks"]
    ]


def _selects_namespace(
    expressions: list[dict[str, Any]], name: str, labels: dict[str, str]
) -> bool:
    every = {**labels, "kubernetes.io/metadata.name": name}
    for e in expressions:
        present = e["key"] in every
        if e["operator"] == "Exists" and not present:
            return False
        if e["operator"] == "NotIn" and present and every[e["key"]] in e["values"]:
            return False
        if e["operator"] not in ("Exists", "NotIn"):
            raise AssertionError(f"update this test for operator {e['operator']}")
    return True


def _reaches_ccc(webhooks: list[Any], pod: dict[str, Any], ns: str, labels: dict[str, str]) -> bool:
    activation = {"object": celpy.json_to_cel(pod)}
    return any(
        _selects_namespace(expressions, ns, labels)
        and all(bool(p.evaluate(activation)) for p in programs)
        for expressions, programs in webhooks
    )


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "x"}]}
    selector = {}
    for key in draw(st.sets(st.sampled_from([L.CLASS_LABEL, L.GKE_CLASS_LABEL, "disk"]))):
        selector[key] = draw(CLASS_VALUES)
    if selector:
        spec["nodeSelector"] = selector
    terms = []
    for key in draw(
        st.lists(st.sampled_from([L.CLASS_LABEL, L.GKE_CLASS_LABEL, "zone"]), max_size=2)
    ):
        operator = draw(st.sampled_from(["In", "NotIn", "Exists"]))
        expression: dict[str, Any] = {"key": key, "operator": operator}
        if operator != "Exists":
            expression["values"] = [draw(CLASS_VALUES)]
        terms.append({"matchExpressions": [expression]})
    if terms:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    meta: dict[str, Any] = {"generateName": "p-"}
    owner = draw(st.sampled_from([None, "DaemonSet", "ReplicaSet", "Job"]))
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


NAMESPACE_LABELS = st.dictionaries(st.sampled_from(DEFAULT_LABELS), CLASS_VALUES, max_size=2)
NAMESPACES = st.sampled_from(["team", "kube-system", RELEASE_NS])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_chart_sends_ccc_every_pod_it_would_change_and_no_unrelated_pod(
    control_plane_bin: Path, variant: str
) -> None:
    accept_gke, cluster_default = VARIANTS[variant]
    webhooks = _webhooks(control_plane_bin, accept_gke, cluster_default)
    admission = AdmissionSettings(
        accept_gke_label=accept_gke,
        cluster_default=cluster_default,
        excluded_namespaces=frozenset({"kube-system", RELEASE_NS}),
    )

    @settings(max_examples=150, deadline=None, database=None)
    @given(pod=pods(), ns=NAMESPACES, labels=NAMESPACE_LABELS)
    def check(pod: dict[str, Any], ns: str, labels: dict[str, str]) -> None:
        pod["metadata"]["namespace"] = ns
        result = admit(pod, namespace_labels=labels, known_classes=KNOWN, settings=admission)
        reaches = _reaches_ccc(webhooks, pod, ns, labels)
        if result.patch or result.events:
            assert reaches, (pod, ns, labels, result)
        spec = pod["spec"]
        names_a_class = (
            any(k in (spec.get("nodeSelector") or {}) for k in (L.CLASS_LABEL, L.GKE_CLASS_LABEL))
            or "affinity" in spec
        )
        if not names_a_class and not labels and not cluster_default:
            assert not reaches, (pod, ns)

    check()
