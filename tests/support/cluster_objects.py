"""Builders of the controller's pod and node projections (:class:`PodInfo`, :class:`NodeInfo`):
a valid Running pod or Ready node of class ``gpu`` by default, keyword overrides for what a test
is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.values import Taint
from ccc.api.workload import Toleration
from tests.builders import NOW


def pod_info(
    name: str, *, node: str | None = None, cls: str | None = "gpu", **changes: Any
) -> PodInfo:
    """A one-GPU pod of a ReplicaSet; Running on ``node``, else Pending."""
    pod = PodInfo(
        namespace="ml",
        name=name,
        uid=f"uid-{name}",
        phase="Running" if node else "Pending",
        node_name=node,
        node_selector={L.CLASS_LABEL: cls} if cls else {},
        tolerations=(Toleration(operator="Exists"),),
        cpu_m=1000,
        memory_bytes=2**30,
        gpus=1,
        tpus=0,
        unschedulable=False,
        unschedulable_since=None,
        scheduling_gated=False,
        creation_timestamp=NOW - timedelta(minutes=5),
        deletion_timestamp=None,
        priority=0,
        owner_kind="ReplicaSet",
        owner_name="vllm",
        labels={},
    )
    return replace(pod, **changes)


def node_info(name: str, *, pool: str = "pool-a", cls: str = "gpu", **changes: Any) -> NodeInfo:
    """A Ready 8-GPU node of ``pool``, created an hour before ``NOW``."""
    node = NodeInfo(
        name=name,
        uid=f"uid-{name}",
        labels={L.CLASS_LABEL: cls, L.NODE_POOL_LABEL: pool},
        taints=(Taint(key=L.CLASS_LABEL, value=cls),),
        cpu_m=200_000,
        memory_bytes=1800 * 2**30,
        gpus=8,
        tpus=0,
        pods=110,
        ready=True,
        unschedulable=False,
        creation_timestamp=NOW - timedelta(hours=1),
        deletion_timestamp=None,
        provider_id=None,
        annotations={},
    )
    return replace(node, **changes)
