"""Failure injection for the simulated cloud (the karpenter fake-provider toolkit).

* :meth:`Faults.fail_next` - the next call (of one method, or any) raises a given error.
* :meth:`Faults.errors_for` - every capacity-consuming call matching zone / machine type /
  capacity type raises (a stockout by default), optionally only ``times`` times.
* :meth:`Faults.fail_transiently` - the next ``n`` attempts hit a transient API failure, which
  the cloud retries internally (see :class:`~providers.simulated.cloud.SimulatedCloud`).
* ``allowed_create_calls`` - a budget of ``create_node_pool`` calls that may create a pool.

Errors are copied before being raised, so one injected instance can be raised many times
without tracebacks piling up on it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ccc.api.values import CapacityType
from providers.errors import InsufficientCapacityError, ProviderError
from providers.simulated.ledger import STOCKOUT_REASON
from providers.simulated.model import PoolShape


@dataclass(slots=True)
class ErrorRule:
    """Raise ``error`` for calls matching every non-``None`` filter.

    ``error=None`` raises a zonal :class:`InsufficientCapacityError` for the call's zone.
    ``times=None`` matches forever; otherwise the rule retires after ``times`` matches.
    """

    zone: str | None = None
    machine_type: str | None = None
    capacity_type: CapacityType | None = None
    error: ProviderError | None = None
    times: int | None = None

    def matches(self, shape: PoolShape) -> bool:
        return (
            (self.times is None or self.times > 0)
            and self.zone in (None, shape.zone)
            and self.machine_type in (None, shape.machine_type)
            and self.capacity_type in (None, shape.capacity_type)
        )

    def build(self, shape: PoolShape) -> ProviderError:
        if self.times is not None:
            self.times -= 1
        if self.error is not None:
            return copy.copy(self.error)
        return InsufficientCapacityError(
            f"The zone '{shape.zone}' does not have enough resources available to fulfill the "
            "request (injected). Try a different zone, or try again later.",
            scope="zone",
            location=shape.zone,
            reason=STOCKOUT_REASON,
        )


@dataclass(slots=True)
class _NextError:
    error: ProviderError
    method: str | None


class Faults:
    """Injected failures, consumed by the simulated cloud's calls."""

    def __init__(self) -> None:
        self._next: list[_NextError] = []
        self.rules: list[ErrorRule] = []
        self.transient_pending = 0
        self.allowed_create_calls: int | None = None

    def fail_next(self, error: ProviderError, *, method: str | None = None) -> None:
        """Make the next call of ``method`` (any provider method when ``None``) raise ``error``.

        Several calls queue up and are consumed in order.
        """
        self._next.append(_NextError(error, method))

    def errors_for(
        self,
        *,
        zone: str | None = None,
        machine_type: str | None = None,
        capacity_type: CapacityType | None = None,
        error: ProviderError | None = None,
        times: int | None = None,
    ) -> ErrorRule:
        """Add a rule: matching creates and resizes that add nodes raise ``error``.

        Returns:
            the rule; pass it to :meth:`remove_rule` to lift it.
        """
        rule = ErrorRule(zone, machine_type, capacity_type, error, times)
        self.rules.append(rule)
        return rule

    def remove_rule(self, rule: ErrorRule) -> None:
        """Lift a rule added by :meth:`errors_for` (no-op when already gone)."""
        self.rules = [r for r in self.rules if r is not rule]

    def fail_transiently(self, attempts: int) -> None:
        """Make the next ``attempts`` call attempts fail with a transient API error."""
        self.transient_pending += attempts

    def take_next(self, method: str) -> ProviderError | None:
        """The queued error for this call, if any (removed from the queue)."""
        for i, queued in enumerate(self._next):
            if queued.method in (None, method):
                del self._next[i]
                return copy.copy(queued.error)
        return None

    def take_transient(self) -> bool:
        """Whether this attempt fails transiently (consumes one pending failure)."""
        if self.transient_pending <= 0:
            return False
        self.transient_pending -= 1
        return True

    def match(self, shape: PoolShape) -> ProviderError | None:
        """The error of the first live rule matching ``shape``, if any."""
        for rule in self.rules:
            if rule.matches(shape):
                return rule.build(shape)
        return None

    def take_create_budget(self) -> bool:
        """Whether one more pool may be created (consumes budget when one is set)."""
        if self.allowed_create_calls is None:
            return True
        if self.allowed_create_calls <= 0:
            return False
        self.allowed_create_calls -= 1
        return True

    def clear(self) -> None:
        """Forget every injected failure and the create budget."""
        self._next.clear()
        self.rules.clear()
        self.transient_pending = 0
        self.allowed_create_calls = None
