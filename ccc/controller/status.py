"""ComputeClass status: conditions, per-rule state and the obtainability memory.

The obtainability memory lives in ``status.unavailableOfferings`` so it survives controller
restarts and users can read it (``kubectl get cc NAME -o yaml``). The controller reads it back
at start-up (:func:`memory_from_status`) and writes the whole status with a merge patch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from ccc.api import labels as L
from ccc.api.values import CapacityType, OfferingKey
from ccc.controller.kube import request_json
from policies.obtainability import BackoffPolicy, ObtainabilityMemory, Unavailability
from policies.tiers import CompiledClass

log = structlog.get_logger("ccc.status")


def _ts(d: datetime) -> str:
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def memory_from_status(
    status: Mapping[str, Any] | None, policy: BackoffPolicy
) -> ObtainabilityMemory:
    """Rebuild the memory from ``status.unavailableOfferings`` (bad entries are dropped)."""
    entries: list[Unavailability] = []
    for raw in (status or {}).get("unavailableOfferings") or []:
        try:
            key = OfferingKey(
                machine_type=raw["machineType"],
                zone=raw["zone"],
                capacity_type=CapacityType(raw["capacityType"]),
            )
            entries.append(
                Unavailability(
                    key,
                    str(raw.get("reason", "")),
                    str(raw.get("message", "")),
                    int(raw.get("failures", 1)),
                    _parse_ts(raw["since"]),
                    _parse_ts(raw["until"]),
                )
            )
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("status.bad_unavailable_offering", entry=str(raw)[:200], error=str(exc))
    return ObtainabilityMemory.of(entries, policy)


def memory_to_status(memory: ObtainabilityMemory) -> list[dict[str, Any]]:
    return [
        {
            "machineType": e.key.machine_type,
            "zone": e.key.zone,
            "capacityType": e.key.capacity_type.value,
            "reason": e.reason,
            "message": e.message[:512],
            "failures": e.failures,
            "since": _ts(e.since),
            "until": _ts(e.until),
        }
        for e in sorted(memory, key=lambda e: (e.until, str(e.key)))
    ]


def condition(
    type_: str,
    status: bool,
    reason: str,
    message: str,
    *,
    now: datetime,
    generation: int | None,
    previous: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A metav1.Condition; ``lastTransitionTime`` is kept when the status did not change."""
    value = "True" if status else "False"
    last = _ts(now)
    for p in previous:
        if p.get("type") == type_ and p.get("status") == value and p.get("lastTransitionTime"):
            last = str(p["lastTransitionTime"])
    out: dict[str, Any] = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": last,
    }
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def priority_statuses(
    compiled: CompiledClass | None,
    memory: ObtainabilityMemory,
    now: datetime,
    previous: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Per-rule conditions: ``ProvisioningSuspended`` when every offering of the rule is
    backed off, ``ProvisioningConstrained`` when some are (GKE's condition names)."""
    if compiled is None:
        return []
    prev_by_id = {str(p.get("identifier")): p.get("conditions") or [] for p in previous}
    out: list[dict[str, Any]] = []
    for tier in compiled.tiers:
        if not tier.machines or not tier.zones:
            continue
        offerings = [
            (m.name, z, ct)
            for m in tier.machines[:1]
            for z in tier.zones
            for ct in tier.capacity_types
        ]
        blocked = [o for o in offerings if memory.lookup(o[0], o[1], o[2], now) is not None]
        ident = str(tier.rule_index)
        prev = prev_by_id.get(ident, [])
        conds = []
        if blocked and len(blocked) == len(offerings):
            until = max(e.until for o in blocked if (e := memory.lookup(o[0], o[1], o[2], now)))
            conds.append(
                condition(
                    "ProvisioningSuspended",
                    True,
                    "AllOfferingsUnavailable",
                    f"every zone of this rule is backed off until {_ts(until)}",
                    now=now,
                    generation=None,
                    previous=prev,
                )
            )
        elif blocked:
            where = ", ".join(f"{z} {ct.value}" for _, z, ct in blocked)
            conds.append(
                condition(
                    "ProvisioningConstrained",
                    True,
                    "SomeOfferingsUnavailable",
                    f"backed off: {where}",
                    now=now,
                    generation=None,
                    previous=prev,
                )
            )
        out.append({"identifier": ident, "conditions": conds})
    return out


class StatusWriter:
    """Merge-patches the status subresource of ComputeClasses; skips unchanged writes."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self._last: dict[str, Any] = {}

    async def write(self, name: str, status: Mapping[str, Any]) -> bool:
        """Write ``status`` unless it equals the last one written; returns True if written."""
        if self._last.get(name) == status:
            return False
        await request_json(
            self._api,
            "PATCH",
            f"/apis/{L.GROUP}/{L.VERSION}/computeclasses/{name}/status",
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
        )
        self._last[name] = status
        return True

    def forget(self, name: str) -> None:
        self._last.pop(name, None)
