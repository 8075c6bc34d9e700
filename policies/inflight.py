"""Capacity that is already on its way: subtract it from pending demand before walking.

Pending pods that fit into free room on the class's existing nodes, or on nodes that a pool has
been asked for but that have not registered yet, need no new capacity: the scheduler will bind
them when the node is ready. Without this step a controller that restarts (or re-plans before
the scheduler catches up) would ask for the same nodes twice. Pure and first-fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ccc.api import labels as L
from ccc.api.values import Taint
from ccc.api.workload import PodRequest
from policies.admission import selector_mismatch, untolerated


@dataclass(slots=True)
class NodeSlot:
    """Free room on one real or expected node."""

    name: str
    labels: Mapping[str, str]
    taints: Sequence[Taint]
    cpu_m: int
    memory_bytes: int
    gpus: int
    tpus: int
    pods: int
    expected: bool = False
    selector_cache: dict[tuple[object, ...], bool] = field(default_factory=dict)

    def admits(self, pod: PodRequest) -> bool:
        """Selector, node affinity and taint compatibility, with the tolerations GKE's
        admission adds (:mod:`policies.admission`); cached per pod template.

        The taints a node carries only while it boots (:data:`ccc.api.labels.BOOT_TAINTS`:
        ``node.kubernetes.io/not-ready``, ``node.cloudprovider.kubernetes.io/uninitialized``)
        are ignored: they go once the node is Ready, and then the scheduler binds the pod, so a
        booting node is room for pods that tolerate nothing (a node that never becomes Ready
        stops being room after the not-Ready grace, :func:`policies.room.node_slots`)."""
        key = pod.template_key()
        hit = self.selector_cache.get(key)
        if hit is not None:
            return hit
        lasting = [t for t in self.taints if t.key not in L.BOOT_TAINTS]
        ok = not selector_mismatch(pod, self.labels) and untolerated(pod, lasting) is None
        self.selector_cache[key] = ok
        return ok

    def take(self, pod: PodRequest, n: int) -> int:
        """Place up to ``n`` pods of ``pod``; returns how many were placed."""
        limits = [n, self.pods]
        for want, have in (
            (pod.cpu_m, self.cpu_m),
            (pod.memory_bytes, self.memory_bytes),
            (pod.gpus, self.gpus),
            (pod.tpus, self.tpus),
        ):
            if want > 0:
                limits.append(have // want)
        k = max(0, min(limits))
        self.pods -= k
        self.cpu_m -= k * pod.cpu_m
        self.memory_bytes -= k * pod.memory_bytes
        self.gpus -= k * pod.gpus
        self.tpus -= k * pod.tpus
        return k


@dataclass(frozen=True, slots=True)
class Absorbed:
    remaining: tuple[PodRequest, ...]
    #: pods covered by existing free room (real nodes) and by expected nodes
    on_existing: int
    on_expected: int


def absorb(pending: Sequence[PodRequest], slots: Sequence[NodeSlot]) -> Absorbed:
    """Remove from ``pending`` the pods that fit into ``slots`` (mutates the slots)."""
    remaining: list[PodRequest] = []
    on_existing = on_expected = 0
    ordered = sorted(pending, key=lambda p: (-p.gpus, -p.tpus, -p.cpu_m, -p.memory_bytes))
    for pod in ordered:
        left = pod.count
        for slot in slots:
            if not left:
                break
            if not slot.admits(pod):
                continue
            placed = slot.take(pod, left)
            left -= placed
            if slot.expected:
                on_expected += placed
            else:
                on_existing += placed
        if left:
            remaining.append(pod.model_copy(update={"count": left}))
    return Absorbed(tuple(remaining), on_existing, on_expected)
