"""Execute one attempt through a provider and classify the result.

The classification drives the obtainability memory: capacity and quota errors mark the
offering unavailable and the walk moves on at once; transient errors leave the memory alone and
the next reconcile retries; permanent errors (invalid request, permission, conflicting pool)
also mark the offering so one broken rule cannot stall the class.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from ccc.api.values import CapacityType, NodePool, OfferingKey, region_of
from policies.plan import Attempt
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


async def execute(provider: Provider, attempt: Attempt, *, timeout_s: float) -> Outcome:
    """Create or scale the pool of ``attempt`` (never raises ProviderError)."""
    try:
        async with asyncio.timeout(timeout_s):
            if attempt.decision == "create" and attempt.spec is not None:
                pool = await provider.create_node_pool(attempt.spec)
            elif attempt.decision == "scale" and attempt.node_pool and attempt.target_nodes:
                pool = await provider.resize_node_pool(
                    attempt.node_pool, node_count=attempt.target_nodes
                )
            else:
                raise ValueError(f"attempt cannot be executed: {attempt.decision}")
    except ProviderError as exc:
        result, key = classify(attempt, exc)
        return Outcome(attempt, result, error=exc, mark=key)
    except TimeoutError:
        err = ProviderUnavailableError(
            f"provider call timed out after {timeout_s:.0f}s", reason="TIMEOUT"
        )
        return Outcome(attempt, "transient", error=err)
    return Outcome(attempt, "success", pool=pool)
