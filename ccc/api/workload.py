"""Pending-pod demand as plain values, and its extraction from Kubernetes manifests.

Both ``ccc plan`` (workload files: Pods, Deployments, Jobs, LeaderWorkerSets) and the
controller (pods from its informer cache) turn pods into :class:`PodRequest` values here, so the
policies see one shape of input. Parsing is pure: dict in, value out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ccc.api.errors import ConfigError
from ccc.api.labels import CLASS_LABEL, GKE_CLASS_LABEL, GPU_RESOURCE, TPU_RESOURCE


class Toleration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str | None = None
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        """Kubernetes toleration matching (empty key with Exists tolerates everything)."""
        if self.effect and self.effect != effect:
            return False
        if self.operator == "Exists":
            return self.key in (None, "", key)
        return self.key == key and (self.value or "") == value


class NodeSelectorRequirement(BaseModel):
    """One ``matchExpressions`` entry of a required node affinity term."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes semantics of one requirement against a node's labels."""
        have = labels.get(self.key)
        if self.operator == "In":
            return have is not None and have in self.values
        if self.operator == "NotIn":
            return have is None or have not in self.values
        if self.operator == "Exists":
            return have is not None
        if self.operator == "DoesNotExist":
            return have is None
        if have is None or not self.values:
            return False
        try:
            left, right = int(have), int(self.values[0])
        except ValueError:
            return False
        return left > right if self.operator == "Gt" else left < right


#: Required node affinity: the pod fits a node when every requirement of at least one term
#: holds (terms are ORed, requirements ANDed; ``matchFields`` are not modelled).
NodeAffinity = tuple[tuple[NodeSelectorRequirement, ...], ...]


def affinity_matches(affinity: NodeAffinity, labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy the required node affinity (no terms: always)."""
    return not affinity or any(all(r.matches(labels) for r in term) for term in affinity)


def affinity_class(affinity: NodeAffinity) -> str | None:
    """The class a required node affinity selects: every term requires the class key ``In``
    exactly one value, the same in every term (GKE: node affinity works like the selector)."""
    found: set[str] = set()
    for term in affinity:
        names = {
            r.values[0]
            for r in term
            if r.key in (CLASS_LABEL, GKE_CLASS_LABEL) and r.operator == "In" and len(r.values) == 1
        }
        if len(names) != 1:
            return None
        found |= names
    return found.pop() if len(found) == 1 else None


class PodRequest(BaseModel):
    """One pod template's scheduling needs, times ``count`` identical pods.

    Resources are in integer units: millicores, bytes, whole GPUs / TPU chips.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    namespace: str = "default"
    count: int = Field(default=1, ge=1)
    cpu_m: int = 0
    memory_bytes: int = 0
    gpus: int = 0
    tpus: int = 0
    node_selector: Mapping[str, str] = Field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    #: Pods of one multi-host group (a LeaderWorkerSet replica) land on one TPU slice together.
    group_size: int = 1
    #: ``requiredDuringSchedulingIgnoredDuringExecution`` node affinity (see :data:`NodeAffinity`).
    node_affinity: NodeAffinity = ()

    @property
    def compute_class(self) -> str | None:
        """The class the pod selects: ``ccc.dev/compute-class``, else GKE's key, in the node
        selector or, failing that, in the required node affinity."""
        return (
            self.node_selector.get(CLASS_LABEL)
            or self.node_selector.get(GKE_CLASS_LABEL)
            or affinity_class(self.node_affinity)
        )

    def template_key(self) -> tuple[object, ...]:
        """Identity of the scheduling shape, ignoring name and count (used to group pods).

        A plain tuple, so grouping 100k pods costs a few hundred milliseconds at most.
        """
        return (
            self.cpu_m,
            self.memory_bytes,
            self.gpus,
            self.tpus,
            tuple(sorted(self.node_selector.items())),
            self.tolerations,
            self.group_size,
            self.node_affinity,
        )

    def group_id(self) -> str:
        """A short stable id of :meth:`template_key` for output."""
        return hashlib.sha1(repr(self.template_key()).encode()).hexdigest()[:10]


_SUFFIX: dict[str, int | Decimal] = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": Decimal("0.001"),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]{0,2})$")


def parse_quantity(value: object, *, path: str = "") -> Decimal:
    """Parse a Kubernetes resource quantity (``500m``, ``16Gi``, ``2``) into a Decimal.

    Raises:
        ConfigError: naming ``path`` when the value is not a quantity.
    """
    text = str(value).strip()
    m = _QUANTITY.match(text)
    if not m or m.group(2) not in _SUFFIX:
        raise ConfigError(
            f"{text!r} is not a Kubernetes quantity; write e.g. '500m', '4', '16Gi'", path=path
        )
    try:
        number = Decimal(m.group(1))
    except InvalidOperation as exc:
        raise ConfigError(f"{text!r} is not a number", path=path) from exc
    return number * Decimal(_SUFFIX[m.group(2)])


def _requests(container: Mapping[str, Any], path: str) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    out: dict[str, Decimal] = {}
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    # Extended resources (GPUs, TPUs) may be given as limits only; requests default to limits.
    for source, key in ((limits, "limits"), (requests, "requests")):
        for name, q in source.items():
            out[name] = parse_quantity(q, path=f"{path}.resources.{key}.{name}")
    return out


def pod_request_from_spec(
    pod_spec: Mapping[str, Any],
    *,
    name: str,
    namespace: str = "default",
    count: int = 1,
    path: str = "spec",
    group_size: int = 1,
) -> PodRequest:
    """Build a :class:`PodRequest` from a PodSpec mapping (the effective request rules of the
    scheduler: sum of containers, max with each init container)."""
    total: dict[str, Decimal] = {}
    for i, c in enumerate(pod_spec.get("containers") or []):
        for k, v in _requests(c, f"{path}.containers[{i}]").items():
            total[k] = total.get(k, Decimal(0)) + v
    for i, c in enumerate(pod_spec.get("initContainers") or []):
        for k, v in _requests(c, f"{path}.initContainers[{i}]").items():
            total[k] = max(total.get(k, Decimal(0)), v)
    tolerations = tuple(
        Toleration(
            key=t.get("key"),
            operator=t.get("operator", "Equal"),
            value=t.get("value"),
            effect=t.get("effect"),
        )
        for t in pod_spec.get("tolerations") or []
    )
    selector = {str(k): str(v) for k, v in (pod_spec.get("nodeSelector") or {}).items()}
    return PodRequest(
        name=name,
        namespace=namespace,
        count=count,
        cpu_m=int(total.get("cpu", Decimal(0)) * 1000),
        memory_bytes=int(total.get("memory", Decimal(0))),
        gpus=int(total.get(GPU_RESOURCE, Decimal(0))),
        tpus=int(total.get(TPU_RESOURCE, Decimal(0))),
        node_selector=selector,
        tolerations=tolerations,
        group_size=group_size,
        node_affinity=required_node_affinity(pod_spec),
    )


def required_node_affinity(pod_spec: Mapping[str, Any]) -> NodeAffinity:
    """The ``matchExpressions`` of ``spec.affinity.nodeAffinity.requiredDuringScheduling...``;
    unknown operators are dropped (the API server rejects them anyway)."""
    node_affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms: list[tuple[NodeSelectorRequirement, ...]] = []
    for term in required.get("nodeSelectorTerms") or ():
        reqs = tuple(
            NodeSelectorRequirement(
                key=str(e.get("key", "")),
                operator=e["operator"],
                values=tuple(str(v) for v in e.get("values") or ()),
            )
            for e in (term or {}).get("matchExpressions") or ()
            if e.get("operator") in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
        )
        terms.append(reqs)
    return tuple(terms)


#: The kinds :func:`pod_requests_from_manifest` understands; a workload file may hold others
#: (Services, ConfigMaps…), which make no pods.
WORKLOAD_KINDS = frozenset(
    {"Pod", "Deployment", "StatefulSet", "ReplicaSet", "Job", "CronJob", "LeaderWorkerSet", "List"}
)


def pod_requests_from_manifest(obj: Mapping[str, Any]) -> list[PodRequest]:
    """Pods that a workload manifest would create (without any autoscaling).

    Supports ``Pod``, ``Deployment``, ``StatefulSet``, ``ReplicaSet``, ``Job`` (parallelism),
    ``CronJob`` (one run of its job), ``LeaderWorkerSet`` (replicas × size; leader template
    optional) and ``List`` wrappers (their items of other kinds make no pods).

    Raises:
        ConfigError: for unsupported kinds or malformed specs, naming the field path.
    """
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", "unnamed"))
    ns = str(meta.get("namespace", "default"))
    spec = obj.get("spec") or {}
    if kind == "List":
        return [
            r
            for item in obj.get("items") or []
            if item.get("kind") in WORKLOAD_KINDS
            for r in pod_requests_from_manifest(item)
        ]
    if kind == "Pod":
        return [pod_request_from_spec(spec, name=name, namespace=ns)]
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = int(spec.get("replicas", 1))
        if replicas == 0:
            return []
        tpl = (spec.get("template") or {}).get("spec") or {}
        return [
            pod_request_from_spec(
                tpl, name=name, namespace=ns, count=replicas, path="spec.template.spec"
            )
        ]
    if kind in ("Job", "CronJob"):
        base = "spec"
        if kind == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
            base = "spec.jobTemplate.spec"
        parallelism = int(spec.get("parallelism", 1))
        tpl = (spec.get("template") or {}).get("spec") or {}
        return [
            pod_request_from_spec(
                tpl,
                name=name,
                namespace=ns,
                count=max(parallelism, 1),
                path=f"{base}.template.spec",
            )
        ]
    if kind == "LeaderWorkerSet":
        replicas = int(spec.get("replicas", 1))
        lwt = spec.get("leaderWorkerTemplate") or {}
        size = int(lwt.get("size", 1))
        worker = (lwt.get("workerTemplate") or {}).get("spec") or {}
        leader_tpl = (lwt.get("leaderTemplate") or {}).get("spec")
        base = "spec.leaderWorkerTemplate"
        if leader_tpl is None:
            return [
                pod_request_from_spec(
                    worker,
                    name=name,
                    namespace=ns,
                    count=replicas * size,
                    path=f"{base}.workerTemplate.spec",
                    group_size=size,
                )
            ]
        out = [
            pod_request_from_spec(
                leader_tpl,
                name=f"{name}-leader",
                namespace=ns,
                count=replicas,
                path=f"{base}.leaderTemplate.spec",
                group_size=size,
            )
        ]
        if size > 1:
            out.append(
                pod_request_from_spec(
                    worker,
                    name=f"{name}-worker",
                    namespace=ns,
                    count=replicas * (size - 1),
                    path=f"{base}.workerTemplate.spec",
                    group_size=size,
                )
            )
        return out
    raise ConfigError(
        f"unsupported kind {kind!r}; a workload file holds Pods, Deployments, StatefulSets, "
        "ReplicaSets, Jobs, CronJobs or LeaderWorkerSets",
        path="kind",
    )


def total_pods(requests: Iterable[PodRequest]) -> int:
    return sum(r.count for r in requests)


def group_by_template(requests: Sequence[PodRequest]) -> list[PodRequest]:
    """Merge requests with the same scheduling shape, adding their counts (order kept)."""
    first: dict[tuple[object, ...], PodRequest] = {}
    counts: dict[tuple[object, ...], int] = {}
    for r in requests:
        key = r.template_key()
        if key not in first:
            first[key] = r
            counts[key] = 0
        counts[key] += r.count
    return [
        r if counts[k] == r.count else r.model_copy(update={"count": counts[k]})
        for k, r in first.items()
    ]
