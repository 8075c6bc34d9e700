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
* ``RulesOutsideCluster``: True when rules (or zones of rules) lie outside the cluster's region
  and are skipped.
* ``FieldsNotActedOn``: True when the class sets fields ccc accepts but does not act on; the
  message names each field and why (:mod:`policies.unacted`).
* ``NodePoolCreationDisabled``: True when ``nodePoolAutoCreation`` is off, so ccc only scales
  existing pools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ccc.api.computeclass import ComputeClass
from ccc.api.manifest import Problem
from ccc.controller.status import condition, memory_to_status, priority_statuses
from policies.obtainability import ObtainabilityMemory
from policies.tiers import CompiledClass
from policies.unacted import unacted_fields
from policies.warnings import auto_creation_warning, outside_cluster


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
    if model is not None and compiled is not None:
        _warning_conditions(add, model, compiled)
    return {
        "conditions": conds,
        "priorityStatuses": priority_statuses(
            compiled, memory, now, prev_status.get("priorityStatuses") or []
        ),
        "unavailableOfferings": memory_to_status(memory),
    }


def _warning_conditions(
    add: Callable[[str, bool, str, str], None], model: ComputeClass, compiled: CompiledClass
) -> None:
    outside = outside_cluster(compiled)
    region = compiled.cluster.region if compiled.cluster is not None else "?"
    if outside:
        text = "; ".join(f"{p.path}: {p.message}" for p in outside)
        add("RulesOutsideCluster", True, "ZonesOutsideRegion", text)
    else:
        add("RulesOutsideCluster", False, "AllInRegion", f"every rule's zones lie in {region}")
    notices = unacted_fields(model)
    if notices:
        add("FieldsNotActedOn", True, "AcceptedNotActedOn", "; ".join(str(n) for n in notices))
    else:
        add("FieldsNotActedOn", False, "AllActedOn", "ccc acts on every field the class sets")
    nac = auto_creation_warning(model, compiled)
    if nac:
        add("NodePoolCreationDisabled", True, "NodePoolAutoCreationOff", nac)
    elif compiled.auto_create:
        add(
            "NodePoolCreationDisabled",
            False,
            "NodePoolAutoCreationOn",
            "ccc may create node pools for this class",
        )
    else:
        add(
            "NodePoolCreationDisabled",
            False,
            "OnlyNodePoolsRules",
            "every rule names existing node pools: nothing needs creating",
        )
