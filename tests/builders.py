"""Builders for test inputs, in the style of karpenter's ``test.NodePool()``: defaults that
make a valid object, keyword overrides for what a test is about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, NodePool, NodePoolName, ReservationCapacity, Taint
from ccc.api.workload import PodRequest, Toleration
from policies.obtainability import ObtainabilityMemory
from policies.offering import WalkContext
from policies.plan import Attempt, GroupPlan
from policies.tiers import compile_class
from policies.walk import walk_group

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
H100 = {"type": "nvidia-h100-80gb", "count": 8}


def catalog() -> Catalog:
    return load_builtin_catalog()


def make_rule(
    machine_type: str | None = "a3-highgpu-8g",
    *,
    zones: Sequence[str] | None = ("us-central1-a", "us-central1-b"),
    spot: bool | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A priority rule as YAML would give it (camelCase keys)."""
    rule: dict[str, Any] = {}
    if machine_type is not None:
        rule["machineType"] = machine_type
    if spot is not None:
        rule["spot"] = spot
    if zones is not None:
        rule["location"] = {"zones": list(zones)}
    rule.update(fields)
    return rule


def make_class(
    *rules: Mapping[str, Any],
    name: str = "gpu",
    api_version: str = "ccc.dev/v1alpha1",
    auto_create: bool | None = True,
    **spec: Any,
) -> ComputeClass:
    """A class of ``rules``. ``auto_create`` sets ``nodePoolAutoCreation.enabled`` (``None``
    leaves it unset, GKE's default: disabled); most tests are about creating pools."""
    body: dict[str, Any] = {"priorities": [dict(r) for r in rules]}
    if auto_create is not None:
        body["nodePoolAutoCreation"] = {"enabled": auto_create}
    body.update(spec)
    return ComputeClass.model_validate(
        {
            "apiVersion": api_version,
            "kind": "ComputeClass",
            "metadata": {"name": name},
            "spec": body,
        }
    )


def make_pods(
    count: int = 1,
    *,
    class_name: str = "gpu",
    gpus: int = 8,
    tpus: int = 0,
    cpu_m: int = 8000,
    memory_gib: int = 64,
    selector: Mapping[str, str] | None = None,
    name: str = "vllm",
    tolerate_all: bool = True,
    class_key: str = L.CLASS_LABEL,
    admitted: bool = True,
) -> PodRequest:
    """``count`` identical pods selecting ``class_name``. Without ``tolerate_all`` they carry only
    what ccc's admission webhook adds (the class toleration; none when not ``admitted``)."""
    admitted_tolerations = (
        (Toleration(key=L.CLASS_LABEL, operator="Equal", value=class_name, effect="NoSchedule"),)
        if admitted
        else ()
    )
    sel = {class_key: class_name}
    sel.update(selector or {})
    return PodRequest(
        name=name,
        count=count,
        cpu_m=cpu_m,
        memory_bytes=memory_gib * 2**30,
        gpus=gpus,
        tpus=tpus,
        node_selector=sel,
        tolerations=(Toleration(operator="Exists"),) if tolerate_all else admitted_tolerations,
    )


US_CENTRAL1 = ClusterLocation(
    region="us-central1", zones=("us-central1-a", "us-central1-b", "us-central1-c")
)


def make_node(
    name: str,
    *,
    pool: str = "pool",
    cls: str = "gpu",
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Taint] = (),
    gpus: int = 8,
    ready: bool = True,
    now: datetime = NOW,
    age: timedelta = timedelta(hours=1),
) -> NodeInfo:
    """A Ready node of ``cls`` in ``pool`` (rule 0) as the caches project it: an 8-GPU
    ``a3-highgpu-8g``'s allocatable, the class label and taint, then ``labels`` and ``taints``."""
    return NodeInfo(
        name=name,
        uid=f"uid-{name}",
        labels={
            L.CLASS_LABEL: cls,
            L.NODE_POOL_LABEL: pool,
            L.RULE_INDEX_LABEL: "0",
            **(labels or {}),
        },
        taints=(Taint(key=L.CLASS_LABEL, value=cls), *taints),
        cpu_m=200_000,
        memory_bytes=1800 * 2**30,
        gpus=gpus,
        tpus=0,
        pods=110,
        ready=ready,
        unschedulable=False,
        creation_timestamp=now - age,
        deletion_timestamp=None,
        provider_id=None,
        annotations={},
    )


def make_pod_info(
    name: str,
    *,
    node: str | None = None,
    cls: str = "gpu",
    gpus: int = 8,
    now: datetime = NOW,
    age: timedelta = timedelta(minutes=5),
) -> PodInfo:
    """A ReplicaSet pod of ``cls`` in namespace ``ml`` (8 CPUs, 64 GiB, ``gpus`` GPUs, a
    wildcard toleration): Running on ``node``, or Pending without one."""
    return PodInfo(
        namespace="ml",
        name=name,
        uid=f"uid-{name}",
        phase="Running" if node else "Pending",
        node_name=node,
        node_selector={L.CLASS_LABEL: cls},
        tolerations=(Toleration(operator="Exists"),),
        cpu_m=8000,
        memory_bytes=64 * 2**30,
        gpus=gpus,
        tpus=0,
        unschedulable=False,
        unschedulable_since=None,
        scheduling_gated=False,
        creation_timestamp=now - age,
        deletion_timestamp=None,
        priority=0,
        owner_kind="ReplicaSet",
        owner_name="vllm",
        labels={},
    )


def make_pool(
    name: str,
    machine_type: str = "a3-highgpu-8g",
    zone: str = "us-central1-a",
    *,
    nodes: int = 1,
    capacity_type: CapacityType = CapacityType.ON_DEMAND,
    class_name: str | None = "gpu",
    tainted: bool = True,
    managed: bool = False,
    key: str = L.GKE_CLASS_LABEL,
    labels: Mapping[str, str] | None = None,
) -> NodePool:
    """An existing pool. By default a manual one carrying GKE's class label and taint for
    ``class_name`` (what a platform team adds with ``gcloud container node-pools update``)."""
    all_labels = dict(labels or {})
    taints: list[Taint] = []
    if class_name is not None:
        all_labels[key] = class_name
        if tainted:
            taints.append(Taint(key=key, value=class_name, effect="NoSchedule"))
    if managed:
        all_labels[L.MANAGED_BY_LABEL] = L.MANAGED_BY_VALUE
    return NodePool(
        name=NodePoolName(name),
        machine_type=machine_type,
        zones=(zone,),
        node_count=nodes,
        capacity_type=capacity_type,
        labels=all_labels,
        taints=tuple(taints),
        managed=managed,
        class_name=class_name if managed else None,
    )


def walk(
    cc: ComputeClass,
    pods: PodRequest,
    *,
    cluster: ClusterLocation | None = US_CENTRAL1,
    node_pools: Sequence[NodePool] = (),
    reservations: Sequence[ReservationCapacity] | None = None,
    memory: ObtainabilityMemory | None = None,
    cat: Catalog | None = None,
) -> GroupPlan:
    """Compile ``cc`` in ``cluster`` and walk it for ``pods`` (every fallback listed)."""
    c = cat or catalog()
    compiled = compile_class(cc, c, cluster=cluster, node_pools=node_pools)
    ctx = WalkContext(
        catalog=c,
        now=NOW,
        memory=memory or ObtainabilityMemory(),
        node_pools=node_pools,
        reservations=reservations,
    )
    return walk_group(cc, compiled, pods, ctx)


def viable(plan: GroupPlan) -> list[Attempt]:
    """The non-skip attempts of a group plan, in order."""
    return [a for a in plan.attempts if a.decision != "skip"]
