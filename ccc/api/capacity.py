"""How a node's capacity is bought (:class:`CapacityType`).

A module of its own so the ComputeClass models can name capacity types without importing the
other value types (:mod:`ccc.api.values` re-exports it), which keeps ``ccc validate`` quick.
"""

from enum import StrEnum


class CapacityType(StrEnum):
    """How a node's capacity is bought. The order here is the order within one rule."""

    RESERVATION = "reservation"
    FLEX_START = "flex-start"
    SPOT = "spot"
    ON_DEMAND = "on-demand"
