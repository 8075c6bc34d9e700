"""Records the simulated cloud hands out: nodes, disruption notices, recorded calls.

They are immutable snapshots, so callers (the kwok provider mirroring nodes, tests, ``ccc
simulate``) can keep them without seeing later changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from ccc.api.values import Accelerator, CapacityType, OfferingKey, ReservationAffinity, Taint

#: Flex-start VMs run at most this long unless the pool sets ``max_run_duration_s`` (7 days).
DEFAULT_FLEX_START_MAX_RUN_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class PoolShape:
    """What fixes a pool's identity and what its nodes consume."""

    machine_type: str
    zone: str
    capacity_type: CapacityType
    accelerator: Accelerator | None = None
    reservation: ReservationAffinity | None = None

    @property
    def offering(self) -> OfferingKey:
        return OfferingKey(
            machine_type=self.machine_type, zone=self.zone, capacity_type=self.capacity_type
        )


@dataclass(frozen=True, slots=True)
class SimNode:
    """One VM of a simulated node pool.

    Attributes:
        name: unique for the lifetime of the cloud (names are never reused).
        created_at: when the create/resize request that made it was accepted.
        ready_at: when it finished provisioning (``created_at`` + the provisioning delay).
        deadline: for flex-start, when the cloud removes it (``ready_at`` + max run duration).
        reservation: ``project/name`` of the reservation it consumes, if any.
        serial: creation order across the whole cloud (newer nodes have larger serials).
    """

    name: str
    serial: int
    pool: str
    zone: str
    machine_type: str
    capacity_type: CapacityType
    created_at: datetime
    ready_at: datetime
    deadline: datetime | None = None
    reservation: str | None = None
    accelerator: Accelerator | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()


class DisruptionKind(StrEnum):
    """Why the cloud took a node away."""

    PREEMPTED = "preempted"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Disruption:
    """A notice that the cloud removed a node (spot preemption or flex-start expiry)."""

    at: datetime
    kind: DisruptionKind
    node: str
    pool: str
    zone: str
    machine_type: str
    capacity_type: CapacityType


class Call(NamedTuple):
    """One provider call as the simulated cloud received it: ``(method, args)``."""

    method: str
    args: Mapping[str, object]
