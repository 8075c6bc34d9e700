"""A Karpenter-like policy: cheapest offering first, an unavailable-offering cache, no priority
order and no move back.

Rules and their sources (Karpenter v1 documentation, karpenter.sh/docs, and its source):

* **Cheapest first.** For pending pods Karpenter launches the cheapest instance type and capacity
  type that fits; with both ``spot`` and ``on-demand`` allowed in a NodePool it prefers spot
  (docs, "NodePools: capacity type": "Karpenter will prioritize Spot offerings if the NodePool
  allows Spot and on-demand instances"; "Concepts: Scheduling"). On GCP there is no EC2 Fleet
  price-capacity-optimized choice among spot pools, so the cheapest zone is tried first, then the
  next cheapest.
* **Unavailable-offering cache, 3 minutes.** An insufficient-capacity error marks the offering
  (instance type, zone, capacity type) unavailable for 3 minutes, and the launch is retried on
  the next cheapest (``pkg/cache``: ``UnavailableOfferingsTTL = 3 * time.Minute``;
  docs, "Troubleshooting: Insufficient capacity").
* **In-flight capacity counts.** Pods are bin-packed onto NodeClaims that are still launching,
  so no second node is launched for a pod whose node is booting (docs, "Concepts: Scheduling").
* **No priority order, no move back.** NodePool ``weight`` orders NodePools, not offerings
  inside one; consolidation deletes or replaces nodes with *cheaper* ones but spot-to-spot
  consolidation is off by default and an on-demand node is not replaced by spot when it would
  need a new launch for pods that already run (docs, "Concepts: Disruption", "Consolidation";
  the issue's definition: "no move back"). Empty nodes are deleted (consolidation), so a drop
  in demand frees capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ccc.api.values import OfferingKey
from ccc.simulate.baselines.fleet import Fleet, by_price

UNAVAILABLE_TTL = timedelta(minutes=3)


@dataclass
class KarpenterLike:
    offerings: list[OfferingKey]
    name: str = "karpenter-like"
    _unavailable: dict[OfferingKey, datetime] = field(default_factory=dict)

    def step(self, fleet: Fleet) -> None:
        need = int(fleet.demand) - len(fleet.nodes) * fleet.units_per_node
        order = by_price(fleet.prices, self.offerings)
        while need > 0:
            usable = [o for o in order if self._unavailable.get(o, fleet.now) <= fleet.now]
            if not usable:
                return
            for o in usable:
                if fleet.launch(o):
                    need -= fleet.units_per_node
                    break
                self._unavailable[o] = fleet.now + UNAVAILABLE_TTL
        # Consolidation: nodes beyond the demand are deleted, most expensive first.
        extra = len(fleet.nodes) - -(-int(fleet.demand) // fleet.units_per_node)
        for n in sorted(fleet.nodes, key=lambda n: -fleet.prices(n.offering))[: max(0, extra)]:
            fleet.terminate(n)

    def preempted(self, fleet: Fleet, offering: OfferingKey, nodes: int) -> None:
        # A spot interruption makes Karpenter treat the offering as unavailable (docs,
        # "Concepts: Disruption: Interruption": the instance type/zone is marked unavailable).
        self._unavailable[offering] = fleet.now + UNAVAILABLE_TTL
