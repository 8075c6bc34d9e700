"""The result of one simulation: the stable ``ccc simulate -o json`` interface.

::

    {"start": str, "end": str, "region": str,
     "summary": {"servedFraction": float, "secondsBelowTarget": float, "cost": float,
                 "onDemandCost": float, "preemptions": int, "expiries": int, "stockouts": int,
                 "provisioningRequests": int, "migrations": int, "shifts": int},
     "timeline": [{"t": str, "demand": float, "served": float, "costPerHour": float,
                   "nodes": {"MACHINE/ZONE/CAPACITY": int},
                   "capacity": {"GROUP/VARIANT": float}}],   # with ServingGroups only
     "decisions": [{"t": str, "command": str, "reason": str}],
     "prices": {"MACHINE/ZONE/CAPACITY": float}}

Times are ISO 8601 in UTC with a ``Z`` suffix. The models are frozen pydantic models; their
JSON schema (``python -m ccc.simulate.result``) is checked in as
docs/simulate-result.schema.json and a test keeps it current. Stability: fields may be added;
none is renamed, removed or changes meaning (docs/simulate.md, "JSON output").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ccc.api.values import CapacityType, OfferingKey

SCHEMA_ID = "https://ccc.dev/schemas/simulate-result.schema.json"


def iso(t: datetime) -> str:
    """``2025-10-04T00:10:00Z``: UTC, seconds precision unless the time has a fraction."""
    text = t.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Inverse of :func:`iso`."""
    return datetime.fromisoformat(text).astimezone(UTC)


def offering_label(offering: OfferingKey) -> str:
    """``MACHINE/ZONE/CAPACITY``, the key of ``nodes`` and ``prices``."""
    return f"{offering.machine_type}/{offering.zone}/{offering.capacity_type.value}"


def parse_offering_label(label: str) -> OfferingKey:
    """Inverse of :func:`offering_label`.

    Raises:
        ValueError: not three ``/``-separated parts with a known capacity type.
    """
    machine_type, zone, capacity = label.split("/")
    return OfferingKey(machine_type=machine_type, zone=zone, capacity_type=CapacityType(capacity))


class _Model(BaseModel):
    # "ignore": a document written by a newer ccc (with added fields) still parses.
    model_config = ConfigDict(
        frozen=True, extra="ignore", alias_generator=to_camel, populate_by_name=True
    )


class Summary(_Model):
    """What the run achieved and cost, over the whole window."""

    served_fraction: float = Field(
        ge=0,
        le=1,
        description="Integral of min(served, demand) over time divided by the integral of demand "
        "(1.0 when there was no demand).",
    )
    seconds_below_target: float = Field(
        ge=0, description="Seconds in which served was below demand."
    )
    cost: float = Field(ge=0, description="USD: the integral of costPerHour over the window.")
    on_demand_cost: float = Field(
        ge=0,
        description="USD: the same demand served for the whole window by the class's cheapest "
        "on-demand offering (whole nodes, no boot delay, no loss).",
    )
    preemptions: int = Field(ge=0, description="Spot nodes the cloud preempted.")
    expiries: int = Field(ge=0, description="Flex-start nodes that reached their deadline.")
    stockouts: int = Field(
        ge=0, description="Provisioning requests refused for lack of capacity or quota."
    )
    provisioning_requests: int = Field(
        ge=0, description="Node pool creates and grows the controller sent."
    )
    migrations: int = Field(
        ge=0, description="Moves of work to a preferred offering (optimizeRulePriority)."
    )
    shifts: int = Field(
        ge=0, description="ServingGroup capacity moved from one variant to another."
    )


class TimelinePoint(_Model):
    """The state from ``t`` until the next point's ``t`` (the last until ``end``)."""

    t: str = Field(description="ISO 8601 UTC time the state began.")
    demand: float = Field(
        ge=0, description="Pods wanted (plain workloads) or capacity wanted (ServingGroup)."
    )
    served: float = Field(
        ge=0, description="Ready pods (plain workloads) or Ready capacity (ServingGroup)."
    )
    cost_per_hour: float = Field(ge=0, description="USD per hour of every node held.")
    nodes: Mapping[str, int] = Field(
        description="Nodes held (provisioning included) per MACHINE/ZONE/CAPACITY; "
        "offerings with none are left out."
    )
    capacity: Mapping[str, float] | None = Field(
        default=None,
        description="Ready capacity per ServingGroup variant (GROUP/VARIANT), every variant "
        "listed; left out when the run has no ServingGroup.",
    )


class Decision(_Model):
    """One command the controller issued."""

    t: str = Field(description="ISO 8601 UTC time of the decision.")
    command: str = Field(description="The command verb and its target, e.g. 'provision ...'.")
    reason: str = Field(description="Why, as the controller explains it.")
    cause: str = Field(
        default="",
        description="Why, from a closed set (pending, stockout, quota, preemption, expiry, "
        "migration, consolidation, serving-shift, repair, ...), as metrics label it.",
    )


class SimulationResult(_Model):
    """One simulation, as ``ccc simulate -o json`` prints it."""

    start: str = Field(description="ISO 8601 UTC start of the simulated window.")
    end: str = Field(description="ISO 8601 UTC end of the simulated window.")
    region: str = Field(description="The region simulated.")
    summary: Summary
    timeline: tuple[TimelinePoint, ...] = Field(
        description="State changes in time order; consecutive identical states are merged."
    )
    decisions: tuple[Decision, ...] = Field(description="Every command, in time order.")
    prices: Mapping[str, float] = Field(
        description="USD per node-hour used for every offering the run touched, per "
        "MACHINE/ZONE/CAPACITY."
    )

    def to_json(self, *, indent: int | None = 2) -> str:
        """The stable JSON document (camelCase keys)."""
        return self.model_dump_json(by_alias=True, indent=indent, exclude_none=True)

    @classmethod
    def from_json(cls, text: str) -> SimulationResult:
        """Parse a document written by :meth:`to_json` (or by another ccc version)."""
        return cls.model_validate_json(text)


def result_json_schema() -> dict[str, Any]:
    """The JSON schema of :class:`SimulationResult` (draft 2020-12, camelCase keys)."""
    schema = SimulationResult.model_json_schema(by_alias=True)
    _drop_property_titles(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def _drop_property_titles(schema: Any) -> None:
    """Property titles would repeat the key in another case (``Servedfraction``)."""
    if isinstance(schema, dict):
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        for value in schema.values():
            _drop_property_titles(value)


def main() -> None:
    """Print the schema (``python -m ccc.simulate.result > docs/simulate-result.schema.json``)."""
    sys.stdout.write(json.dumps(result_json_schema(), indent=2) + "\n")


if __name__ == "__main__":
    main()
