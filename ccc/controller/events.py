"""Kubernetes Events with de-duplication (repeats bump ``count`` instead of piling up).

Events are best effort: a failure to record one is logged and never fails a reconcile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog

from ccc.api.apicall import ApiCall
from ccc.controller.kube import KubeApiError, request_json

log = structlog.get_logger("ccc.events")

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    ApiCall("", "events", "create", "Events on pods, nodes, classes and ServingGroups"),
    ApiCall("", "events", "patch", "a repeated Event bumps its count"),
)

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None
    api_version: str = "v1"


class EventRecorder:
    """Writes core/v1 Events about ComputeClasses, pods and nodes."""

    def __init__(self, api: Any, *, namespace: str = "default", component: str = "ccc") -> None:
        self._api = api
        self._namespace = namespace
        self._component = component
        self._seen: dict[str, tuple[str, str, int]] = {}  # key -> (namespace, name, count)

    async def emit(
        self, ref: ObjectRef, *, type_: EventType, reason: str, message: str, now: datetime
    ) -> None:
        ns = ref.namespace or self._namespace
        key = f"{ref.kind}/{ns}/{ref.name}/{reason}/{message}"
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        seen = self._seen.get(key)
        try:
            if seen is not None:
                ens, ename, count = seen
                await self._patch(ens, ename, {"count": count + 1, "lastTimestamp": stamp})
                self._seen[key] = (ens, ename, count + 1)
                return
            digest = hashlib.sha1(key.encode()).hexdigest()[:10]
            name = f"{ref.name[:200]}.{digest}"
            body: Any = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {
                    "kind": ref.kind,
                    "name": ref.name,
                    "namespace": ref.namespace,
                    "uid": ref.uid,
                    "apiVersion": ref.api_version,
                },
                "reason": reason,
                "message": message[:1024],
                "type": type_,
                "source": {"component": self._component},
                "reportingComponent": self._component,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            }
            try:
                await request_json(self._api, "POST", f"/api/v1/namespaces/{ns}/events", body=body)
            except KubeApiError as exc:
                if exc.status != 409:
                    raise
                await self._patch(ns, name, {"lastTimestamp": stamp})
            self._seen[key] = (ns, name, 1)
            if len(self._seen) > 10_000:
                self._seen.pop(next(iter(self._seen)))
        except Exception as exc:  # events are best effort by contract
            log.warning("event.write_failed", reason=reason, object=ref.name, error=str(exc))

    async def _patch(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        await request_json(
            self._api,
            "PATCH",
            f"/api/v1/namespaces/{namespace}/events/{name}",
            body=body,
            content_type="application/merge-patch+json",
        )
