"""Pod admission as GKE does it (reference/gke-computeclass.md §3.1): the class toleration for
pods that select a class, and the namespace and cluster default classes.

Given a pod (raw JSON), the labels of its namespace, the names of the existing classes and the
settings, :func:`admit` returns the minimal RFC 6902 JSON patch and the Events to emit. The
admission webhook of ``ccc run`` serves exactly this function, and ``ccc plan`` applies it to
workload files (:func:`admit_request`), so a plan shows pods as the cluster will admit them.

Rules, in order:

1. A pod in an excluded namespace (``kube-system``, ccc's own) is left alone.
2. A pod that selects classes (node selector or required node affinity on
   ``ccc.dev/compute-class``, or GKE's key when accepted) keeps them and gets the toleration
   ``ccc.dev/compute-class=NAME:NoSchedule`` for each one that exists; where GKE's key is
   accepted also ``cloud.google.com/compute-class=NAME:NoSchedule``, the taint GKE's manual
   node pools of the class carry (§3.1) and GKE tolerates for the pods: a pool moved over
   from GKE keeps its taint and still takes the class's pods.
3. A pod that names a class only under GKE's key while that alias is off is left alone: it
   belongs to GKE's own class controller.
4. Otherwise the namespace default applies (``ccc.dev/default-compute-class-non-daemonset``,
   then ``ccc.dev/default-compute-class``, then GKE's two labels when accepted; the
   ``-non-daemonset`` ones skip DaemonSet pods), else the cluster default (never to DaemonSet
   pods: it would pin every node's DaemonSet pod to the class's nodes). The pod gets the node
   selector and the toleration. Pods already bound to a node (``spec.nodeName``) and mirror
   pods get no default: a selector would make the kubelet reject them.
5. A class that does not exist is not tolerated or defaulted: the pod is admitted unchanged
   (for that class) and a Warning Event says so.

Patches only add (never replace or remove), and re-admitting the patched pod yields an empty
patch. No I/O, no clock, no logging.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ccc.api import labels as L
from ccc.api.selection import class_keys, names_any_class, selected_classes
from ccc.api.workload import PodRequest, Toleration

Source = Literal["pod", "namespace", "cluster"]
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
CLASS_NOT_FOUND = "ComputeClassNotFound"


@dataclass(frozen=True, slots=True)
class AdmissionSettings:
    """What ``ccc run`` (and ``ccc plan``) is configured with.

    Attributes:
        accept_gke_label: GKE's ``cloud.google.com/compute-class`` selects ccc classes, and
            GKE's namespace default labels are honoured.
        cluster_default: the class for pods that neither select one nor get a namespace default.
        excluded_namespaces: namespaces whose pods are never changed.
    """

    accept_gke_label: bool = True
    cluster_default: str | None = None
    excluded_namespaces: frozenset[str] = frozenset({"kube-system"})


@dataclass(frozen=True, slots=True)
class AdmissionEvent:
    """A Warning Event about the pod (and the same text as an admission warning)."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome for one pod.

    Attributes:
        patch: RFC 6902 operations (only ``add``); empty when the pod stays as it is.
        classes: existing classes the admitted pod selects.
        source: where the class came from (``None``: the pod selects no class).
        events: Warning Events to record about the pod.
        outcome: a stable word for logs and metrics (``tolerated``, ``defaulted``,
            ``unchanged``, ``class_missing``, ``ignored``).
    """

    patch: tuple[dict[str, Any], ...] = ()
    classes: tuple[str, ...] = ()
    source: Source | None = None
    events: tuple[AdmissionEvent, ...] = ()
    outcome: str = "ignored"

    @property
    def warnings(self) -> tuple[str, ...]:
        """The Events' messages, returned to the client as admission warnings."""
        return tuple(e.message for e in self.events)


@dataclass(frozen=True, slots=True)
class _Choice:
    names: tuple[str, ...]
    source: Source
    origin: str


def toleration(name: str, key: str = L.CLASS_LABEL) -> dict[str, str]:
    """The toleration of the class taint ``KEY=NAME:NoSchedule`` (ccc's key by default)."""
    return {"key": key, "operator": "Equal", "value": name, "effect": "NoSchedule"}


def tolerations(name: str, settings: AdmissionSettings) -> list[dict[str, str]]:
    """The tolerations admission gives a pod of class ``name``: ccc's taint, and GKE's
    (manual pools moved over from GKE carry it) where GKE's key is accepted."""
    keys = class_keys(accept_gke_label=settings.accept_gke_label)
    return [toleration(name, key) for key in keys]


def _tolerates(raw: object, wanted: Mapping[str, str]) -> bool:
    if not isinstance(raw, Mapping):
        return False
    if raw.get("effect") not in (None, "", "NoSchedule"):
        return False
    if raw.get("operator") == "Exists":
        return raw.get("key") in (None, "", wanted["key"])
    return raw.get("key") == wanted["key"] and (raw.get("value") or "") == wanted["value"]


def is_daemonset_pod(pod: Mapping[str, Any]) -> bool:
    """Owned by a DaemonSet (its controlling owner reference, or any owner of that kind)."""
    refs = (pod.get("metadata") or {}).get("ownerReferences") or ()
    return any(isinstance(r, Mapping) and r.get("kind") == "DaemonSet" for r in refs)


def _namespace_default(
    pod: Mapping[str, Any], labels: Mapping[str, str], settings: AdmissionSettings
) -> _Choice | None:
    keys = [L.DEFAULT_CLASS_NON_DAEMONSET_LABEL, L.DEFAULT_CLASS_LABEL]
    if settings.accept_gke_label:
        keys += [L.GKE_DEFAULT_CLASS_NON_DAEMONSET_LABEL, L.GKE_DEFAULT_CLASS_LABEL]
    daemonset = is_daemonset_pod(pod)
    for key in keys:
        value = labels.get(key)
        if not value or (daemonset and key.endswith("-non-daemonset")):
            continue
        return _Choice((value,), "namespace", f"the namespace label {key}")
    return None


def _choice(
    pod: Mapping[str, Any], namespace_labels: Mapping[str, str], settings: AdmissionSettings
) -> _Choice | None:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    if meta.get("namespace") in settings.excluded_namespaces:
        return None
    named = selected_classes(spec, class_keys(accept_gke_label=settings.accept_gke_label))
    if named:
        return _Choice(named, "pod", "the pod")
    if names_any_class(spec) or spec.get("nodeName"):
        return None
    if MIRROR_POD_ANNOTATION in (meta.get("annotations") or {}):
        return None
    found = _namespace_default(pod, namespace_labels, settings)
    if found is None and settings.cluster_default and not is_daemonset_pod(pod):
        found = _Choice((settings.cluster_default,), "cluster", "the cluster default")
    return found


def classes_to_check(
    pod: Mapping[str, Any], *, namespace_labels: Mapping[str, str], settings: AdmissionSettings
) -> tuple[str, ...]:
    """Names of the classes whose existence :func:`admit` depends on for this pod (so the
    caller can look up exactly these, e.g. from a cache and then the API server)."""
    choice = _choice(pod, namespace_labels, settings)
    return choice.names if choice is not None else ()


def _missing_message(name: str, choice: _Choice) -> str:
    if choice.source == "pod":
        return (
            f"ComputeClass {name!r}, selected by the pod, does not exist; ccc admitted the pod "
            "without the class toleration, so it cannot run on that class's nodes. Create the "
            "ComputeClass, then re-create the pod."
        )
    return (
        f"ComputeClass {name!r}, the default class from {choice.origin}, does not exist; ccc "
        "admitted the pod unchanged (no class). Create the ComputeClass or correct the default."
    )


def admit(
    pod: Mapping[str, Any],
    *,
    namespace_labels: Mapping[str, str],
    known_classes: Collection[str],
    settings: AdmissionSettings,
) -> Admission:
    """Decide what admission changes on ``pod`` (a Pod as JSON, as in an AdmissionReview).

    Args:
        pod: the Pod object being created.
        namespace_labels: labels of the pod's namespace.
        known_classes: names of the ComputeClasses that exist.
        settings: the webhook's configuration.

    Returns:
        The patch (minimal, ``add`` operations only, empty on re-admission), the classes the
        admitted pod selects and the Events to record.
    """
    choice = _choice(pod, namespace_labels, settings)
    if choice is None:
        return Admission()
    missing = [n for n in choice.names if n not in known_classes]
    present = [n for n in choice.names if n in known_classes]
    events = tuple(AdmissionEvent(CLASS_NOT_FOUND, _missing_message(n, choice)) for n in missing)
    if not present:
        return Admission(source=choice.source, events=events, outcome="class_missing")
    spec = pod.get("spec") or {}
    ops: list[dict[str, Any]] = []
    if choice.source != "pod":
        selector_value = {L.CLASS_LABEL: present[0]}
        if spec.get("nodeSelector"):
            ops.append({"op": "add", "path": _selector_path(), "value": present[0]})
        else:
            ops.append({"op": "add", "path": "/spec/nodeSelector", "value": selector_value})
    existing = list(spec.get("tolerations") or ())
    for name in present:
        needed = [
            t for t in tolerations(name, settings) if not any(_tolerates(e, t) for e in existing)
        ]
        if not needed:
            continue
        if existing:
            ops += [{"op": "add", "path": "/spec/tolerations/-", "value": t} for t in needed]
        else:
            ops.append({"op": "add", "path": "/spec/tolerations", "value": needed})
        existing += needed
    outcome = "tolerated" if choice.source == "pod" else "defaulted"
    return Admission(
        patch=tuple(ops),
        classes=tuple(present),
        source=choice.source,
        events=events,
        outcome=outcome if ops else "unchanged",
    )


def _selector_path() -> str:
    # RFC 6901: "/" in a key is written "~1".
    return "/spec/nodeSelector/" + L.CLASS_LABEL.replace("~", "~0").replace("/", "~1")


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def apply_patch(obj: Mapping[str, Any], patch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Apply the ``add`` operations that :func:`admit` emits to a copy of ``obj``.

    Raises:
        ValueError: an operation other than ``add``, or a path whose parent is missing.
    """
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    for op in patch:
        if op.get("op") != "add":
            raise ValueError(f"unsupported JSON patch operation {op.get('op')!r}")
        *parents, last = _pointer(str(op["path"]))
        target: Any = out
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        value = copy.deepcopy(op["value"])
        if isinstance(target, list):
            if last == "-":
                target.append(value)
            else:
                target.insert(int(last), value)
        elif isinstance(target, dict):
            target[last] = value
        else:
            raise ValueError(f"cannot add at {op['path']}: the parent is not a container")
    return out


def admit_request(
    request: PodRequest,
    *,
    namespace_labels: Mapping[str, str],
    known_classes: Collection[str],
    settings: AdmissionSettings,
) -> PodRequest:
    """``request`` as admission would leave it (node selector and tolerations), for plans."""
    spec: dict[str, Any] = {
        "nodeSelector": dict(request.node_selector),
        "tolerations": [
            {k: v for k, v in t.model_dump().items() if v is not None} for t in request.tolerations
        ],
    }
    if request.node_affinity:  # a class selected through required node affinity counts too
        terms = [
            {
                "matchExpressions": [
                    {"key": r.key, "operator": r.operator, "values": list(r.values)} for r in term
                ]
            }
            for term in request.node_affinity
        ]
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    pod = {"metadata": {"namespace": request.namespace}, "spec": spec}
    result = admit(
        pod, namespace_labels=namespace_labels, known_classes=known_classes, settings=settings
    )
    if not result.patch:
        return request
    spec = apply_patch(pod, result.patch)["spec"]
    return request.model_copy(
        update={
            "node_selector": spec.get("nodeSelector") or {},
            "tolerations": tuple(Toleration(**t) for t in spec.get("tolerations") or ()),
        }
    )
