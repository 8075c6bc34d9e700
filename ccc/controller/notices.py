"""Events and latency observations about ComputeClasses and pods (what users see in
``kubectl describe``). Best effort: failures are logged by the recorder, never raised."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog

from ccc.api import labels as L
from ccc.api.cluster import PodInfo
from ccc.api.workload import PodRequest
from ccc.controller.events import EventType, ObjectRef
from ccc.controller.metrics import Metrics
from ccc.controller.sinks import EventSink
from policies.room import PodRef
from providers.clock import Clock

log = structlog.get_logger("ccc.controller")


class Notices:
    def __init__(self, recorder: EventSink | None, metrics: Metrics, clock: Clock) -> None:
        self.recorder = recorder
        self.metrics = metrics
        self.clock = clock
        self._requested: dict[str, datetime] = {}

    async def orphan_events(
        self,
        cls: str,
        pods: Sequence[PodRequest],
        refs: Mapping[str, list[PodRef]],
        now: datetime,
    ) -> None:
        msg = (
            f"ComputeClass {cls!r} does not exist; create it or fix the pod's "
            f"nodeSelector {L.CLASS_LABEL}"
        )
        log.warning("pod.unknown_class", class_name=cls, pods=sum(p.count for p in pods))
        for p in pods:
            await self.pod_events(p.group_id(), refs, "Warning", "ComputeClassNotFound", msg, now)

    def class_ref(self, cls: str, raw: Mapping[str, Any]) -> ObjectRef:
        uid = (raw.get("metadata") or {}).get("uid")
        return ObjectRef(kind="ComputeClass", name=cls, uid=uid, api_version=L.API_VERSION)

    async def event(
        self, ref: ObjectRef, type_: EventType, reason: str, msg: str, now: datetime
    ) -> None:
        if self.recorder is not None:
            await self.recorder.emit(
                ref,
                type_=type_,
                reason=reason,
                message=msg,
                now=now,
            )

    async def pod_events(
        self,
        group: str,
        refs: Mapping[str, list[PodRef]],
        type_: EventType,
        reason: str,
        msg: str,
        now: datetime,
        *,
        observe_requested: str | None = None,
        limit: int = 20,
    ) -> None:
        pods = refs.get(group, [])
        if pods:
            for ref in pods:
                if observe_requested and ref.uid not in self._requested:
                    self._requested[ref.uid] = now
                    if ref.since is not None:
                        self.metrics.pending_to_requested.labels(
                            class_name=observe_requested
                        ).observe(max(0.0, (now - ref.since).total_seconds()))
            # One request per pod, all in flight at once: sequential POSTs cost ~20 round
            # trips of every provisioning pass (distinct pods, so the recorder's keys differ).
            await asyncio.gather(
                *(
                    self.event(
                        ObjectRef(kind="Pod", name=ref.name, namespace=ref.namespace, uid=ref.uid),
                        type_,
                        reason,
                        msg,
                        now,
                    )
                    for ref in pods[:limit]
                )
            )

    def pod_bound(self, pod: PodInfo) -> None:
        """Informer hook for latency: a pod ccc requested capacity for got a node."""
        started = self._requested.pop(pod.uid, None)
        cls = pod.compute_class
        if started is not None and cls and pod.unschedulable_since is None:
            since = pod.creation_timestamp
            if since is not None:
                self.metrics.pending_to_ready.labels(class_name=cls).observe(
                    max(0.0, (self.clock.now() - since).total_seconds())
                )
