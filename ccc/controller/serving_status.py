"""A ServingGroup's status: rendered from a pass's decision (:func:`group_status`) and written
through its ``/status`` subresource (``ccc run``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ccc.api import labels as L
from ccc.api.apicall import ApiCall
from ccc.api.servinggroup import CAPACITY_MET, CONFLICTING, DEGRADED, ServingGroup, pod_selector
from ccc.controller.status import StatusPatcher, condition
from policies.serving_control import GroupDecision, TargetView

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (ApiCall(L.GROUP, "servinggroups/status", "patch", "a ServingGroup's status"),)


class KubeGroupStatus:
    """Merge-patches ``servinggroups/status``; skips a write equal to the last one."""

    def __init__(self, api: Any) -> None:
        self._patcher = StatusPatcher(api, "servinggroups")

    async def write_group_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> bool:
        return await self._patcher.patch(namespace, name, status)


def hpa_owners(hpas: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """``(namespace, kind, name)`` of every workload an HPA scales -> the HPAs' names."""
    out: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for h in hpas:
        meta = h.get("metadata") or {}
        ref = (h.get("spec") or {}).get("scaleTargetRef") or {}
        key = (str(meta.get("namespace") or ""), str(ref.get("kind") or ""), str(ref.get("name")))
        out[key] = (*out.get(key, ()), f"HorizontalPodAutoscaler {meta.get('name')}")
    return out


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def group_status(
    group: ServingGroup,
    d: GroupDecision,
    views: Mapping[str, TargetView],
    drift: Sequence[str],
    now: datetime,
) -> dict[str, Any]:
    """The whole ``status`` of a group after a pass (camelCase wire form)."""
    s = d.split
    prev = [
        c.model_dump(by_alias=True, mode="json")
        for c in (group.status and group.status.conditions) or []
    ]
    gen = group.metadata.generation
    unit = f" {group.spec.capacity_unit}" if group.spec.capacity_unit else ""
    met = condition(
        CAPACITY_MET,
        s.capacity_met,
        "ReadyCapacityMeetsTarget" if s.capacity_met else "ReadyCapacityBelowTarget",
        f"Ready capacity {s.ready_capacity:g} of {group.spec.capacity}{unit}",
        now=now,
        generation=gen,
        previous=prev,
    )
    degraded_msgs = [f"variant {n}: {e}" for n, e in d.missing.items()]
    if s.degraded:
        degraded_msgs.append(s.degraded_reason)
    degraded = condition(
        DEGRADED,
        bool(degraded_msgs),
        ("TargetMissing" if d.missing else "VariantsCannotCover") if degraded_msgs else "AsPlanned",
        "; ".join(degraded_msgs) or "the variants can provide the capacity",
        now=now,
        generation=gen,
        previous=prev,
    )
    conflict_msgs = [
        f"variant {n}: {', '.join(o)} also scales its workload; ccc leaves it to them"
        for n, o in d.conflicts.items()
    ] + list(drift)
    conflicting = condition(
        CONFLICTING,
        bool(conflict_msgs),
        "AnotherOwnerScales" if conflict_msgs else "SoleOwner",
        "; ".join(conflict_msgs) or "ccc is the only writer of the variants' replicas",
        now=now,
        generation=gen,
        previous=prev,
    )
    max_lws = max((v.lws_size for v in views.values()), default=1)
    return {
        "observedGeneration": gen,
        "capacity": math.floor(s.ready_capacity + 1e-9),
        "readyCapacity": s.ready_capacity,
        "desiredCapacity": s.desired_capacity,
        "selector": pod_selector(group.name, max_lws_size=max_lws),
        "variants": [
            {
                "name": t.name,
                "desiredReplicas": t.replicas,
                "readyReplicas": d.observations[t.name].ready,
                "disruptedReplicas": t.memory.disrupted,
                "replacingReplicas": t.memory.replacing,
                "readyCapacity": t.ready_capacity,
                "state": t.state.value,
                "reason": t.reason[:1024],
                "unobtainableSince": _iso(t.memory.unobtainable_since),
                "obtainableSince": _iso(t.memory.obtainable_since),
            }
            for t in s.variants
        ],
        "conditions": [met, degraded, conflicting],
    }
