"""A SpotHedge-like policy (SkyServe, EuroSys'25: "SkyServe: Serving AI Models across Regions
and Clouds with Spot Instances", Mao et al.; artifact ``MaoZiming/spothedge_ae``).

Rules and their sources (paper §4, "SpotHedge"):

* **Over-provisioning, N+k** (§4.2, "Overprovisioning"): keep ``N + k`` spot replicas for a
  target of N, so a preemption does not drop below N; the paper's evaluation uses small k
  (``num_extra``); here k = 2 by default.
* **Dynamic placement across zones** (§4.1, Algorithm 1): zones are split into *active* and
  *preemptive*; a new spot replica goes to the active zone with the fewest replicas (spread);
  a zone where a replica was preempted or a launch failed moves to preemptive; when no zone is
  active, all zones become active again.
* **Dynamic fallback to on-demand** (§4.3): on-demand replicas cover the gap between the target
  N and the Ready spot replicas, and are scaled down as spot replicas become Ready again. The
  cheapest on-demand zone is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ccc.api.values import CapacityType, OfferingKey
from ccc.simulate.baselines.fleet import Fleet, by_price


@dataclass
class SpotHedgeLike:
    spot: list[OfferingKey]
    on_demand: list[OfferingKey]
    extra: int = 2
    name: str = "spothedge-like"
    _preemptive: set[OfferingKey] = field(default_factory=set)

    def _active(self) -> list[OfferingKey]:
        active = [o for o in self.spot if o not in self._preemptive]
        if not active:
            self._preemptive.clear()
            active = list(self.spot)
        return active

    def step(self, fleet: Fleet) -> None:
        target = -(-int(fleet.demand) // fleet.units_per_node)
        spot_nodes = [n for n in fleet.nodes if n.offering.capacity_type is CapacityType.SPOT]
        want_spot = target + self.extra if target else 0
        tries = 0
        while len(spot_nodes) < want_spot and tries < want_spot + len(self.spot):
            tries += 1
            active = self._active()
            zone = min(active, key=lambda o: (fleet.held(o), active.index(o)))
            if fleet.launch(zone):
                spot_nodes.append(fleet.nodes[-1])
            else:
                self._preemptive.add(zone)
        for n in sorted(spot_nodes, key=lambda n: -n.id)[: max(0, len(spot_nodes) - want_spot)]:
            fleet.terminate(n)
        spot_ready = sum(1 for n in spot_nodes if n in fleet.nodes and n.ready(fleet.now))
        od_target = max(0, target - spot_ready)
        od_nodes = [n for n in fleet.nodes if n.offering.capacity_type is CapacityType.ON_DEMAND]
        order = by_price(fleet.prices, self.on_demand)
        while len(od_nodes) < od_target and order:
            if not fleet.launch(order[0]):
                order = order[1:]
                continue
            od_nodes.append(fleet.nodes[-1])
        # Scale on-demand down once spot is Ready (booting on-demand nodes go first).
        surplus = len(od_nodes) - od_target
        for n in sorted(od_nodes, key=lambda n: (n.ready(fleet.now), -n.id))[: max(0, surplus)]:
            fleet.terminate(n)

    def preempted(self, fleet: Fleet, offering: OfferingKey, nodes: int) -> None:
        self._preemptive.add(offering)
