"""Plan values: the attempts of a walk with their reasons, and their stable JSON form.

The JSON form (``Plan.to_json``) is a documented interface (docs/plan-json.md)::

    {"class": str, "attempts": [{"rule": int, "zone": str, "capacityType": str|null,
      "machineType": str|null, "nodePool": str|null, "accelerator": {"type", "count"}|null,
      "nodes": int, "pricePerHour": float|null, "decision": "create"|"scale"|"skip",
      "reason": str}], "outcome": str}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ccc.api.values import Accelerator, CapacityType, NodePoolSpec

Decision = Literal["create", "scale", "skip"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One step of the walk. ``nodes`` are nodes to add; ``price_per_hour`` is the hourly list
    price of those nodes together (``None`` when no source gives a price)."""

    rule: int
    zone: str
    capacity_type: CapacityType | None
    machine_type: str | None
    node_pool: str | None
    accelerator: Accelerator | None
    nodes: int
    price_per_hour: float | None
    decision: Decision
    reason: str
    pods: int = 0
    group: str = ""
    spec: NodePoolSpec | None = None
    #: pool size after this attempt (create: ``nodes``; scale: current + ``nodes``)
    target_nodes: int | None = None
    wait_s: int | None = None

    def to_json(self) -> dict[str, object]:
        acc = self.accelerator
        return {
            "rule": self.rule,
            "zone": self.zone,
            "capacityType": self.capacity_type.value if self.capacity_type else None,
            "machineType": self.machine_type,
            "nodePool": self.node_pool,
            "accelerator": {"type": acc.type, "count": acc.count} if acc else None,
            "nodes": self.nodes,
            "pricePerHour": self.price_per_hour,
            "decision": self.decision,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """The walk for one group of identical pending pods."""

    key: str
    pods: int
    example: str
    attempts: tuple[Attempt, ...]

    @property
    def chosen(self) -> Attempt | None:
        return next((a for a in self.attempts if a.decision != "skip"), None)


@dataclass(frozen=True, slots=True)
class Plan:
    class_name: str
    groups: tuple[GroupPlan, ...]
    outcome: str
    warnings: tuple[str, ...] = ()

    @property
    def attempts(self) -> list[Attempt]:
        return [a for g in self.groups for a in g.attempts]

    def to_json(self) -> dict[str, object]:
        return {
            "class": self.class_name,
            "attempts": [a.to_json() for a in self.attempts],
            "outcome": self.outcome,
        }
