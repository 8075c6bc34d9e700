"""Which ComputeClass a pod selects, read from its PodSpec (a raw JSON mapping).

A pod selects a class with the node selector ``ccc.dev/compute-class: NAME`` (or GKE's
``cloud.google.com/compute-class`` where that alias is accepted), or with a *required*
node-affinity term ``{key: <class key>, operator: In, values: [NAME, ...]}``. The admission
webhook tolerates every class a pod selects this way; the controller serves a pod whose required
affinity pins exactly one class (every term names it) as if it used the node selector, since
every node the pod may land on carries that label.

Pure functions over mappings: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ccc.api.labels import CLASS_LABEL, GKE_CLASS_LABEL

#: Every key that names a class, whether or not ccc serves it.
ALL_CLASS_KEYS: tuple[str, ...] = (CLASS_LABEL, GKE_CLASS_LABEL)


def class_keys(*, accept_gke_label: bool) -> tuple[str, ...]:
    """The node-label keys whose value names a class that ccc serves."""
    return ALL_CLASS_KEYS if accept_gke_label else (CLASS_LABEL,)


def _terms(spec: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    affinity = spec.get("affinity") or {}
    node = affinity.get("nodeAffinity") or {}
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or ()
    return [t for t in terms if isinstance(t, Mapping)]


def _in_expressions(term: Mapping[str, Any], keys: Sequence[str]) -> Iterator[tuple[str, str]]:
    for expr in term.get("matchExpressions") or ():
        if not isinstance(expr, Mapping):
            continue
        if expr.get("key") in keys and expr.get("operator") == "In":
            for value in expr.get("values") or ():
                yield str(expr["key"]), str(value)


def affinity_classes(spec: Mapping[str, Any], keys: Sequence[str]) -> list[tuple[str, str]]:
    """``(key, class)`` of every ``In`` expression on a class key in a required
    node-affinity term (terms are ORed, so each may send the pod to its class)."""
    out: list[tuple[str, str]] = []
    for term in _terms(spec):
        for pair in _in_expressions(term, keys):
            if pair not in out:
                out.append(pair)
    return out


def required_affinity_class(spec: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, str] | None:
    """``(key, class)`` when every required node-affinity term pins the same single class,
    else None. Such a pod can only land on that class's nodes."""
    terms = _terms(spec)
    pinned: set[tuple[str, str]] = set()
    for term in terms:
        found = None
        for expr in term.get("matchExpressions") or ():
            if (
                isinstance(expr, Mapping)
                and expr.get("key") in keys
                and expr.get("operator") == "In"
                and len(expr.get("values") or ()) == 1
            ):
                found = (str(expr["key"]), str(expr["values"][0]))
                break
        if found is None:
            return None
        pinned.add(found)
    if len(pinned) != 1:
        return None
    return next(iter(pinned))


def selected_classes(spec: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, ...]:
    """Names of the classes the pod selects through ``keys``: node selector first, then
    required node affinity; without duplicates."""
    names: list[str] = []
    selector = spec.get("nodeSelector") or {}
    for key in keys:
        value = selector.get(key)
        if value:
            names.append(str(value))
    names.extend(value for _, value in affinity_classes(spec, keys))
    return tuple(dict.fromkeys(names))


def names_any_class(spec: Mapping[str, Any]) -> bool:
    """True when the pod names a class under any class key, served by ccc or not (such a pod
    never gets a default class)."""
    return bool(selected_classes(spec, ALL_CLASS_KEYS))
