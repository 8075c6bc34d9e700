"""ComputeClass status: conditions, per-rule state, and the controller state that must survive
a restart.

Per class, ``status.unavailableOfferings`` holds the obtainability memory,
``status.provisioningRequests`` the node pool requests in flight and ``status.capacityChecks``
the open ``capacityCheckWaitTimeSeconds`` windows, so a new leader picks up where the last one
stopped and users can read them (``kubectl get cc NAME -o yaml``). The controller reads them back
when it starts leading (:func:`restore_state`) and writes the whole status with a merge patch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from ccc.api import labels as L
from ccc.api.apicall import ApiCall
from ccc.api.values import CapacityType, OfferingKey
from ccc.controller.kube import request_json
from policies.commands import CapacityCheck, Cause
from policies.obtainability import BackoffPolicy, ObtainabilityMemory, Unavailability
from policies.state import ControllerState, Request
from policies.tiers import CompiledClass

log = structlog.get_logger("ccc.status")

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    ApiCall(
        L.GROUP, "computeclasses/status", "patch", "conditions, unavailableOfferings, requests"
    ),
)


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
            key = _offering(raw)
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


def _offering(raw: Mapping[str, Any]) -> OfferingKey:
    return OfferingKey(
        machine_type=raw["machineType"],
        zone=raw["zone"],
        capacity_type=CapacityType(raw["capacityType"]),
    )


def requests_from_status(class_name: str, status: Mapping[str, Any] | None) -> list[Request]:
    """Rebuild the class's in-flight requests from ``status.provisioningRequests``."""
    out: list[Request] = []
    for raw in (status or {}).get("provisioningRequests") or []:
        try:
            accepted = raw.get("acceptedAt")
            out.append(
                Request(
                    pool=str(raw["nodePool"]),
                    class_name=class_name,
                    offering=_offering(raw),
                    rule=int(raw.get("rule", -1)),
                    nodes=int(raw.get("nodes", 0)),
                    target_nodes=int(raw.get("targetNodes", 0)),
                    started_at=_parse_ts(raw["startedAt"]),
                    cause=Cause(raw.get("cause", Cause.PENDING.value)),
                    accepted_at=_parse_ts(accepted) if accepted else None,
                )
            )
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("status.bad_provisioning_request", entry=str(raw)[:200], error=str(exc))
    return out


def requests_to_status(requests: Sequence[Request]) -> list[dict[str, Any]]:
    out = []
    for r in sorted(requests, key=lambda r: (r.started_at, r.pool)):
        entry: dict[str, Any] = {
            "nodePool": r.pool,
            "machineType": r.offering.machine_type,
            "zone": r.offering.zone,
            "capacityType": r.offering.capacity_type.value,
            "rule": r.rule,
            "nodes": r.nodes,
            "targetNodes": r.target_nodes,
            "cause": r.cause.value,
            "startedAt": _ts(r.started_at),
        }
        if r.accepted_at is not None:
            entry["acceptedAt"] = _ts(r.accepted_at)
        out.append(entry)
    return out


def checks_from_status(
    class_name: str, status: Mapping[str, Any] | None
) -> dict[str, CapacityCheck]:
    out: dict[str, CapacityCheck] = {}
    for raw in (status or {}).get("capacityChecks") or []:
        try:
            out[str(raw["nodePool"])] = CapacityCheck(
                since=_parse_ts(raw["since"]),
                ends_at=_parse_ts(raw["endsAt"]),
                class_name=class_name,
            )
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("status.bad_capacity_check", entry=str(raw)[:200], error=str(exc))
    return out


def checks_to_status(checks: Mapping[str, CapacityCheck]) -> list[dict[str, Any]]:
    return [
        {"nodePool": pool, "since": _ts(c.since), "endsAt": _ts(c.ends_at)}
        for pool, c in sorted(checks.items())
    ]


def restore_state(classes: Sequence[Mapping[str, Any]], policy: BackoffPolicy) -> ControllerState:
    """The controller state a new leader starts from: every class's persisted memory,
    requests and capacity checks."""
    memory: dict[str, list[Unavailability]] = {}
    requests: list[Request] = []
    checks: dict[str, CapacityCheck] = {}
    for raw in classes:
        name = str((raw.get("metadata") or {}).get("name", ""))
        if not name:
            continue
        status = raw.get("status")
        memory[name] = list(memory_from_status(status, policy))
        requests.extend(requests_from_status(name, status))
        checks.update(checks_from_status(name, status))
    return ControllerState.restored(
        memory=memory, requests=requests, capacity_checks=checks, backoff=policy
    )


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


class StatusPatcher:
    """Merge-patches the ``/status`` subresource of one kind of ccc object
    (``computeclasses``, ``servinggroups``); skips a write equal to the last one written for
    that object."""

    def __init__(self, api: Any, plural: str) -> None:
        self._api = api
        self._plural = plural
        self._last: dict[tuple[str, str], Mapping[str, Any]] = {}

    async def patch(self, namespace: str, name: str, status: Mapping[str, Any]) -> bool:
        """Write ``status`` (``namespace`` ``""``: a cluster-scoped object) unless it equals the
        last one written; returns True if written."""
        key = (namespace, name)
        if self._last.get(key) == status:
            return False
        scope = f"namespaces/{namespace}/" if namespace else ""
        await request_json(
            self._api,
            "PATCH",
            f"/apis/{L.GROUP}/{L.VERSION}/{scope}{self._plural}/{name}/status",
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
        )
        self._last[key] = status
        return True

    def forget(self, namespace: str, name: str) -> None:
        self._last.pop((namespace, name), None)


class StatusWriter:
    """Merge-patches the status subresource of ComputeClasses; skips unchanged writes."""

    def __init__(self, api: Any) -> None:
        self._patcher = StatusPatcher(api, "computeclasses")

    async def write(self, name: str, status: Mapping[str, Any]) -> bool:
        """Write ``status`` unless it equals the last one written; returns True if written."""
        return await self._patcher.patch("", name, status)

    def forget(self, name: str) -> None:
        self._patcher.forget("", name)
