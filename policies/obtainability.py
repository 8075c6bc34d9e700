"""Obtainability memory: which offerings recently failed, and until when to skip them.

A stockout or quota error marks an offering (machine type, zone, capacity type) unavailable
for a backoff that doubles on each repeat (``base_s``, ``2 × base_s``, … up to ``max_s``) and is
forgotten on success. Regional quota errors are recorded with the region in place of the zone and
block every zone of that region; quotas of all regions are recorded as ``global`` and block every
zone. The memory is an immutable value: every update returns a new
memory, so the controller can persist it (ComputeClass status) and the policies stay pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ccc.api.values import GLOBAL_LOCATION, CapacityType, OfferingKey, region_of

DEFAULT_BASE_BACKOFF_S = 180.0
DEFAULT_MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True, slots=True)
class Unavailability:
    """Why and until when one offering is skipped."""

    key: OfferingKey
    reason: str
    message: str
    failures: int
    since: datetime
    until: datetime

    def active(self, now: datetime) -> bool:
        return now < self.until


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base_s: float = DEFAULT_BASE_BACKOFF_S
    max_s: float = DEFAULT_MAX_BACKOFF_S

    def backoff_s(self, failures: int) -> float:
        return float(min(self.max_s, self.base_s * (2 ** max(0, failures - 1))))


@dataclass(frozen=True, slots=True)
class ObtainabilityMemory:
    """Immutable map of offering → :class:`Unavailability`."""

    entries: Mapping[OfferingKey, Unavailability] = field(default_factory=dict)
    policy: BackoffPolicy = BackoffPolicy()

    @classmethod
    def of(
        cls, entries: Iterable[Unavailability], policy: BackoffPolicy | None = None
    ) -> ObtainabilityMemory:
        return cls({e.key: e for e in entries}, policy or BackoffPolicy())

    def __iter__(self) -> Iterator[Unavailability]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(
        self, machine_type: str, zone: str, capacity_type: CapacityType, now: datetime
    ) -> Unavailability | None:
        """The active entry that blocks this offering (zone entry first, then region, then
        global), if any."""
        for loc in (zone, region_of(zone), GLOBAL_LOCATION):
            e = self.entries.get(
                OfferingKey(machine_type=machine_type, zone=loc, capacity_type=capacity_type)
            )
            if e is not None and e.active(now):
                return e
        return None

    def record_failure(
        self, key: OfferingKey, *, reason: str, message: str, now: datetime
    ) -> ObtainabilityMemory:
        """Mark ``key`` unavailable; the backoff doubles when the previous entry still exists."""
        prev = self.entries.get(key)
        failures = (prev.failures + 1) if prev is not None else 1
        since = prev.since if prev is not None else now
        until = now + timedelta(seconds=self.policy.backoff_s(failures))
        entry = Unavailability(key, reason, message, failures, since, until)
        return replace(self, entries={**self.entries, key: entry})

    def record_success(self, key: OfferingKey) -> ObtainabilityMemory:
        """Forget ``key`` (and its regional and global entries): the offering just worked."""
        gone = {
            key,
            key.model_copy(update={"zone": region_of(key.zone)}),
            key.model_copy(update={"zone": GLOBAL_LOCATION}),
        }
        if not gone & self.entries.keys():
            return self
        return replace(self, entries={k: v for k, v in self.entries.items() if k not in gone})

    def prune(self, now: datetime) -> ObtainabilityMemory:
        """Drop entries whose backoff ended more than ``max_s`` ago (their repeat count resets)."""
        horizon = timedelta(seconds=self.policy.max_s)
        kept = {k: v for k, v in self.entries.items() if now < v.until + horizon}
        return self if len(kept) == len(self.entries) else replace(self, entries=kept)

    def active(self, now: datetime) -> list[Unavailability]:
        return sorted((e for e in self.entries.values() if e.active(now)), key=lambda e: e.until)
