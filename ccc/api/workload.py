"""Pending-pod demand as plain values, and its extraction from Kubernetes manifests.

Both ``ccc plan`` (workload files: Pods, Deployments, StatefulSets, Jobs, CronJobs,
LeaderWorkerSets, ...; see :data:`POD_KINDS`) and the
controller (pods from its informer cache) turn pods into :class:`PodRequest` values here, so the
policies see one shape of input. Parsing is pure: dict in, value out; a field of the wrong
type is a :class:`ConfigError` naming its path (``spec.template.spec.containers[0]...``).
"""

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
#: holds (terms are ORed, requirements ANDed). An empty term matches no node. ``matchFields``
#: (only ``metadata.name`` exists) become requirements on the key :data:`NODE_NAME_FIELD`, which
#: no label carries: a pod pinned to named nodes never fits a node ccc would create.
NodeAffinity = tuple[tuple[NodeSelectorRequirement, ...], ...]
NODE_NAME_FIELD = "metadata.name"


def affinity_matches(affinity: NodeAffinity, labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy the required node affinity (no terms: always; an empty
    term: never, as in Kubernetes)."""
    return not affinity or any(term and all(r.matches(labels) for r in term) for term in affinity)


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


_MAX_QUANTITY = Decimal(2**63)


def parse_quantity(value: object, *, path: str = "") -> Decimal:
    """Parse a Kubernetes resource quantity (``500m``, ``16Gi``, ``2``) into a Decimal.

    Raises:
        ConfigError: naming ``path`` when the value is not a quantity (or is negative or beyond
            what Kubernetes can represent).
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(
            f"must be a quantity such as '500m', '4' or '16Gi' (got {_a_type(value)})", path=path
        )
    text = str(value).strip()
    m = _QUANTITY.match(text)
    if not m or m.group(2) not in _SUFFIX:
        raise ConfigError(
            f"{text[:40]!r} is not a Kubernetes quantity; write e.g. '500m', '4', '16Gi'",
            path=path,
        )
    try:
        number = Decimal(m.group(1))
    except InvalidOperation as exc:
        raise ConfigError(f"{text[:40]!r} is not a number", path=path) from exc
    if number < 0:
        raise ConfigError(f"{text[:40]!r} is negative; requests are at least 0", path=path)
    if number.adjusted() > 30 or number * Decimal(_SUFFIX[m.group(2)]) > _MAX_QUANTITY:
        raise ConfigError(f"{text[:40]!r} is larger than Kubernetes allows", path=path)
    return number * Decimal(_SUFFIX[m.group(2)])


def _a_type(value: object) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return "null" if value is None else f"a {type(value).__name__}"


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    """``value`` as a mapping (``None``: empty), else a :class:`ConfigError` at ``path``."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise ConfigError(f"must be an object (a mapping of fields), got {_a_type(value)}", path=path)


def _items(value: object, path: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise ConfigError(f"must be a list, got {_a_type(value)}", path=path)


def _count(value: object, path: str, default: int, *, minimum: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise ConfigError(
        f"must be a whole number of at least {minimum} (got {_a_type(value)}; write e.g. 3,"
        " without quotes)",
        path=path,
    )


def _optional_str(value: object, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f'must be a string (got {_a_type(value)}; quote it: "...")', path=path)


def _requests(container: object, path: str) -> dict[str, Decimal]:
    resources = _mapping(_mapping(container, path).get("resources"), f"{path}.resources")
    out: dict[str, Decimal] = {}
    # Extended resources (GPUs, TPUs) may be given as limits only; requests default to limits.
    for key in ("limits", "requests"):
        for name, q in _mapping(resources.get(key), f"{path}.resources.{key}").items():
            out[name] = parse_quantity(q, path=f"{path}.resources.{key}.{name}")
    return out


def _toleration(raw: object, path: str) -> Toleration:
    t = _mapping(raw, path)
    return Toleration(
        key=_optional_str(t.get("key"), f"{path}.key"),
        operator=_optional_str(t.get("operator"), f"{path}.operator") or "Equal",
        value=_optional_str(t.get("value"), f"{path}.value"),
        effect=_optional_str(t.get("effect"), f"{path}.effect"),
    )


def _node_selector(raw: object, path: str) -> dict[str, str]:
    selector = _mapping(raw, path)
    for key, value in selector.items():
        if not isinstance(value, str):
            raise ConfigError(
                f'must be a string (got {_a_type(value)}; quote it: "...")', path=f"{path}.{key}"
            )
    return dict(selector)


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
    scheduler: sum of containers, max with each init container).

    Raises:
        ConfigError: a field has the wrong type or a quantity does not parse, naming its path.
    """
    pod_spec = _mapping(pod_spec, path)
    total: dict[str, Decimal] = {}
    for i, c in enumerate(_items(pod_spec.get("containers"), f"{path}.containers")):
        for k, v in _requests(c, f"{path}.containers[{i}]").items():
            total[k] = total.get(k, Decimal(0)) + v
    for i, c in enumerate(_items(pod_spec.get("initContainers"), f"{path}.initContainers")):
        for k, v in _requests(c, f"{path}.initContainers[{i}]").items():
            total[k] = max(total.get(k, Decimal(0)), v)
    tolerations = tuple(
        _toleration(t, f"{path}.tolerations[{i}]")
        for i, t in enumerate(_items(pod_spec.get("tolerations"), f"{path}.tolerations"))
    )
    return PodRequest(
        name=name,
        namespace=namespace,
        count=count,
        cpu_m=int(total.get("cpu", Decimal(0)) * 1000),
        memory_bytes=int(total.get("memory", Decimal(0))),
        gpus=int(total.get(GPU_RESOURCE, Decimal(0))),
        tpus=int(total.get(TPU_RESOURCE, Decimal(0))),
        node_selector=_node_selector(pod_spec.get("nodeSelector"), f"{path}.nodeSelector"),
        tolerations=tolerations,
        group_size=group_size,
        node_affinity=required_node_affinity(pod_spec),
    )


def required_node_affinity(pod_spec: Mapping[str, Any]) -> NodeAffinity:
    """The ``matchExpressions`` and ``matchFields`` of
    ``spec.affinity.nodeAffinity.requiredDuringScheduling...`` (fields on the key
    :data:`NODE_NAME_FIELD`); unknown operators are dropped (the API server rejects them)."""
    node_affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms: list[tuple[NodeSelectorRequirement, ...]] = []
    for term in required.get("nodeSelectorTerms") or ():
        term = term or {}
        fields = [
            {**f, "key": NODE_NAME_FIELD}
            for f in term.get("matchFields") or ()
            if isinstance(f, Mapping)
        ]
        reqs = tuple(
            NodeSelectorRequirement(
                key=str(e.get("key", "")),
                operator=e["operator"],
                values=tuple(str(v) for v in e.get("values") or ()),
            )
            for e in [*(term.get("matchExpressions") or ()), *fields]
            if isinstance(e, Mapping)
            and e.get("operator") in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
        )
        terms.append(reqs)
    return tuple(terms)


POD_KINDS = frozenset(
    {
        "Pod",
        "Deployment",
        "StatefulSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "CronJob",
        "LeaderWorkerSet",
    }
)
"""Kinds whose pods ``ccc plan --workload`` plans. Other kinds in a workload file (Services,
ConfigMaps, DaemonSets, whose pods never trigger a scale-up, ...) are skipped and counted."""


def pod_requests_from_manifest(obj: Mapping[str, Any]) -> list[PodRequest]:
    """Pods that a workload manifest would create at once (without any autoscaling).

    ``Pod``; ``Deployment``, ``StatefulSet``, ``ReplicaSet``, ``ReplicationController``
    (``replicas``, default 1); ``Job`` (``parallelism``, at most ``completions``; none when
    suspended); ``CronJob`` (the pods of one run of ``jobTemplate``); ``LeaderWorkerSet``
    (``replicas`` groups of ``size`` pods: one leader from ``leaderTemplate``, when given, and
    workers from ``workerTemplate``); ``List`` wrappers.

    Raises:
        ConfigError: for other kinds, or fields of the wrong type, naming the field path.
    """
    obj = _mapping(obj, "")
    kind = obj.get("kind")
    meta = _mapping(obj.get("metadata"), "metadata")
    name = _optional_str(meta.get("name"), "metadata.name") or "unnamed"
    ns = _optional_str(meta.get("namespace"), "metadata.namespace") or "default"
    spec = _mapping(obj.get("spec"), "spec")
    if kind == "List":
        return [
            r
            for item in _items(obj.get("items"), "items")
            for r in pod_requests_from_manifest(item)
        ]
    if kind == "Pod":
        return [pod_request_from_spec(spec, name=name, namespace=ns)]
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"):
        replicas = _count(spec.get("replicas"), "spec.replicas", 1)
        if replicas == 0:
            return []
        return [_template(spec, "spec.template", name=name, namespace=ns, count=replicas)]
    if kind == "Job":
        return _job(spec, "spec", name=name, namespace=ns)
    if kind == "CronJob":
        job_template = _mapping(spec.get("jobTemplate"), "spec.jobTemplate")
        job_spec = _mapping(job_template.get("spec"), "spec.jobTemplate.spec")
        return _job(job_spec, "spec.jobTemplate.spec", name=name, namespace=ns)
    if kind == "LeaderWorkerSet":
        return _leader_worker_set(spec, name=name, namespace=ns)
    raise ConfigError(
        f"unsupported kind {kind!r}; a workload file holds {', '.join(sorted(POD_KINDS))}",
        path="kind",
    )


def _template(
    owner: Mapping[str, Any],
    path: str,
    *,
    name: str,
    namespace: str,
    count: int,
    group_size: int = 1,
    key: str = "template",
) -> PodRequest:
    template = _mapping(owner.get(key), path)
    return pod_request_from_spec(
        _mapping(template.get("spec"), f"{path}.spec"),
        name=name,
        namespace=namespace,
        count=count,
        path=f"{path}.spec",
        group_size=group_size,
    )


def _job(spec: Mapping[str, Any], path: str, *, name: str, namespace: str) -> list[PodRequest]:
    if spec.get("suspend") is True:
        return []
    pods = _count(spec.get("parallelism"), f"{path}.parallelism", 1)
    completions = spec.get("completions")
    if completions is not None:
        pods = min(pods, _count(completions, f"{path}.completions", 1))
    if pods == 0:
        return []
    return [_template(spec, f"{path}.template", name=name, namespace=namespace, count=pods)]


def _leader_worker_set(spec: Mapping[str, Any], *, name: str, namespace: str) -> list[PodRequest]:
    replicas = _count(spec.get("replicas"), "spec.replicas", 1)
    base = "spec.leaderWorkerTemplate"
    lwt = _mapping(spec.get("leaderWorkerTemplate"), base)
    size = _count(lwt.get("size"), f"{base}.size", 1, minimum=1)
    if replicas == 0:
        return []

    def template(key: str, pod_name: str, count: int) -> PodRequest:
        return _template(
            lwt,
            f"{base}.{key}",
            name=pod_name,
            namespace=namespace,
            count=count,
            group_size=size,
            key=key,
        )

    if lwt.get("leaderTemplate") is None:
        return [template("workerTemplate", name, replicas * size)]
    out = [template("leaderTemplate", f"{name}-leader", replicas)]
    if size > 1:
        out.append(template("workerTemplate", f"{name}-worker", replicas * (size - 1)))
    return out


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
