"""Whether a pod may land on a node's labels and taints, as GKE admits and schedules it.

Tolerations the workload does not write itself (reference gke-computeclass.md §3.1):

* the class taint (``ccc.dev/compute-class=NAME``): ccc's admission webhook adds its toleration
  to pods that select the class, as GKE's compute-class admission does
  (:mod:`policies.class_admission`; ``ccc plan`` applies the same function to workload files).
  The walk does not assume it: a pod that was not admitted that way does not tolerate the
  taint, exactly as on the cluster;
* ``nvidia.com/gpu`` and ``google.com/tpu`` for pods that request those resources: the
  ``ExtendedResourceToleration`` admission plugin, enabled on GKE (and on ccc's test control
  plane), adds an ``Exists`` toleration for every extended resource a pod requests, and GKE
  taints GPU/TPU nodes with exactly those keys. The walk implies these.

Node selection is the node selector plus the required node affinity terms. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ccc.api import labels as L
from ccc.api.values import Taint
from ccc.api.workload import PodRequest


def implied_toleration_keys(pod: PodRequest) -> frozenset[str]:
    """Taint keys ``ExtendedResourceToleration`` makes ``pod`` tolerate (the accelerators it
    requests)."""
    keys: set[str] = set()
    if pod.gpus > 0:
        keys.add(L.GPU_RESOURCE)
    if pod.tpus > 0:
        keys.add(L.TPU_RESOURCE)
    return frozenset(keys)


def untolerated(pod: PodRequest, taints: Iterable[Taint]) -> Taint | None:
    """The first taint that keeps ``pod`` off the node (``PreferNoSchedule`` never does), or
    ``None``."""
    implied = implied_toleration_keys(pod)
    for t in taints:
        if t.effect == "PreferNoSchedule" or t.key in implied:
            continue
        if not any(tol.tolerates(t.key, t.value, t.effect) for tol in pod.tolerations):
            return t
    return None


def selector_mismatch(
    pod: PodRequest, labels: Mapping[str, str], *, ignore: Iterable[str] = ()
) -> str:
    """Why the node selector or required node affinity rejects ``labels`` ('' when they fit).

    Keys in ``ignore`` are not checked (the walk checks labels that vary per zone and capacity
    type per offering).
    """
    skip = frozenset(ignore)
    for k, v in pod.node_selector.items():
        if k in skip:
            continue
        have = labels.get(k)
        if have != v:
            return f"node selector {k}={v} does not match the node ({have or 'unset'})"
    terms = pod.node_affinity
    # An empty term matches no node (Kubernetes: "a null or empty node selector term matches no
    # objects"), unlike an empty list of terms, which is no requirement.
    if terms and not any(
        term and all(r.key in skip or r.matches(labels) for r in term) for term in terms
    ):
        first = terms[0][0] if terms[0] else None
        values = f" {','.join(first.values)}" if first is not None and first.values else ""
        detail = (
            f" (e.g. {first.key} {first.operator}{values}; node has "
            f"{labels.get(first.key, 'unset')})"
            if first is not None
            else ""
        )
        return f"required node affinity does not match the node{detail}"
    return ""
