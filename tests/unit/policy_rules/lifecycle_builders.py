"""Shared builders of the node lifecycle rule tables (test_rules_lifecycle.py,
test_rules_preemption.py): a flex-start class, its nodes and pods, and a leaving node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.values import CapacityType, OfferingKey, Taint
from policies.lifecycle import (
    Leaving,
    leaving_nodes,
)
from policies.nodes import node_facts
from policies.room import pods_by_node
from policies.snapshot import ProviderNotice
from tests.builders import NOW, make_class, make_node, make_pod_info, make_rule

MACHINE = "a3-highgpu-8g"
ZONE = "us-central1-a"
GRACE = timedelta(minutes=5)
SPOT = OfferingKey(machine_type=MACHINE, zone=ZONE, capacity_type=CapacityType.SPOT)
NOTICE_TAINT = Taint(key=L.IMPENDING_TERMINATION_TAINT, value="true", effect="NoSchedule")


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _flex(lead_s: int | None = 600, *, name: str = "gpu", **spec: object) -> ComputeClass:
    flex: dict[str, object] = {"enabled": True}
    if lead_s is not None:
        flex["nodeRecycling"] = {"leadTimeSeconds": lead_s}
    return make_class(make_rule(MACHINE, zones=[ZONE], flexStart=flex), name=name, **spec)


def _node(
    name: str,
    *,
    cls: str = "gpu",
    ends_in_s: float | None = None,
    spot: bool = False,
    progress: str | None = None,
    **changes: object,
) -> NodeInfo:
    labels: dict[str, str] = {L.MACHINE_TYPE_LABEL: MACHINE, L.ZONE_LABEL: ZONE}
    if spot:
        labels[L.CAPACITY_TYPE_LABEL] = CapacityType.SPOT.value
    annotations: dict[str, str] = {}
    if ends_in_s is not None:
        annotations[L.GKE_TERMINATION_ANNOTATION] = _stamp(NOW + timedelta(seconds=ends_in_s))
    if progress is not None:
        annotations[L.DISRUPTION_ANNOTATION] = progress
    annotations.update(changes.pop("annotations", {}))  # type: ignore[arg-type]
    labels.update(changes.pop("labels", {}))  # type: ignore[arg-type]
    node = make_node(name, pool="pool-a", cls=cls, labels=labels)
    return replace(node, annotations=annotations, **changes)  # type: ignore[arg-type]


def _pod(name: str, node: str | None, *, cls: str = "gpu", **changes: object) -> PodInfo:
    return replace(make_pod_info(name, node=node, cls=cls), **changes)  # type: ignore[arg-type]


def _leaving(
    nodes: Sequence[NodeInfo],
    pods: Sequence[PodInfo] = (),
    classes: Sequence[ComputeClass] = (),
    *,
    now: datetime = NOW,
    notices: Sequence[ProviderNotice] = (),
) -> list[Leaving]:
    cs = classes or (_flex(),)
    return leaving_nodes(
        nodes,
        pods_by_node(pods),
        node_facts(nodes, {}, notices),
        {c.metadata.name: c for c in cs},
        now,
        not_ready_grace=GRACE,
    )
