"""Capacity accounting of the simulated cloud: offerings, quota and reservations.

The ledger answers one question, all-or-nothing: may ``count`` more nodes of a pool's shape be
created now? If yes it books them; if not it raises the error a real cloud would, and books
nothing. Checks run in the order GCE applies them: regional quota first, then reservations (for
reservation pools) or zonal capacity (for every other capacity type).

Quota metrics (see :func:`quota_metrics`) follow GCE's naming loosely: ``INSTANCES`` counts
every node; accelerators count per chip under ``<TYPE>_GPUS``/``<TYPE>_TPUS`` (upper-cased GKE
accelerator type) and under ``GPUS``/``TPUS``; spot and flex-start use the ``PREEMPTIBLE_``
variants. Reservation nodes count only towards ``INSTANCES``: their accelerators were paid for by
quota when the reservation was made.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ccc.api.values import (
    AcceleratorKind,
    CapacityType,
    OfferingKey,
    ReservationCapacity,
    region_of,
)
from providers.errors import (
    InsufficientCapacityError,
    InvalidRequestError,
    QuotaExceededError,
    ReservationUnavailableError,
)
from providers.simulated.model import PoolShape

STOCKOUT_REASON = "ZONE_RESOURCE_POOL_EXHAUSTED"
QUOTA_REASON = "QUOTA_EXCEEDED"
_PREEMPTIBLE = (CapacityType.SPOT, CapacityType.FLEX_START)


def quota_metrics(shape: PoolShape) -> list[tuple[str, int]]:
    """The regional quota metrics one node of ``shape`` consumes, with the amount of each."""
    out = [("INSTANCES", 1)]
    acc = shape.accelerator
    if acc is None or acc.count == 0 or shape.capacity_type is CapacityType.RESERVATION:
        return out
    prefix = "PREEMPTIBLE_" if shape.capacity_type in _PREEMPTIBLE else ""
    unit = "GPUS" if acc.kind is AcceleratorKind.GPU else "TPUS"
    specific = acc.type.upper().replace("-", "_")
    out += [(f"{prefix}{unit}", acc.count), (f"{prefix}{specific}_{unit}", acc.count)]
    return out


@dataclass(slots=True)
class Reservation:
    """A reservation and how many of its VMs are in use."""

    name: str
    project: str
    zone: str
    machine_type: str
    count: int
    specific_only: bool = True
    in_use: int = 0

    @property
    def key(self) -> str:
        return f"{self.project}/{self.name}"

    @property
    def remaining(self) -> int:
        return max(0, self.count - self.in_use)


class Ledger:
    """Limits and usage. Not thread-safe; the simulated cloud is single-threaded (asyncio).

    Args:
        default_capacity: nodes obtainable per offering without an explicit limit; ``None`` is
            unlimited. Reservation offerings are limited by their reservations only.
        project: the cluster's project; reservations without a project belong to it.
    """

    def __init__(self, *, default_capacity: int | None, project: str) -> None:
        self.default_capacity = default_capacity
        self.project = project
        self.limits: dict[OfferingKey, int | None] = {}
        self.stockouts: Counter[OfferingKey] = Counter()
        self.in_use: Counter[OfferingKey] = Counter()
        self.quota_limits: dict[tuple[str, str], int] = {}
        self.quota_usage: Counter[tuple[str, str]] = Counter()
        self.reservations: dict[str, Reservation] = {}

    # -- offerings --------------------------------------------------------------------------

    def limit(self, offering: OfferingKey) -> int | None:
        """Total nodes the offering supports (running included); ``None`` is unlimited."""
        if offering in self.limits:
            return self.limits[offering]
        if offering.capacity_type is CapacityType.RESERVATION:
            return None
        return self.default_capacity

    def obtainable(self, offering: OfferingKey) -> int | None:
        """How many more nodes could be created now; ``None`` is unlimited."""
        if self.stockouts[offering] > 0:
            return 0
        limit = self.limit(offering)
        return None if limit is None else max(0, limit - self.in_use[offering])

    # -- reservations -----------------------------------------------------------------------

    def reservation_key(self, name: str, project: str | None) -> str:
        return f"{project or self.project}/{name}"

    def add_reservation(self, reservation: Reservation) -> None:
        self.reservations[reservation.key] = reservation

    def reservation_capacities(self) -> list[ReservationCapacity]:
        """Every reservation with its size and the nodes consuming it (the Provider view)."""
        return [
            ReservationCapacity(
                name=r.name,
                project=r.project,
                zone=r.zone,
                machine_type=r.machine_type,
                count=r.count,
                in_use=r.in_use,
                specific_only=r.specific_only,
            )
            for r in self.reservations.values()
        ]

    def _reservation_candidates(self, shape: PoolShape) -> list[Reservation]:
        affinity = shape.reservation
        if affinity is not None and affinity.type == "none":
            raise InvalidRequestError(
                "a reservation node pool needs reservation affinity 'any' or 'specific'",
                scope="zone",
                location=shape.zone,
                reason="INVALID_ARGUMENT",
            )
        if affinity is None or affinity.type == "any":
            return [
                r
                for r in self.reservations.values()
                if not r.specific_only
                and r.zone == shape.zone
                and r.machine_type == shape.machine_type
            ]
        out: list[Reservation] = []
        for ref in affinity.reservations:
            found = self.reservations.get(self.reservation_key(ref.name, ref.project))
            if found is None:
                raise ReservationUnavailableError(
                    f"Reservation '{self.reservation_key(ref.name, ref.project)}' was not found.",
                    scope="zone",
                    location=shape.zone,
                    reason="RESERVATION_NOT_FOUND",
                )
            if found.zone != shape.zone or found.machine_type != shape.machine_type:
                raise ReservationUnavailableError(
                    f"Reservation '{found.key}' holds {found.machine_type} in {found.zone}, "
                    f"not {shape.machine_type} in {shape.zone}.",
                    scope="zone",
                    location=shape.zone,
                    reason="RESERVATION_INCOMPATIBLE",
                )
            out.append(found)
        return out

    # -- admission --------------------------------------------------------------------------

    def admit(self, shape: PoolShape, count: int, *, check: bool = True) -> list[str | None]:
        """Book ``count`` more nodes of ``shape``, all or nothing.

        With ``check=False`` (seeding pools that already exist) nothing is refused: limits may
        be exceeded and reservation nodes consume whatever reservation capacity is left.

        Returns:
            for each new node, the key of the reservation it consumes (or ``None``).

        Raises:
            QuotaExceededError: a regional quota metric would go over its limit.
            ReservationUnavailableError: reservation pool whose reservations are missing,
                incompatible or too full.
            InsufficientCapacityError: the zone cannot supply ``count`` more nodes.
        """
        if count <= 0:
            return []
        region = region_of(shape.zone)
        metrics = quota_metrics(shape)
        for metric, amount in metrics if check else ():
            limit = self.quota_limits.get((region, metric))
            used = self.quota_usage[(region, metric)]
            if limit is not None and used + amount * count > limit:
                raise QuotaExceededError(
                    f"Quota '{metric}' exceeded. Limit: {limit} in region {region} "
                    f"(in use {used}, requested {amount * count}).",
                    scope="region",
                    location=region,
                    reason=QUOTA_REASON,
                )
        offering = shape.offering
        obtainable = self.obtainable(offering)
        if check and obtainable is not None and obtainable < count:
            raise InsufficientCapacityError(
                f"The zone '{shape.zone}' does not have enough resources available to fulfill "
                f"the request ({count} x {shape.machine_type} {shape.capacity_type.value}, "
                f"{obtainable} obtainable). Try a different zone, or try again later.",
                scope="zone",
                location=shape.zone,
                reason=STOCKOUT_REASON,
            )
        picks: list[str | None] = [None] * count
        if shape.capacity_type is CapacityType.RESERVATION:
            picks = self._pick_reservations(shape, count, check=check)
        for metric, amount in metrics:
            self.quota_usage[(region, metric)] += amount * count
        self.in_use[offering] += count
        return picks

    def _pick_reservations(self, shape: PoolShape, count: int, *, check: bool) -> list[str | None]:
        try:
            candidates = self._reservation_candidates(shape)
        except (ReservationUnavailableError, InvalidRequestError):
            if check:
                raise
            candidates = []
        free = sum(r.remaining for r in candidates)
        if check and free < count:
            names = ", ".join(r.key for r in candidates) or "none matching"
            raise ReservationUnavailableError(
                f"Not enough unused reservation capacity for {count} x {shape.machine_type} "
                f"in {shape.zone} ({free} free; reservations: {names}).",
                scope="zone",
                location=shape.zone,
                reason="RESERVATION_CAPACITY_EXCEEDED" if candidates else "NO_MATCHING_RESERVATION",
            )
        picks: list[str | None] = []
        for r in candidates:
            take = min(r.remaining, count - len(picks))
            r.in_use += take
            picks += [r.key] * take
        return picks + [None] * (count - len(picks))

    def release(self, shape: PoolShape, reservation: str | None) -> None:
        """Give back what one node of ``shape`` booked."""
        region = region_of(shape.zone)
        for metric, amount in quota_metrics(shape):
            self.quota_usage[(region, metric)] -= amount
        self.in_use[shape.offering] -= 1
        if reservation is not None and reservation in self.reservations:
            r = self.reservations[reservation]
            r.in_use = max(0, r.in_use - 1)
