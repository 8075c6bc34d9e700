"""Availability traces: how many nodes of an offering can be held over time.

A :class:`CapacityTrace` is the availability of one offering (machine type, zone, capacity
type) as a step function of time: each step holds from its offset until the next one, and the
last holds until the end of the simulation. A :class:`TraceSet` is the traces of one data set
(every zone of a probe campaign, every row of a CSV file) with the metadata that travels with
it: where it came from, its licence and, for data that must be redistributed with one, its
NOTICE. Traces are applied to the simulated cloud as ``set_capacity`` changes at virtual times;
consecutive equal values collapse, so 14 days of 10-minute probes in 13 zones cost a few
thousand events. The cloud's preemption convention (``strict`` or ``zero``, see
:data:`~providers.simulated.timeline.PreemptionConvention`) decides what a drop does to the
nodes held.

This module reads the ``{"metadata": {"gap_seconds": G}, "data": [...]}`` JSON family (SkyPilot
spot-traces / "Can't Be Late", SpotHedge, SkyNomad ``converted_full``) in two conventions:

* ``"count"``: ``data[i]`` is how many spot instances could be obtained or kept at tick ``i``.
* ``"preempted"`` (SkyNomad ``converted_full/*.json``): **1 = unavailable, 0 = available**. 1
  becomes capacity 0; 0 becomes ``available_nodes`` (unlimited by default).

The generic CSV format is in :mod:`providers.simulated.trace_csv`; named data sets and the
``--trace NAME|PATH`` registry are in :mod:`providers.simulated.trace_sources`.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, OfferingKey
from providers.simulated.timeline import Timeline

Convention = Literal["count", "preempted"]
#: A step: ``(seconds after the trace's start, nodes that can be held)``; ``None`` = unlimited.
Step = tuple[float, int | None]


def collapse_steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    """``steps`` (in offset order) without the steps that repeat the previous value."""
    out: list[Step] = []
    for offset, value in steps:
        if not out or out[-1][1] != value:
            out.append((float(offset), value))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class CapacityTrace:
    """Availability of one offering over time.

    Attributes:
        offering: the machine type, zone and capacity type the trace drives.
        steps: ``(offset_s, available)`` in increasing offset order, equal neighbours collapsed.
            Before the first step the offering is not traced (the cloud's default applies).
        duration_s: how long the observations cover, from offset 0.
        start_time: the wall-clock time of offset 0, when the data records one; ``None`` for
            traces in relative time (offset 0 = the start of the simulation).
        gap_s: the probe interval of the source, when it probed at a fixed interval.
        source: where it came from (a path or a data set name), for reports.
    """

    offering: OfferingKey
    steps: tuple[Step, ...]
    duration_s: float
    start_time: datetime | None = None
    gap_s: float | None = None
    source: str = ""

    @classmethod
    def from_ticks(
        cls,
        offering: OfferingKey,
        *,
        gap_s: float,
        values: Sequence[int | None],
        start_time: datetime | None = None,
        source: str = "",
    ) -> CapacityTrace:
        """A trace sampled every ``gap_s`` seconds, ``values[i]`` at ``i * gap_s``."""
        return cls(
            offering=offering,
            steps=collapse_steps((i * gap_s, v) for i, v in enumerate(values)),
            duration_s=gap_s * len(values),
            start_time=start_time,
            gap_s=gap_s,
            source=source,
        )

    def changes(self) -> list[Step]:
        """``(offset_s, available)`` at the first step and wherever the value changes."""
        return list(self.steps)

    def value_at(self, offset_s: float) -> int | None:
        """Availability at ``offset_s`` (the last step's value after the end).

        Raises:
            ValueError: ``offset_s`` is before the first step (nothing is known there).
        """
        i = bisect.bisect_right(self.steps, offset_s, key=lambda s: s[0]) - 1
        if i < 0:
            raise ValueError(f"{self.offering} is not traced before offset {self.steps[0][0]} s")
        return self.steps[i][1]

    def available_fraction(self) -> float:
        """Fraction of the covered time in which at least one node was obtainable."""
        if not self.steps or self.duration_s <= 0:
            return 0.0
        bounds = [s[0] for s in self.steps[1:]] + [self.duration_s]
        up = sum(
            max(0.0, min(end, self.duration_s) - off)
            for (off, v), end in zip(self.steps, bounds, strict=True)
            if v is None or v > 0
        )
        return up / (self.duration_s - self.steps[0][0])

    def anchor(self, sim_start: datetime) -> datetime:
        """The time of offset 0 in a simulation that starts at ``sim_start``."""
        return self.start_time if self.start_time is not None else sim_start

    def window(
        self, start: datetime, end: datetime | None = None
    ) -> list[tuple[datetime, int | None]]:
        """The steps that matter in ``[start, end)``: the value in effect at ``start`` (when the
        trace has begun by then) and every change after it, as absolute times.

        A relative trace (no :attr:`start_time`) has offset 0 at ``start``.
        """
        zero = self.anchor(start)
        out: list[tuple[datetime, int | None]] = []
        for offset, value in self.steps:
            at = zero + timedelta(seconds=offset)
            if end is not None and at >= end:
                break
            if at <= start:
                out = [(start, value)]
            else:
                out.append((at, value))
        return out

    def apply(
        self, cloud: Timeline, *, start: datetime | float = 0.0, end: datetime | None = None
    ) -> int:
        """Schedule the trace on ``cloud``.

        Args:
            cloud: the simulated cloud (its ``set_capacity`` does the preempting).
            start: the simulation's start (an aware time, or seconds after the cloud's start);
                a relative trace has offset 0 there, an absolute one keeps its own times and
                contributes the value in effect at ``start``.
            end: no change at or after it is scheduled (``None``: all of them).

        Returns:
            how many capacity changes were scheduled.
        """
        begin = start if isinstance(start, datetime) else cloud.start + timedelta(seconds=start)
        changes = self.window(begin, end)
        for at, capacity in changes:
            cloud.set_capacity(self.offering, capacity, at=at)
        return len(changes)


@dataclass(frozen=True, slots=True)
class TraceSet:
    """The traces of one data set, one per offering, with the metadata that travels with them.

    Attributes:
        name: the registry name (``skynomad-h100``) or the path it was read from.
        series: one trace per offering, sorted by offering.
        description: one line on what was measured.
        license: the data's licence (SPDX id), or ``"none stated"``.
        notice: text that must accompany the data when it is redistributed (Apache-2.0 NOTICE).
        redistributable: whether ccc may ship the data (only with a licence that allows it).
    """

    name: str
    series: tuple[CapacityTrace, ...]
    description: str = ""
    license: str = "none stated"
    notice: str = ""
    redistributable: bool = False
    _by_offering: Mapping[OfferingKey, CapacityTrace] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by: dict[OfferingKey, CapacityTrace] = {}
        for s in self.series:
            if s.offering in by:
                raise ConfigError(f"{s.offering} appears twice", path=self.name)
            by[s.offering] = s
        object.__setattr__(self, "_by_offering", by)

    @property
    def offerings(self) -> tuple[OfferingKey, ...]:
        return tuple(s.offering for s in self.series)

    def series_for(self, offering: OfferingKey) -> CapacityTrace | None:
        return self._by_offering.get(offering)

    @property
    def start_time(self) -> datetime | None:
        """The earliest recorded start of any series (``None`` when all are relative)."""
        starts = [s.start_time for s in self.series if s.start_time is not None]
        return min(starts) if starts else None

    @property
    def end_time(self) -> datetime | None:
        """The latest recorded end of any series with a start time."""
        ends = [
            s.start_time + timedelta(seconds=s.duration_s)
            for s in self.series
            if s.start_time is not None
        ]
        return max(ends) if ends else None

    def window_warnings(self, start: datetime, end: datetime) -> list[str]:
        """What is off about simulating ``[start, end)`` on these traces: each series that
        starts after ``start``, and each recorded series (one with a start time) that ends
        before ``end`` (its last value is then held). Relative series are scripts whose last
        value is meant to hold, so their end is not reported."""
        out: list[str] = []
        for s in self.series:
            zero = s.anchor(start)
            first = zero + timedelta(seconds=s.steps[0][0]) if s.steps else zero
            last = zero + timedelta(seconds=s.duration_s)
            if first > start:
                out.append(
                    f"{s.offering}: the trace starts at {first.isoformat()}, after the "
                    "simulation starts; the offering is untraced until then"
                )
            if s.start_time is not None and last < end:
                out.append(
                    f"{s.offering}: the trace ends at {last.isoformat()}, before the "
                    "simulation ends; its last value is held"
                )
        return out

    def apply(self, cloud: Timeline, *, start: datetime, end: datetime | None = None) -> int:
        """Schedule every series on ``cloud`` (see :meth:`CapacityTrace.apply`).

        Returns:
            how many capacity changes were scheduled in total.
        """
        return sum(s.apply(cloud, start=start, end=end) for s in self.series)

    def with_machine_type(self, machine_type: str) -> TraceSet:
        """The same availability attributed to another machine type (a trace measured on one
        machine type standing in for a similar one)."""
        return replace(
            self,
            series=tuple(
                replace(s, offering=s.offering.model_copy(update={"machine_type": machine_type}))
                for s in self.series
            ),
        )


def combine(sets: Sequence[TraceSet]) -> TraceSet:
    """One set holding every series of ``sets``.

    Raises:
        ConfigError: two sets trace the same offering (which one would win is not obvious).
    """
    if len(sets) == 1:
        return sets[0]
    owner: dict[OfferingKey, str] = {}
    for ts in sets:
        for offering in ts.offerings:
            if offering in owner:
                raise ConfigError(
                    f"{offering} is traced by both {owner[offering]} and {ts.name}; "
                    "pass traces of different offerings",
                    path="--trace",
                )
            owner[offering] = ts.name
    return TraceSet(
        name=" + ".join(ts.name for ts in sets),
        series=tuple(sorted((s for ts in sets for s in ts.series), key=_series_key)),
        description="; ".join(ts.description for ts in sets if ts.description),
        license=", ".join(dict.fromkeys(ts.license for ts in sets)),
        notice="\n\n".join(ts.notice for ts in sets if ts.notice),
        redistributable=all(ts.redistributable for ts in sets),
    )


def _series_key(s: CapacityTrace) -> tuple[str, str, str]:
    return (s.offering.machine_type, s.offering.zone, s.offering.capacity_type.value)


def load_trace(
    path: str | Path,
    *,
    machine_type: str,
    convention: Convention,
    zone: str | None = None,
    capacity_type: CapacityType = CapacityType.SPOT,
    available_nodes: int | None = None,
    start_time: datetime | None = None,
) -> CapacityTrace:
    """Read one ``{"metadata": {"gap_seconds": ...}, "data": [...]}`` trace file.

    Args:
        path: the JSON file.
        machine_type: the machine type the trace stands for (traces do not always say; the
            SkyNomad probes used a3-highgpu-1g, SpotHedge GCP1 is ambiguous, see PROVENANCE).
        convention: ``"count"`` (value = obtainable nodes) or ``"preempted"`` (1 = none).
        zone: defaults to ``metadata.zone``, else the file name up to the first ``_``.
        capacity_type: the offering's capacity type (spot unless told otherwise).
        available_nodes: capacity of an available tick under ``"preempted"`` (``None`` =
            unlimited).
        start_time: the time of tick 0 when the file does not record one (``metadata.
            start_time`` wins); ``None`` leaves the trace in relative time.

    Raises:
        ConfigError: the file is missing or not in that shape (the message names the field).
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read trace: {exc}", path=str(p)) from exc
    if not isinstance(doc, Mapping) or not isinstance(doc.get("metadata"), Mapping):
        raise ConfigError("expected an object with 'metadata' and 'data'", path=f"{p}:metadata")
    meta = doc["metadata"]
    gap = meta.get("gap_seconds")
    if not isinstance(gap, int | float) or isinstance(gap, bool) or gap <= 0:
        raise ConfigError("must be a positive number of seconds", path=f"{p}:metadata.gap_seconds")
    data = doc.get("data")
    if (
        not isinstance(data, list)
        or not data
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in data)
    ):
        raise ConfigError("must be a non-empty list of non-negative integers", path=f"{p}:data")
    zone = zone or meta.get("zone") or p.name.split("_", 1)[0]
    if isinstance(meta.get("start_time"), str):
        try:
            start_time = datetime.fromisoformat(meta["start_time"])
        except ValueError as exc:
            raise ConfigError(
                f"not an ISO 8601 time: {exc}", path=f"{p}:metadata.start_time"
            ) from exc
    values: tuple[int | None, ...]
    if convention == "preempted":
        values = tuple(0 if v else available_nodes for v in data)
    else:
        values = tuple(data)
    return CapacityTrace.from_ticks(
        OfferingKey(machine_type=machine_type, zone=zone, capacity_type=capacity_type),
        gap_s=float(gap),
        values=values,
        start_time=start_time,
        source=str(p),
    )


def load_trace_dir(
    directory: str | Path,
    *,
    machine_type: str,
    convention: Convention,
    pattern: str = "*.json",
    capacity_type: CapacityType = CapacityType.SPOT,
    available_nodes: int | None = None,
    start_time: datetime | None = None,
) -> list[CapacityTrace]:
    """Every trace in ``directory`` matching ``pattern``, one per zone, sorted by file name.

    Example: ``load_trace_dir(".../skynomad-gcp-h100-spot/converted_full",
    machine_type="a3-highgpu-1g", convention="preempted", available_nodes=16)``.
    """
    files = sorted(Path(directory).glob(pattern))
    if not files:
        raise ConfigError(f"no trace files match {pattern!r}", path=str(directory))
    return [
        load_trace(
            f,
            machine_type=machine_type,
            convention=convention,
            capacity_type=capacity_type,
            available_nodes=available_nodes,
            start_time=start_time,
        )
        for f in files
    ]
