"""The generic availability trace format: one CSV file, any number of offerings.

::

    time,machineType,zone,capacityType,available
    2025-10-04T00:10:00Z,a3-highgpu-1g,us-central1-a,spot,16
    2025-10-04T00:20:00Z,a3-highgpu-1g,us-central1-a,spot,3

* ``time``: an ISO 8601 instant with a timezone (``Z`` or ``+00:00``), or an offset from the
  start of the simulation (``0``, ``600``, ``10m``, ``1h30m``); one file uses one form.
* ``machineType``, ``zone``: as in the catalog (``a3-highgpu-1g``, ``us-central1-a``).
* ``capacityType``: ``spot``, ``on-demand``, ``flex-start`` or ``reservation``.
* ``available``: how many nodes of the offering can be held from ``time`` until the offering's
  next row (the last row holds to the end of the simulation): a non-negative integer, or
  ``unlimited`` (or empty).

Columns may come in any order; other columns, a missing one, an offering with two rows at the
same time, or a bad value are errors that name the line and column. Blank lines and lines
starting with ``#`` are skipped. Rows need not be sorted. Files ending in ``.gz`` are read
through gzip. docs/simulate.md is the user-facing description.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from ccc.api.duration import DURATION_HELP, format_duration, parse_duration
from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, OfferingKey
from providers.simulated.traces import CapacityTrace, Step, TraceSet

HEADER = ("time", "machineType", "zone", "capacityType", "available")
_CAPACITY_TYPES = ", ".join(c.value for c in CapacityType)


def load_csv_trace(path: str | Path, *, name: str | None = None) -> TraceSet:
    """Read a generic CSV trace (``.csv``, or gzip-compressed ``.csv.gz``).

    Raises:
        ConfigError: the file cannot be read or is not in the format (names line and column).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
        text = (gzip.decompress(raw) if p.name.endswith(".gz") else raw).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise ConfigError(f"cannot read trace: {exc}", path=str(p)) from exc
    return parse_csv_trace(text, origin=str(p), name=name)


def parse_csv_trace(text: str, *, origin: str, name: str | None = None) -> TraceSet:
    """Parse generic CSV trace text (see the module docstring).

    Args:
        text: the CSV document.
        origin: where it came from, for error messages and :attr:`CapacityTrace.source`.
        name: the set's name (defaults to ``origin``).

    Raises:
        ConfigError: with ``path`` = ``ORIGIN:LINE:COLUMN`` (or ``ORIGIN:LINE``).
    """
    reader = csv.reader(io.StringIO(text))
    columns: dict[str, int] | None = None
    rows: dict[OfferingKey, list[tuple[float | datetime, int | None, int]]] = defaultdict(list)
    absolute: bool | None = None
    for cells in reader:
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if columns is None:
            columns = _header(cells, origin, line)
            continue
        if len(cells) != len(columns):
            raise ConfigError(
                f"expected {len(columns)} columns ({','.join(columns)}), found {len(cells)}",
                path=f"{origin}:{line}",
            )
        cell = {k: cells[i].strip() for k, i in columns.items()}
        when = _time(cell["time"], origin, line)
        if absolute is None:
            absolute = isinstance(when, datetime)
        elif absolute != isinstance(when, datetime):
            raise ConfigError(
                "mixes ISO 8601 times and offsets; use one form in the whole file",
                path=f"{origin}:{line}:time",
            )
        offering = _offering(cell, origin, line)
        rows[offering].append((when, _available(cell["available"], origin, line), line))
    if columns is None:
        raise ConfigError(
            f"empty trace; the first line is the header {','.join(HEADER)}", path=origin
        )
    if not rows:
        raise ConfigError("the trace has a header but no rows", path=origin)
    return _trace_set(rows, origin=origin, name=name or origin)


def _header(cells: list[str], origin: str, line: int) -> dict[str, int]:
    names = [c.strip() for c in cells]
    unknown = [n for n in names if n not in HEADER]
    missing = [h for h in HEADER if h not in names]
    if unknown or missing or len(set(names)) != len(names):
        problems = []
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if len(set(names)) != len(names):
            problems.append("a column appears twice")
        raise ConfigError(
            f"{'; '.join(problems)}; the header is {','.join(HEADER)}", path=f"{origin}:{line}"
        )
    return {n: i for i, n in enumerate(names)}


def _time(text: str, origin: str, line: int) -> float | datetime:
    try:
        return parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(
            f"{text!r} is neither an ISO 8601 time (2025-10-04T00:10:00Z) nor an offset "
            f"({DURATION_HELP})",
            path=f"{origin}:{line}:time",
        ) from exc
    if when.tzinfo is None:
        raise ConfigError(
            f"{text!r} has no timezone; add Z (UTC) or an offset such as +00:00",
            path=f"{origin}:{line}:time",
        )
    return when.astimezone(UTC)


def _offering(cell: dict[str, str], origin: str, line: int) -> OfferingKey:
    for column in ("machineType", "zone"):
        if not cell[column]:
            raise ConfigError("must not be empty", path=f"{origin}:{line}:{column}")
    try:
        capacity_type = CapacityType(cell["capacityType"])
    except ValueError as exc:
        raise ConfigError(
            f"{cell['capacityType']!r} is not a capacity type; use one of {_CAPACITY_TYPES}",
            path=f"{origin}:{line}:capacityType",
        ) from exc
    return OfferingKey(
        machine_type=cell["machineType"], zone=cell["zone"], capacity_type=capacity_type
    )


def _available(text: str, origin: str, line: int) -> int | None:
    if text in ("", "unlimited"):
        return None
    if not text.isdigit():
        raise ConfigError(
            f"{text!r} is not a number of nodes; use a non-negative integer or 'unlimited'",
            path=f"{origin}:{line}:available",
        )
    return int(text)


def _trace_set(
    rows: dict[OfferingKey, list[tuple[float | datetime, int | None, int]]],
    *,
    origin: str,
    name: str,
) -> TraceSet:
    times = [when for entries in rows.values() for when, _, _ in entries]
    start = min(times)
    end = max(times)

    def offset(when: float | datetime) -> float:
        if isinstance(when, datetime) and isinstance(start, datetime):
            return (when - start).total_seconds()
        assert isinstance(when, float)
        return when

    series = []
    for offering, entries in rows.items():
        entries.sort(key=lambda e: offset(e[0]))
        steps: list[Step] = []
        for (when, value, line), previous in zip(entries, [None, *entries[:-1]], strict=True):
            if previous is not None and offset(previous[0]) == offset(when):
                raise ConfigError(
                    f"{offering} has two rows at the same time (lines {previous[2]} and {line})",
                    path=f"{origin}:{line}:time",
                )
            if not steps or steps[-1][1] != value:
                steps.append((offset(when), value))
        series.append(
            CapacityTrace(
                offering=offering,
                steps=tuple(steps),
                duration_s=offset(end),
                start_time=start if isinstance(start, datetime) else None,
                source=origin,
            )
        )
    series.sort(key=lambda s: (s.offering.machine_type, s.offering.zone, s.offering.capacity_type))
    return TraceSet(name=name, series=tuple(series))


def format_csv_trace(traces: TraceSet) -> str:
    """``traces`` in the generic CSV format: one row per step, sorted by time then offering.

    Series with a start time are written with ISO 8601 times (``...Z``); a set whose series
    all lack one is written with offsets. Mixing the two cannot be written.

    Raises:
        ValueError: some series have a start time and others do not.
    """
    absolute = {s.start_time is not None for s in traces.series}
    if len(absolute) > 1:
        raise ValueError("cannot write absolute and relative series in one CSV file")
    rows: list[tuple[float, str, str]] = []
    for s in traces.series:
        o = s.offering
        for offset, value in s.steps:
            if s.start_time is not None:
                when = s.start_time.timestamp() + offset
                text = datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")
            else:
                when = offset
                text = format_duration(offset) if offset == int(offset) else str(offset)
            avail = "unlimited" if value is None else str(value)
            key = f"{o.machine_type},{o.zone},{o.capacity_type.value}"
            rows.append((when, key, f"{text},{key},{avail}"))
    rows.sort(key=lambda r: (r[0], r[1]))
    return "\n".join([",".join(HEADER), *(r[2] for r in rows)]) + "\n"
