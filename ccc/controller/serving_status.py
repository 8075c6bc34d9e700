"""Writing a ServingGroup's status through its ``/status`` subresource (``ccc run``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ccc.api import labels as L
from ccc.controller.kube import request_json


class KubeGroupStatus:
    """Merge-patches ``servinggroups/status``; skips a write equal to the last one."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self._last: dict[tuple[str, str], Mapping[str, Any]] = {}

    async def write_group_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> bool:
        key = (namespace, name)
        if self._last.get(key) == status:
            return False
        await request_json(
            self._api,
            "PATCH",
            f"/apis/{L.GROUP}/{L.VERSION}/namespaces/{namespace}/servinggroups/{name}/status",
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
        )
        self._last[key] = status
        return True


def hpa_owners(hpas: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """``(namespace, kind, name)`` of every workload an HPA scales -> the HPAs' names."""
    out: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for h in hpas:
        meta = h.get("metadata") or {}
        ref = (h.get("spec") or {}).get("scaleTargetRef") or {}
        key = (str(meta.get("namespace") or ""), str(ref.get("kind") or ""), str(ref.get("name")))
        out[key] = (*out.get(key, ()), f"HorizontalPodAutoscaler {meta.get('name')}")
    return out
