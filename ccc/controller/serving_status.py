"""Writing a ServingGroup's status through its ``/status`` subresource (``ccc run``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ccc.controller.status import StatusPatcher


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
