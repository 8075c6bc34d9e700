"""A GKE-like policy: the ComputeClass priority walk with GKE's timings and
``activeMigration.optimizeRulePriority``; no ServingGroup.

Rules and their sources (/work/shared/reference/gke-computeclass.md, the spec ccc follows,
sections cited; GKE documentation "About custom compute classes"):

* **Priority walk** (§3.2): nodes are created for the first rule that can fit the pending pods;
  when GCE returns a stockout for a rule the autoscaler moves to the next rule at once.
* **Backoff, 5 minutes** (§3.2): "A hard zonal stockout trips a ~5 min cooldown"; the failed
  (rule, zone) is skipped for 5 minutes and the list is re-walked from the top when it expires.
  The cooldown is applied per zone (the more generous reading: the spec says it may cover the
  whole rule).
* **Zones** (§3.2): a rule's zones are tried in the order given (``locationPolicy: ANY`` packs
  for obtainability).
* **optimizeRulePriority** (§2.5, §3.5): when a higher rule has capacity again GKE creates nodes
  there, then drains and deletes the lower-priority nodes (create before delete). Here: every
  tick, for each node of a lower rule, a node of the first rule whose zone is not in backoff is
  launched; when it is Ready the lower node is deleted. A failed migration launch backs the zone
  off for 5 minutes like any stockout.
* **No ServingGroup**: GKE has no notion of serving capacity spread over variants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ccc.api.values import OfferingKey
from ccc.simulate.baselines.fleet import Fleet, Node

BACKOFF = timedelta(minutes=5)


@dataclass
class GkeLike:
    """``rules``: the class's rules in priority order, each the offerings it may use in order."""

    rules: list[list[OfferingKey]]
    optimize_rule_priority: bool = True
    name: str = "gke-like"
    _backoff: dict[OfferingKey, datetime] = field(default_factory=dict)
    #: lower-priority node -> the node replacing it
    _replacing: dict[int, Node] = field(default_factory=dict)

    def _rank(self, o: OfferingKey) -> int:
        return next(i for i, r in enumerate(self.rules) if o in r)

    def _walk(self, fleet: Fleet, below: int | None = None) -> OfferingKey | None:
        """Launch one node on the first offering that takes it (rules above ``below`` only)."""
        for i, rule in enumerate(self.rules):
            if below is not None and i >= below:
                return None
            for o in rule:
                if self._backoff.get(o, fleet.now) > fleet.now:
                    continue
                if fleet.launch(o):
                    return o
                self._backoff[o] = fleet.now + BACKOFF
        return None

    def step(self, fleet: Fleet) -> None:
        alive = {n.id for n in fleet.nodes}
        self._replacing = {
            old: new for old, new in self._replacing.items() if old in alive and new.id in alive
        }
        replacements = {n.id for n in self._replacing.values()}
        serving = len(fleet.nodes) - len(self._replacing)
        need = int(fleet.demand) - serving * fleet.units_per_node
        while need > 0:
            if self._walk(fleet) is None:
                break
            need -= fleet.units_per_node
        if need < 0:
            extra = -need // fleet.units_per_node
            lowest = sorted(
                (n for n in fleet.nodes if n.id not in replacements),
                key=lambda n: (-self._rank(n.offering), -n.id),
            )
            for n in lowest[:extra]:
                fleet.terminate(n)
        if not self.optimize_rule_priority:
            return
        for old_id, new in list(self._replacing.items()):
            if new.ready(fleet.now):
                old = next(n for n in fleet.nodes if n.id == old_id)
                fleet.terminate(old)
                del self._replacing[old_id]
        for n in sorted(fleet.nodes, key=lambda n: -self._rank(n.offering)):
            rank = self._rank(n.offering)
            if rank == 0 or n.id in self._replacing or n.id in replacements:
                continue
            if not n.ready(fleet.now):
                continue
            got = self._walk(fleet, below=rank)
            if got is None:
                break
            self._replacing[n.id] = fleet.nodes[-1]
            if fleet.recorder is not None:
                from ccc.simulate.recorder import Tally

                fleet.recorder.count(Tally.MIGRATIONS)

    def preempted(self, fleet: Fleet, offering: OfferingKey, nodes: int) -> None:
        """A preemption is not a stockout: GKE recreates the nodes through the walk."""
