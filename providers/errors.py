"""The provider error tree. Raised only under ``providers/``; callers branch on the type.

Each provider translates its SDK's errors into these in exactly one function.
"""

from __future__ import annotations

from typing import Literal

from ccc.api.errors import CCCError

Scope = Literal["zone", "region", "global"]


class ProviderError(CCCError):
    """A provider call failed.

    Attributes:
        scope: how far the failure reaches: one ``zone``, a whole ``region`` or ``global``.
        location: the zone or region the failure concerns (``""`` when global/unknown).
        reason: a stable machine-readable code (``ZONE_RESOURCE_POOL_EXHAUSTED``,
            ``QUOTA_EXCEEDED``).
        retry_after_s: a hint from the provider, when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        scope: Scope = "zone",
        location: str = "",
        reason: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.scope: Scope = scope
        self.location = location
        self.reason = reason or type(self).__name__
        self.retry_after_s = retry_after_s


class InsufficientCapacityError(ProviderError):
    """Stockout: mark the offering unavailable, try the next one at once. Never retried in place."""


class QuotaExceededError(ProviderError):
    """Quota: block the region (or everything, when global). Never retried in place."""


class ReservationUnavailableError(ProviderError):
    """The named reservation does not exist, is full or is incompatible with the pool."""


class NodePoolNotFoundError(ProviderError):
    """The node pool is gone. Deleting it again is a success."""


class NodePoolAlreadyExistsError(ProviderError):
    """Raised only when a pool of that name exists with a different spec."""


class PermissionDeniedError(ProviderError):
    """The controller's identity lacks a permission: permanent until an operator acts."""


class ProviderUnavailableError(ProviderError):
    """Transient (UNAVAILABLE, DEADLINE_EXCEEDED, 429, 5xx): retried with backoff."""


class InvalidRequestError(ProviderError):
    """Permanent: the request itself is wrong (bad machine type, bad topology). No retry."""
