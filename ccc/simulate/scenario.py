"""Scenario files: events scripted at offsets from the start of a simulation.

::

    events:
    - at: 2h
      preempt: {machineType: a3-highgpu-1g, zone: us-central1-a, capacityType: spot, nodes: 2}
    - at: 3h
      stockout: {machineType: ct6e-standard-4t, zone: us-east5-b, capacityType: spot, for: 1h}
    - at: 5h
      capacity: {machineType: a3-highgpu-1g, zone: us-central1-b, capacityType: spot, available: 4}
    - at: 6h
      demand: {workload: vllm, replicas: 20}          # or {servingGroup: llama, capacity: 64}
    - at: 7h
      restartController: {}

Each event has ``at`` (a duration from the start, :mod:`ccc.api.duration`) and exactly one
action. Parsing gives typed, immutable events sorted by time (ties keep file order), each
carrying its line; every problem is reported as ``FILE:LINE:COLUMN: events[i].field: message``.
The format is a stable interface documented in docs/simulate.md ("Scenario files"); new
optional fields may be added, nothing is renamed or removed.

Cloud events (preempt, stockout, capacity) are applied to the simulated cloud by
:func:`apply_to_cloud`; demand changes and controller restarts are for the simulation driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    model_validator,
)

from ccc.api.duration import format_duration, parse_duration
from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, OfferingKey
from ccc.simulate.located import Located, compose_located, location_of
from providers.simulated.timeline import Timeline

# -- the typed events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preempt:
    """Preempt ``nodes`` (``None``: all) of the newest spot nodes of ``offering``."""

    at_s: float
    offering: OfferingKey
    nodes: int | None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Stockout:
    """No new nodes of ``offering`` for ``for_s`` seconds (``None``: to the end); running
    nodes stay."""

    at_s: float
    offering: OfferingKey
    for_s: float | None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Capacity:
    """From ``at_s``, ``available`` nodes of ``offering`` can be held (``None``: unlimited),
    until the next capacity change of the offering (from this file or a trace)."""

    at_s: float
    offering: OfferingKey
    available: int | None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Demand:
    """The demand of one workload (``replicas``) or ServingGroup (``capacity``) changes."""

    at_s: float
    kind: Literal["workload", "servingGroup"]
    name: str
    amount: int
    line: int = 0


@dataclass(frozen=True, slots=True)
class RestartController:
    """The controller process restarts: in-memory state is lost, persisted state is read back."""

    at_s: float
    line: int = 0


ScenarioEvent = Preempt | Stockout | Capacity | Demand | RestartController
CloudEvent = Preempt | Stockout | Capacity


@dataclass(frozen=True, slots=True)
class Scenario:
    """The events of one scenario file, sorted by time (ties in file order)."""

    events: tuple[ScenarioEvent, ...]
    source: str = ""

    @property
    def cloud_events(self) -> tuple[CloudEvent, ...]:
        return tuple(e for e in self.events if isinstance(e, Preempt | Stockout | Capacity))

    @property
    def demand_events(self) -> tuple[Demand, ...]:
        return tuple(e for e in self.events if isinstance(e, Demand))

    @property
    def restarts(self) -> tuple[RestartController, ...]:
        return tuple(e for e in self.events if isinstance(e, RestartController))

    def problems(
        self,
        *,
        duration_s: float,
        workloads: Sequence[str] = (),
        serving_groups: Sequence[str] = (),
    ) -> list[str]:
        """What the driver must refuse before a run: events at or after the end, and demand for
        a workload or ServingGroup that the run does not have. Each names the file and line."""
        out: list[str] = []
        known = {"workload": set(workloads), "servingGroup": set(serving_groups)}
        for e in self.events:
            where = f"{self.source}:{e.line}"
            if e.at_s >= duration_s:
                out.append(
                    f"{where}: at: {format_duration(e.at_s)} is not before the end of the "
                    f"simulation ({format_duration(duration_s)}); move it or lengthen --duration"
                )
            if isinstance(e, Demand) and e.name not in known[e.kind]:
                have = ", ".join(sorted(known[e.kind])) or "none"
                out.append(
                    f"{where}: demand.{e.kind}: no {e.kind} named {e.name!r} in this run "
                    f"(have: {have})"
                )
        return out


class ScenarioError(ConfigError):
    """A scenario file that cannot be used. ``problems`` lists every problem, one per line,
    each as ``FILE:LINE:COLUMN: field.path: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


# -- the document schema (validation only) -------------------------------------------------------

Duration = Annotated[float, BeforeValidator(parse_duration)]
NodeCount = Annotated[StrictInt, Field(ge=0)]


def _available(value: Any) -> Any:
    return None if value == "unlimited" else value


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Offering(_Doc):
    machine_type: str = Field(alias="machineType", min_length=1)
    zone: str = Field(min_length=1)
    capacity_type: CapacityType = Field(default=CapacityType.SPOT, alias="capacityType")

    def key(self) -> OfferingKey:
        return OfferingKey(
            machine_type=self.machine_type, zone=self.zone, capacity_type=self.capacity_type
        )


class _Preempt(_Offering):
    nodes: Annotated[StrictInt, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _spot_only(self) -> _Preempt:
        if self.capacity_type is not CapacityType.SPOT:
            raise ValueError(
                "only spot nodes are preempted; use capacityType: spot (flex-start nodes end "
                "at their deadline, on-demand and reservation nodes are never preempted)"
            )
        return self


class _Stockout(_Offering):
    for_: Duration | None = Field(default=None, alias="for")


class _Capacity(_Offering):
    available: Annotated[NodeCount | None, BeforeValidator(_available)]


class _Demand(_Doc):
    workload: str | None = Field(default=None, min_length=1)
    serving_group: str | None = Field(default=None, alias="servingGroup", min_length=1)
    replicas: NodeCount | None = None
    capacity: NodeCount | None = None

    @model_validator(mode="after")
    def _one_target(self) -> _Demand:
        if (self.workload is None) == (self.serving_group is None):
            raise ValueError(
                "give exactly one of {workload: NAME, replicas: N} or "
                "{servingGroup: NAME, capacity: N}"
            )
        if self.workload is not None and (self.replicas is None or self.capacity is not None):
            raise ValueError("a workload's demand is replicas: N (not capacity)")
        if self.serving_group is not None and (self.capacity is None or self.replicas is not None):
            raise ValueError("a servingGroup's demand is capacity: N (not replicas)")
        return self


class _Restart(_Doc):
    pass


_ACTIONS = ("preempt", "stockout", "capacity", "demand", "restartController")


class _Event(_Doc):
    at: Duration
    preempt: _Preempt | None = None
    stockout: _Stockout | None = None
    capacity: _Capacity | None = None
    demand: _Demand | None = None
    restart_controller: _Restart | None = Field(default=None, alias="restartController")

    @model_validator(mode="before")
    @classmethod
    def _one_action(cls, data: Any) -> Any:
        if isinstance(data, dict):
            present = [a for a in _ACTIONS if a in data]
            if len(present) != 1:
                found = f" (found {', '.join(present)})" if present else ""
                raise ValueError(f"an event has exactly one of {', '.join(_ACTIONS)}{found}")
            if data.get("restartController", {}) is None:
                data = {**data, "restartController": {}}
        return data

    def typed(self, line: int) -> ScenarioEvent:
        at = self.at
        if self.preempt is not None:
            return Preempt(at, self.preempt.key(), self.preempt.nodes, line)
        if self.stockout is not None:
            return Stockout(at, self.stockout.key(), self.stockout.for_, line)
        if self.capacity is not None:
            return Capacity(at, self.capacity.key(), self.capacity.available, line)
        if self.demand is not None:
            d = self.demand
            if d.workload is not None:
                return Demand(at, "workload", d.workload, d.replicas or 0, line)
            assert d.serving_group is not None
            return Demand(at, "servingGroup", d.serving_group, d.capacity or 0, line)
        return RestartController(at, line)


class _File(_Doc):
    events: list[_Event]


# -- parsing ------------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ScenarioError: the file cannot be read, is not YAML, or breaks the format; every
            problem is listed with its line, column and field path.
    """
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{p}: cannot read the scenario file: {exc}"]) from exc
    return parse_scenario(text, origin=str(p))


def parse_scenario(text: str, *, origin: str) -> Scenario:
    """Validate scenario YAML (see the module docstring).

    Raises:
        ScenarioError: with one ``ORIGIN:LINE:COLUMN: path: message`` per problem.
    """
    try:
        tree = compose_located(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([f"{origin}{where}: not valid YAML: {problem}"]) from exc
    if not isinstance(tree.value, dict) or "events" not in tree.value:
        raise ScenarioError(
            [f"{origin}:{tree.line}:{tree.column}: a scenario is a mapping with a list 'events'"]
        )
    try:
        doc = _File.model_validate(tree.value)
    except ValidationError as exc:
        raise ScenarioError(
            [_located(origin, tree, tuple(e["loc"]), e["msg"]) for e in exc.errors()]
        ) from exc
    lines = [location_of(tree, ("events", i))[0] for i in range(len(doc.events))]
    events = sorted(
        (e.typed(line) for e, line in zip(doc.events, lines, strict=True)),
        key=lambda e: e.at_s,
    )
    return Scenario(events=tuple(events), source=origin)


def _located(origin: str, tree: Located, loc: tuple[int | str, ...], msg: str) -> str:
    line, column = location_of(tree, loc)
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    msg = msg.removeprefix("Value error, ")
    return f"{origin}:{line}:{column}: {path}: {msg}"


# -- applying cloud events ----------------------------------------------------------------------


def apply_to_cloud(scenario: Scenario, cloud: Timeline, *, start: datetime) -> int:
    """Schedule the scenario's preempt, stockout and capacity events on the simulated cloud,
    at ``start`` + their offsets. A capacity event goes through ``set_capacity``, so the cloud's
    preemption convention applies to it as to a trace.

    Returns:
        how many events were scheduled.
    """
    events = scenario.cloud_events
    for e in events:
        at = start + timedelta(seconds=e.at_s)
        if isinstance(e, Preempt):
            cloud.preempt(offering=e.offering, count=e.nodes, at=at)
        elif isinstance(e, Stockout):
            end = None if e.for_s is None else at + timedelta(seconds=e.for_s)
            cloud.stockout(e.offering, start=at, end=end)
        else:
            cloud.set_capacity(e.offering, e.available, at=at)
    return len(events)
