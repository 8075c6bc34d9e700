"""What ``--seed`` changes: seeded jitter of boot times and of when a trace's drops hit.

Without a seed a run is exact: every node boots in exactly the boot time, and a drop in a
trace's availability (which preempts under the ``strict`` convention) happens at the probe that
saw it. Real boots vary, and a probe only bounds when capacity went: somewhere since the
previous probe. With a seed (:class:`Jitter`):

* **Boot time**: each node's boot time is the configured one times a factor drawn uniformly
  from ``[1 - BOOT_SPREAD, 1 + BOOT_SPREAD]``.
* **Drops**: each decrease of a trace's availability moves earlier by a time drawn uniformly
  from ``[0, gap)``, where ``gap`` is the trace's probe interval (or, for a trace without one,
  the time since its previous change), never before the previous change or the window's start.
  Increases stay at their probe (capacity is known to be there only when a probe saw it).

Every draw comes from a generator seeded with the seed *and the thing drawn for* (a node's
name; an offering and its change's time), so a draw does not depend on the order in which
nodes boot or traces are scheduled: the same seed and inputs give the same run, byte for byte,
and different seeds give different runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from ccc.api.values import OfferingKey
from ccc.simulate.result import iso, offering_label
from providers.simulated.timeline import Timeline
from providers.simulated.traces import TraceSet

#: Boot times vary by up to this fraction either way.
BOOT_SPREAD = 0.25


@dataclass(frozen=True, slots=True)
class Jitter:
    """Seeded draws (see the module docstring)."""

    seed: int

    def _rng(self, *what: str) -> random.Random:
        return random.Random("/".join((str(self.seed), *what)))

    def boot_time(self, node: str, boot_s: float) -> float:
        """Seconds from ``node``'s VM existing to its Node being Ready."""
        return boot_s * self._rng("boot", node).uniform(1 - BOOT_SPREAD, 1 + BOOT_SPREAD)

    def drop_time(
        self, offering: OfferingKey, at: datetime, *, not_before: datetime, gap_s: float
    ) -> datetime:
        """When a decrease of ``offering``'s availability that a probe saw at ``at`` hits."""
        if gap_s <= 0:
            return at
        earlier = self._rng("drop", offering_label(offering), iso(at)).uniform(0.0, gap_s)
        return max(at - timedelta(seconds=earlier), not_before)


def apply_traces(
    traces: TraceSet,
    cloud: Timeline,
    *,
    start: datetime,
    end: datetime,
    jitter: Jitter | None,
) -> int:
    """Schedule ``traces`` on ``cloud`` over ``[start, end)``, drops moved by ``jitter``
    (``None``: exactly as :meth:`TraceSet.apply`). Returns how many changes were scheduled."""
    if jitter is None:
        return traces.apply(cloud, start=start, end=end)
    count = 0
    for series in traces.series:
        previous: tuple[datetime, int | None] | None = None
        for at, value in series.window(start, end):
            when = at
            if previous is not None and _lower(value, previous[1]):
                gap = series.gap_s or (at - previous[0]).total_seconds()
                # Strictly after the previous change, so the changes keep their order.
                floor = max(previous[0] + timedelta(microseconds=1), start)
                when = jitter.drop_time(series.offering, at, not_before=floor, gap_s=gap)
            cloud.set_capacity(series.offering, value, at=when)
            previous = (at, value)
            count += 1
    return count


def _lower(value: int | None, before: int | None) -> bool:
    if value is None:
        return False
    return before is None or value < before


__all__ = ["BOOT_SPREAD", "Jitter", "apply_traces"]
