"""Execute one attempt through a provider and classify the result.

The classification drives the obtainability memory: capacity and quota errors mark the
offering unavailable and the walk moves on at once; transient errors leave the memory alone and
the next reconcile retries; permanent errors (invalid request, permission, conflicting pool)
also mark the offering so one broken rule cannot stall the class.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Literal

from ccc.api.values import CapacityType, NodePool, OfferingKey, region_of
from policies.plan import Attempt, Placement
from providers.base import Provider
from providers.errors import (
    InsufficientCapacityError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
)

Result = Literal["success", "stockout", "quota", "transient", "permanent"]


@dataclass(frozen=True, slots=True)
class Outcome:
    attempt: Attempt
    result: Result
    pool: NodePool | None = None
    error: ProviderError | None = None
    #: the memory key to mark unavailable (None for success and transient errors)
    mark: OfferingKey | None = None
    #: every pool created or grown (several for multi-slice TPU and BALANCED attempts); on a
    #: failure, those done before it (their nodes are coming)
    pools: tuple[NodePool, ...] = ()
    #: pending pods the done pools are sized for (less than the attempt's on a partial failure)
    covered_pods: int = 0

    @property
    def reason(self) -> str:
        if self.error is None:
            return ""
        return self.error.reason


def classify(attempt: Attempt, error: ProviderError) -> tuple[Result, OfferingKey | None]:
    """Map a provider error to a result and the offering (zone or region) to mark."""
    assert attempt.machine_type is not None and attempt.capacity_type is not None
    ct: CapacityType = attempt.capacity_type
    zone = attempt.zone
    if error.scope in ("region", "global"):
        zone = error.location if error.scope == "region" and error.location else region_of(zone)
    key = OfferingKey(machine_type=attempt.machine_type, zone=zone, capacity_type=ct)
    if isinstance(error, InsufficientCapacityError):
        return "stockout", key
    if isinstance(error, QuotaExceededError):
        return "quota", key
    if isinstance(error, ProviderUnavailableError):
        return "transient", None
    return "permanent", key


async def _apply(provider: Provider, p: Placement) -> NodePool:
    if p.decision == "create" and p.spec is not None:
        return await provider.create_node_pool(p.spec)
    if p.decision == "scale" and p.target_nodes:
        return await provider.resize_node_pool(p.node_pool, node_count=p.target_nodes)
    raise ValueError(f"placement cannot be executed: {p.decision} {p.node_pool}")


async def execute(provider: Provider, attempt: Attempt, *, timeout_s: float) -> Outcome:
    """Create or scale the pool(s) of ``attempt``, one after the other (never raises
    ProviderError). A failure stops there: pools done before it are kept and reported."""
    done: list[NodePool] = []
    covered = 0
    for p in attempt.all_placements() or (_unexecutable(attempt),):
        try:
            async with asyncio.timeout(timeout_s):
                done.append(await _apply(provider, p))
        except ProviderError as exc:
            result, key = classify(replace(attempt, zone=p.zone), exc)
            last = done[-1] if done else None
            return Outcome(attempt, result, last, exc, key, tuple(done), covered)
        except TimeoutError:
            err = ProviderUnavailableError(
                f"provider call timed out after {timeout_s:.0f}s", reason="TIMEOUT"
            )
            last = done[-1] if done else None
            return Outcome(attempt, "transient", last, err, None, tuple(done), covered)
        covered += p.pods
    return Outcome(attempt, "success", done[-1], pools=tuple(done), covered_pods=covered)


def _unexecutable(attempt: Attempt) -> Placement:
    return Placement(attempt.zone, attempt.node_pool or "", 0, "create", 0, 0, None)
