"""Partial creation: what a managed instance group does when a zone cannot supply every VM.

GKE sizes a node pool through its managed instance groups, which create VMs one by one: a
resize (``setSize``) finishes once the group's target size is set, VMs that GCE cannot create
are reported by ``instanceGroupManagers.listErrors``, and the group keeps the target (it would
keep trying). A create with ``bestEffortProvisioning`` (which ccc's GKE provider sets on pools
that are not atomic, docs/design/029) does the same once ``minProvisionNodes`` VMs exist; without
it the create fails as a whole. Which pools are best effort is one predicate for every provider,
:func:`ccc.api.values.creates_best_effort`: Spot and on-demand pools of single-host machines;
multi-host TPU slices and queued (flex-start) provisioning are atomic, and a reservation is a
fixed block, so those stay all-or-nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ccc.api.values import MIN_PROVISION_NODES
from providers.errors import (
    InsufficientCapacityError,
    ProviderError,
    QuotaExceededError,
    ReservationUnavailableError,
)
from providers.simulated.ledger import Ledger
from providers.simulated.model import PoolShape

_CAPACITY_ERRORS = (InsufficientCapacityError, QuotaExceededError, ReservationUnavailableError)


@dataclass(frozen=True, slots=True)
class Admitted:
    """Nodes booked (their reservation keys) and why the rest could not be (``None``: all)."""

    picks: list[str | None]
    error: ProviderError | None


def admit_best_effort(ledger: Ledger, shape: PoolShape, count: int, *, partial: bool) -> Admitted:
    """Book ``count`` nodes, or (``partial``) as many as the zone, quota and reservation allow
    but at least :data:`~ccc.api.values.MIN_PROVISION_NODES`.

    Raises:
        the ledger's capacity error when not even the minimum can be booked (or, without
        ``partial``, not all of ``count``); nothing is booked then.
    """
    try:
        return Admitted(ledger.admit(shape, count), None)
    except _CAPACITY_ERRORS as exc:
        if not partial:
            raise
        error: ProviderError = exc
    for k in range(count - 1, MIN_PROVISION_NODES - 1, -1):
        try:
            return Admitted(ledger.admit(shape, k), error)
        except _CAPACITY_ERRORS:
            continue
    raise error


@dataclass(frozen=True, slots=True)
class CreationError:
    """One failed VM creation of a pool's group (what ``listErrors`` reports), when it failed."""

    at: datetime
    error: ProviderError
    count: int
