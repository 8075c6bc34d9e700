"""Plan values: the attempts of a walk with their reasons, and their stable JSON form.

The JSON form (``Plan.to_json``) is a documented interface (docs/plan.md); fields are only ever
added::

    {"class": str, "region": str, "zones": [str], "locationSource": str,
     "attempts": [{"rule": int, "zone": str, "capacityType": str|null,
      "machineType": str|null, "nodePool": str|null, "accelerator": {"type", "count"}|null,
      "nodes": int, "pricePerHour": float|null, "decision": "create"|"scale"|"skip",
      "reason": str, "reservationAffinity": "specific"|"any"|"none"|null,
      "placements": [{"zone", "nodePool", "machineType", "nodes", "decision"}]}],
     "outcome": str, "warnings": [str]}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ccc.api.location import ClusterLocation
from ccc.api.values import Accelerator, CapacityType, NodePoolSpec

Decision = Literal["create", "scale", "skip"]


@dataclass(frozen=True, slots=True)
class Placement:
    """One node pool an attempt creates or grows.

    Most attempts touch one pool. Two kinds touch several at once: ``N`` multi-host TPU slices
    are ``N`` pools of the topology's host count each (GKE: a slice is one pool, never resized),
    and ``locationPolicy: BALANCED`` spreads one batch's new nodes over the rule's zones.
    """

    zone: str
    node_pool: str
    nodes: int
    decision: Literal["create", "scale"]
    #: pool size after this placement (create: ``nodes``; scale: current + ``nodes``)
    target_nodes: int
    #: pending pods this placement is sized for
    pods: int
    spec: NodePoolSpec | None = None
    #: the pool's machine type and what it attaches (zones of one BALANCED attempt may get
    #: different machine types, as each zone gets the smallest candidate it offers)
    machine_type: str | None = None
    accelerator: Accelerator | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "zone": self.zone,
            "nodePool": self.node_pool,
            "machineType": self.machine_type,
            "nodes": self.nodes,
            "decision": self.decision,
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One step of the walk. ``nodes`` are nodes to add; ``price_per_hour`` is the hourly list
    price of those nodes together (``None`` when no source gives a price).

    ``placements`` lists every pool the attempt touches when there are several (see
    :class:`Placement`); then ``zone``, ``node_pool``, ``spec`` and ``target_nodes`` describe
    the first of them and ``nodes`` is the total. It is empty for single-pool attempts and
    skips.
    """

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
    placements: tuple[Placement, ...] = ()
    #: how the pool consumes reservations (``None``: the cloud's default)
    reservation_affinity: Literal["specific", "any", "none"] | None = None

    def all_placements(self) -> tuple[Placement, ...]:
        """Every pool this attempt creates or grows (one for single-pool attempts; none for a
        skip)."""
        if self.placements:
            return self.placements
        if self.decision == "skip" or self.node_pool is None:
            return ()
        return (
            Placement(
                zone=self.zone,
                node_pool=self.node_pool,
                nodes=self.nodes,
                decision=self.decision,
                target_nodes=self.target_nodes if self.target_nodes is not None else self.nodes,
                pods=self.pods,
                spec=self.spec,
                machine_type=self.machine_type,
                accelerator=self.accelerator,
            ),
        )

    def parts(self) -> tuple[Attempt, ...]:
        """One single-pool attempt per placement, in order: what the controller executes (one
        provider call per pool). A single-pool attempt is its own only part; a skip has none.
        The price is shared out by nodes."""
        if not self.placements:
            return () if self.decision == "skip" or self.node_pool is None else (self,)
        total = sum(p.nodes for p in self.placements) or 1
        return tuple(
            replace(
                self,
                zone=p.zone,
                node_pool=p.node_pool,
                nodes=p.nodes,
                decision=p.decision,
                target_nodes=p.target_nodes,
                pods=p.pods,
                spec=p.spec,
                machine_type=p.machine_type or self.machine_type,
                accelerator=p.accelerator if p.machine_type else self.accelerator,
                price_per_hour=(
                    None
                    if self.price_per_hour is None
                    else round(self.price_per_hour * p.nodes / total, 4)
                ),
                placements=(),
            )
            for p in self.placements
        )

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
            "reservationAffinity": self.reservation_affinity,
            "placements": [p.to_json() for p in self.all_placements()],
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
    """Every group's walk, the outcome in one sentence, and warnings about the class (fields
    accepted but not acted on, rules outside the cluster, reservation fallbacks)."""

    class_name: str
    groups: tuple[GroupPlan, ...]
    outcome: str
    warnings: tuple[str, ...] = ()
    cluster: ClusterLocation | None = None

    @property
    def attempts(self) -> list[Attempt]:
        return [a for g in self.groups for a in g.attempts]

    def to_json(self) -> dict[str, object]:
        c = self.cluster
        return {
            "class": self.class_name,
            "region": c.region if c is not None else None,
            "zones": list(c.zones) if c is not None else [],
            "locationSource": c.source if c is not None else "",
            "attempts": [a.to_json() for a in self.attempts],
            "outcome": self.outcome,
            "warnings": list(self.warnings),
        }
