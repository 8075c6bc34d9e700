"""Slim, immutable projections of Pods and Nodes: what the informer caches (and the in-memory
cluster) keep, and what the pure decision core reads.

They live in the API layer because both halves of the controller use them: the shell builds them
from watch events, ``policies`` decides from them. The controller keeps every pod and node of the
cluster in memory (benchmark target: 5,000 pods and 500 nodes within 200 MiB of RSS for the whole
process), so the caches hold only what decisions need: requests summed the way the scheduler sums
them, the class selector, tolerations, schedulability, placement, ownership and a few labels and
annotations. Each projection is a ``slots`` dataclass whose strings are interned; repeated
tolerations are shared objects.

Projections compare by value, so the informer can tell a real change from a no-op update during a
relist. They hold dicts (selectors, labels) and are therefore not hashable: key them by
``key`` (``namespace/name``) or ``uid``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ccc.api.labels import CLASS_LABEL, GKE_CLASS_LABEL, GPU_RESOURCE, TPU_RESOURCE
from ccc.api.selection import ALL_CLASS_KEYS, required_affinity_class
from ccc.api.values import Taint
from ccc.api.workload import (
    NodeAffinity,
    PodRequest,
    Toleration,
    affinity_class,
    parse_quantity,
    pod_request_from_spec,
)

#: Pod labels kept in :attr:`PodInfo.labels` (prefix match); the rest are dropped.
POD_LABEL_PREFIXES: tuple[str, ...] = (
    "ccc.dev/",
    "cloud.google.com/",
    "leaderworkerset.sigs.k8s.io/",
    "batch.kubernetes.io/job-name",
    "app.kubernetes.io/name",
)
#: Node annotations kept in :attr:`NodeInfo.annotations` (prefix match).
NODE_ANNOTATION_PREFIXES: tuple[str, ...] = ("ccc.dev/", "node.gke.io/machine-termination-datetime")


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp of the API (``2026-01-02T03:04:05Z``) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def _intern(value: object) -> str:
    return sys.intern(str(value))


def _intern_map(items: Iterable[tuple[object, object]]) -> dict[str, str]:
    return {_intern(k): _intern(v) for k, v in items}


@functools.lru_cache(maxsize=4096)
def _toleration(
    key: str | None, operator: str, value: str | None, effect: str | None
) -> Toleration:
    return Toleration(key=key, operator=operator, value=value, effect=effect)


@functools.lru_cache(maxsize=4096)
def _tolerations(
    raw: tuple[tuple[str | None, str, str | None, str | None], ...],
) -> tuple[Toleration, ...]:
    return tuple(_toleration(*t) for t in raw)


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What the controller knows about one pod.

    Resources are the scheduler's effective requests: the sum over containers, at least the
    largest init container; in millicores, bytes and whole GPUs / TPU chips. A class that the
    pod's required node affinity pins (every term names the same one) appears in
    ``node_selector`` as if the pod used the node selector: every node it may land on carries
    that label.
    """

    namespace: str
    name: str
    uid: str
    phase: str
    node_name: str | None
    node_selector: dict[str, str]
    tolerations: tuple[Toleration, ...]
    cpu_m: int
    memory_bytes: int
    gpus: int
    tpus: int
    #: ``PodScheduled=False`` with reason ``Unschedulable`` (the scheduler found no node).
    unschedulable: bool
    #: ``lastTransitionTime`` of that condition.
    unschedulable_since: datetime | None
    #: ``spec.schedulingGates`` is not empty (e.g. a queue holds the pod): not demand yet.
    scheduling_gated: bool
    creation_timestamp: datetime | None
    deletion_timestamp: datetime | None
    priority: int
    #: Kind and name of the controlling owner reference (else the first one), if any.
    owner_kind: str | None
    owner_name: str | None
    #: Only the labels matching :data:`POD_LABEL_PREFIXES`.
    labels: dict[str, str]
    #: The ``Ready`` condition (``None``: not reported, e.g. a pod the in-memory binder placed).
    ready: bool | None = None
    #: Condition ``DisruptionTarget=True`` with reason ``TerminationByKubelet``: kubelet's
    #: graceful node shutdown (a spot preemption) ended the pod.
    shutdown_by_kubelet: bool = False
    #: Required node affinity terms (``()`` for most pods).
    node_affinity: NodeAffinity = ()

    @property
    def key(self) -> str:
        """``namespace/name``, the informer's store key."""
        return f"{self.namespace}/{self.name}"

    @property
    def deleting(self) -> bool:
        """True once the pod has a deletion timestamp."""
        return self.deletion_timestamp is not None

    @property
    def compute_class(self) -> str | None:
        """The class the pod selects (``ccc.dev/compute-class``, else GKE's key) in its node
        selector or, failing that, its required node affinity (GKE treats both alike)."""
        return (
            self.node_selector.get(CLASS_LABEL)
            or self.node_selector.get(GKE_CLASS_LABEL)
            or affinity_class(self.node_affinity)
        )

    @property
    def wants_capacity(self) -> bool:
        """Pending, selects a class and is not held by a scheduling gate: demand for ccc."""
        return self.pending and not self.scheduling_gated and self.compute_class is not None

    @property
    def pending(self) -> bool:
        """Unbound, not terminating and not finished."""
        return (
            self.node_name is None
            and self.deletion_timestamp is None
            and self.phase not in ("Succeeded", "Failed")
        )

    def request(self) -> PodRequest:
        """This pod as the policies' demand value (count 1)."""
        return PodRequest(
            name=self.name,
            namespace=self.namespace,
            cpu_m=self.cpu_m,
            memory_bytes=self.memory_bytes,
            gpus=self.gpus,
            tpus=self.tpus,
            node_selector=self.node_selector,
            tolerations=self.tolerations,
            node_affinity=self.node_affinity,
        )


def _owner(meta: Mapping[str, Any]) -> tuple[str | None, str | None]:
    refs = meta.get("ownerReferences") or []
    chosen = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    if chosen is None:
        return None, None
    return _intern(chosen.get("kind", "")), str(chosen.get("name", ""))


def pod_info(obj: dict[str, Any]) -> PodInfo:
    """Project a Pod (raw JSON dict) onto :class:`PodInfo`.

    Raises:
        ConfigError: a container's resource quantity does not parse (the API server prevents
            this; the informer logs and skips such an object).
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = str(meta.get("name", ""))
    namespace = _intern(meta.get("namespace", ""))
    request = pod_request_from_spec(spec, name=name, namespace=namespace)
    unschedulable, since, ready, shutdown = False, None, None, False
    for condition in status.get("conditions") or ():
        kind = condition.get("type")
        if kind == "PodScheduled":
            unschedulable = (
                condition.get("status") == "False" and condition.get("reason") == "Unschedulable"
            )
            since = parse_time(condition.get("lastTransitionTime")) if unschedulable else None
        elif kind == "Ready":
            ready = condition.get("status") == "True"
        elif kind == "DisruptionTarget":
            shutdown = (
                condition.get("status") == "True"
                and condition.get("reason") == "TerminationByKubelet"
            )
    raw_tolerations = tuple(
        (
            _intern(t["key"]) if t.get("key") is not None else None,
            _intern(t.get("operator") or "Equal"),
            _intern(t["value"]) if t.get("value") is not None else None,
            _intern(t["effect"]) if t.get("effect") else None,
        )
        for t in spec.get("tolerations") or ()
    )
    owner_kind, owner_name = _owner(meta)
    labels = meta.get("labels") or {}
    node_name = spec.get("nodeName")
    selector = _intern_map((spec.get("nodeSelector") or {}).items())
    if not any(key in selector for key in ALL_CLASS_KEYS):
        # A class pinned by required node affinity is the same demand as the node selector.
        pinned = required_affinity_class(spec, ALL_CLASS_KEYS)
        if pinned is not None:
            selector[_intern(pinned[0])] = _intern(pinned[1])
    return PodInfo(
        namespace=namespace,
        name=name,
        uid=str(meta.get("uid", "")),
        phase=_intern(status.get("phase") or "Pending"),
        node_name=_intern(node_name) if node_name else None,
        node_selector=selector,
        tolerations=_tolerations(raw_tolerations),
        cpu_m=request.cpu_m,
        memory_bytes=request.memory_bytes,
        gpus=request.gpus,
        tpus=request.tpus,
        unschedulable=unschedulable,
        unschedulable_since=since,
        scheduling_gated=bool(spec.get("schedulingGates")),
        creation_timestamp=parse_time(meta.get("creationTimestamp")),
        deletion_timestamp=parse_time(meta.get("deletionTimestamp")),
        priority=int(spec.get("priority") or 0),
        owner_kind=owner_kind,
        owner_name=owner_name,
        labels=_intern_map(
            (k, v) for k, v in labels.items() if str(k).startswith(POD_LABEL_PREFIXES)
        ),
        ready=ready,
        shutdown_by_kubelet=shutdown,
        node_affinity=request.node_affinity,
    )


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the controller knows about one node. Allocatable in millicores, bytes, units."""

    name: str
    uid: str
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    cpu_m: int
    memory_bytes: int
    gpus: int
    tpus: int
    pods: int
    #: The ``Ready`` condition is ``True``.
    ready: bool
    #: Cordoned (``spec.unschedulable``).
    unschedulable: bool
    creation_timestamp: datetime | None
    deletion_timestamp: datetime | None
    provider_id: str | None
    #: Only the annotations matching :data:`NODE_ANNOTATION_PREFIXES`.
    annotations: dict[str, str]

    @property
    def key(self) -> str:
        """The node name, the informer's store key."""
        return self.name


def _quantity(resources: Mapping[str, Any], name: str, scale: int = 1) -> int:
    value = resources.get(name)
    if value is None:
        return 0
    return int(parse_quantity(value, path=f"status.allocatable.{name}") * Decimal(scale))


def node_info(obj: dict[str, Any]) -> NodeInfo:
    """Project a Node (raw JSON dict) onto :class:`NodeInfo`.

    Raises:
        ConfigError: an allocatable quantity does not parse (prevented by the API server).
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    allocatable = status.get("allocatable") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    annotations = meta.get("annotations") or {}
    return NodeInfo(
        name=_intern(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        labels=_intern_map((meta.get("labels") or {}).items()),
        taints=tuple(
            Taint(key=t["key"], value=t.get("value") or "", effect=t["effect"])
            for t in spec.get("taints") or ()
        ),
        cpu_m=_quantity(allocatable, "cpu", 1000),
        memory_bytes=_quantity(allocatable, "memory"),
        gpus=_quantity(allocatable, GPU_RESOURCE),
        tpus=_quantity(allocatable, TPU_RESOURCE),
        pods=_quantity(allocatable, "pods"),
        ready=ready,
        unschedulable=bool(spec.get("unschedulable")),
        creation_timestamp=parse_time(meta.get("creationTimestamp")),
        deletion_timestamp=parse_time(meta.get("deletionTimestamp")),
        provider_id=spec.get("providerID") or None,
        annotations=_intern_map(
            (k, v) for k, v in annotations.items() if str(k).startswith(NODE_ANNOTATION_PREFIXES)
        ),
    )
