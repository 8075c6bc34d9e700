"""Capacity scripts from real spot availability traces.

Two trace families are understood (see the PROVENANCE.md next to each data set):

* **Counts** (SkyPilot spot-traces, SpotHedge ``GCP1``/``AWS*``):
  ``{"metadata": {"gap_seconds": G}, "data": [n0, n1, ...]}`` where ``n_i`` is how many spot
  instances could be obtained or kept at tick ``i``. It becomes the offering's total capacity.
* **Preempted flags** (SkyNomad ``converted_full/*.json``): same layout plus ``zone`` and
  ``start_time`` in the metadata, but ``data`` uses the PREEMPTED convention: **1 = unavailable
  (running spot VMs are preempted), 0 = available**. 1 becomes capacity 0; 0 becomes
  ``available_nodes`` (unlimited by default, or the 16 VMs the authors probed for).

A :class:`CapacityTrace` is applied to a cloud as ``set_capacity`` changes at virtual times;
consecutive equal values collapse into one change, so a 14-day trace costs a few hundred
events. Capacity dropping below what runs preempts the newest spot nodes, which is how a trace
produces preemption notices.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, OfferingKey
from providers.simulated.timeline import Timeline, When

Convention = Literal["count", "preempted"]


@dataclass(frozen=True, slots=True)
class CapacityTrace:
    """Total capacity of one offering, one value per tick.

    Attributes:
        offering: the machine type, zone and capacity type the trace drives.
        gap_s: seconds between ticks.
        values: capacity at each tick (``None`` = unlimited).
        source: where it came from (a file path), for reports.
        start_time: the wall-clock time of tick 0 when the trace records it.
    """

    offering: OfferingKey
    gap_s: float
    values: tuple[int | None, ...]
    source: str = ""
    start_time: datetime | None = None

    @property
    def duration_s(self) -> float:
        return self.gap_s * len(self.values)

    def changes(self) -> list[tuple[float, int | None]]:
        """``(offset_s, capacity)`` at tick 0 and wherever the value changes."""
        out: list[tuple[float, int | None]] = []
        for i, value in enumerate(self.values):
            if not out or out[-1][1] != value:
                out.append((i * self.gap_s, value))
        return out

    def available_fraction(self) -> float:
        """Fraction of ticks where at least one node was obtainable."""
        if not self.values:
            return 0.0
        return sum(1 for v in self.values if v is None or v > 0) / len(self.values)

    def apply(self, cloud: Timeline, *, start: When = 0.0) -> int:
        """Schedule the trace on ``cloud`` with tick 0 at ``start`` (a time, or seconds after
        the cloud's start).

        Returns:
            how many capacity changes were scheduled.
        """
        changes = self.changes()
        for offset_s, capacity in changes:
            at: When = (
                start + timedelta(seconds=offset_s)
                if isinstance(start, datetime)
                else start + offset_s
            )
            cloud.set_capacity(self.offering, capacity, at=at)
        return len(changes)


def load_trace(
    path: str | Path,
    *,
    machine_type: str,
    convention: Convention,
    zone: str | None = None,
    capacity_type: CapacityType = CapacityType.SPOT,
    available_nodes: int | None = None,
) -> CapacityTrace:
    """Read one trace file.

    Args:
        path: a ``{"metadata": {"gap_seconds": ...}, "data": [...]}`` JSON file.
        machine_type: the machine type the trace stands for (traces do not always say; the
            SkyNomad probes used a3-highgpu-1g, SpotHedge GCP1 is ambiguous, see PROVENANCE).
        convention: ``"count"`` (value = obtainable nodes) or ``"preempted"`` (1 = none).
        zone: defaults to ``metadata.zone``, else the file name up to the first ``_``.
        capacity_type: the offering's capacity type (spot unless told otherwise).
        available_nodes: capacity of an available tick under ``"preempted"`` (``None`` =
            unlimited).

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
    if not isinstance(gap, int | float) or gap <= 0:
        raise ConfigError("must be a positive number of seconds", path=f"{p}:metadata.gap_seconds")
    data = doc.get("data")
    if not isinstance(data, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in data
    ):
        raise ConfigError("must be a list of non-negative integers", path=f"{p}:data")
    zone = zone or meta.get("zone") or p.name.split("_", 1)[0]
    start_time = None
    if isinstance(meta.get("start_time"), str):
        start_time = datetime.fromisoformat(meta["start_time"])
    values: tuple[int | None, ...]
    if convention == "preempted":
        values = tuple(0 if v else available_nodes for v in data)
    else:
        values = tuple(data)
    return CapacityTrace(
        offering=OfferingKey(machine_type=machine_type, zone=zone, capacity_type=capacity_type),
        gap_s=float(gap),
        values=values,
        source=str(p),
        start_time=start_time,
    )


def load_trace_dir(
    directory: str | Path,
    *,
    machine_type: str,
    convention: Convention,
    pattern: str = "*.json",
    capacity_type: CapacityType = CapacityType.SPOT,
    available_nodes: int | None = None,
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
        )
        for f in files
    ]
