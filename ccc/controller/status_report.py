"""Compose the ``status`` of a ComputeClass from what the controller knows about it.

Conditions:

* ``Ready``: False with reason ``InvalidSpec`` (every problem with its field path) when the
  class does not validate, ``NoUsableRule`` when no rule resolves against the catalog; True
  otherwise.
* ``RulesMisconfigured``: True when some rules (or zones of rules) cannot be used; the message
  names each field path and the fix.
* ``OfferingsUnavailable``: True while the obtainability memory skips some offerings.
* ``FlexStartNodesEnd``: present (True) when flex-start rules have no ``nodeRecycling``: their
  nodes end without a replacement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ccc.api.computeclass import ComputeClass
from ccc.api.manifest import Problem
from ccc.controller.status import condition, memory_to_status, priority_statuses
from policies.obtainability import ObtainabilityMemory
from policies.tiers import CompiledClass


def class_status(
    raw: Mapping[str, Any],
    model: ComputeClass | None,
    problems: Sequence[Problem],
    compiled: CompiledClass | None,
    memory: ObtainabilityMemory,
    now: datetime,
) -> dict[str, Any]:
    meta = raw.get("metadata") or {}
    generation = meta.get("generation")
    prev_status = raw.get("status") or {}
    previous = prev_status.get("conditions") or []
    conds: list[dict[str, Any]] = []

    def add(type_: str, ok: bool, reason: str, message: str) -> None:
        conds.append(
            condition(type_, ok, reason, message, now=now, generation=generation, previous=previous)
        )

    if model is None:
        text = "; ".join(str(p) for p in problems) or "the class does not validate"
        add(
            "Ready",
            False,
            "InvalidSpec",
            f"{text}. Fix the spec; `ccc validate` shows the same problems locally",
        )
    elif compiled is not None and not compiled.tiers:
        text = "; ".join(f"{p.path}: {p.message}" for p in compiled.problems)
        add("Ready", False, "NoUsableRule", text or "no rule can be used")
    else:
        add("Ready", True, "Ready", "the class is valid and at least one rule can be used")
    if compiled is not None and compiled.problems and compiled.tiers:
        add(
            "RulesMisconfigured",
            True,
            "RuleProblems",
            "; ".join(f"{p.path}: {p.message}" for p in compiled.problems),
        )
    ending = [
        i
        for i, r in enumerate(model.spec.priorities if model is not None else ())
        if r.is_flex_start and (r.flex_start is None or r.flex_start.node_recycling is None)
    ]
    if ending:
        paths = ", ".join(f"spec.priorities[{i}].flexStart" for i in ending)
        add(
            "FlexStartNodesEnd",
            True,
            "NoNodeRecycling",
            f"{paths}: no nodeRecycling, so these nodes simply end at their maximum run duration "
            "(7 days by default) and their pods go Pending; set "
            "nodeRecycling.leadTimeSeconds to have ccc replace them before",
        )
    active = memory.active(now)
    if active:
        head = ", ".join(
            f"{e.key.machine_type} {e.key.capacity_type.value} in {e.key.zone} ({e.reason})"
            for e in active[:5]
        )
        more = f" and {len(active) - 5} more" if len(active) > 5 else ""
        add("OfferingsUnavailable", True, "BackedOff", f"skipping {head}{more}")
    else:
        add("OfferingsUnavailable", False, "AllAvailable", "no offering is backed off")
    return {
        "conditions": conds,
        "priorityStatuses": priority_statuses(
            compiled, memory, now, prev_status.get("priorityStatuses") or []
        ),
        "unavailableOfferings": memory_to_status(memory),
    }
