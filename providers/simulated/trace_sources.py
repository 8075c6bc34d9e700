"""Named availability data sets and the one registry behind ``--trace NAME|PATH``.

* ``skynomad-h100`` (built in, Apache-2.0, shipped with its NOTICE and provenance in
  ``providers/simulated/data/skynomad-h100/``): a3-highgpu-1g Spot in 13 GCP zones, probed
  every 10 minutes for 14 days (2025-10-04 00:10Z to 2025-10-18 16:30Z). Availability is how
  many of 16 requested VMs launched (0-16; 16 means "16 or more").
* SpotHedge GCP A100 (``.../spothedge-traces/data/GCP1``) and the "Can't Be Late" traces
  (``.../skypilot-spot-traces/{availability,preemption}/...``): read from a path, never
  shipped, because their repositories state no licence.
* The generic CSV format (:mod:`providers.simulated.trace_csv`), and the SkyNomad data in its
  original shapes (the raw probe CSV, the ``converted_full`` JSON directory).

:func:`resolve_trace` turns one ``--trace`` argument into a :class:`TraceSet`: a built-in name
first, else a path whose shape says what it is (documented in docs/simulate.md, "Traces").
"""

from __future__ import annotations

import csv
import gzip
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path

from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, OfferingKey
from providers.simulated.trace_csv import load_csv_trace, parse_csv_trace
from providers.simulated.traces import (
    CapacityTrace,
    TraceSet,
    collapse_steps,
    combine,
    load_trace,
)

SKYNOMAD_MACHINE_TYPE = "a3-highgpu-1g"
#: SpotHedge GCP1 files are named ``*_a100_40gb_8``: 8 x A100 40GB, which is a2-highgpu-8g.
#: Its README says a2-ultragpu-4g instead (see the data set's PROVENANCE.md); pass
#: ``machine_type=`` to choose the other reading.
SPOTHEDGE_GCP_MACHINE_TYPE = "a2-highgpu-8g"
#: The hardware token in "Can't Be Late" / SpotHedge AWS file names -> the instance type.
FILE_TOKEN_MACHINE_TYPES = {
    "v100_1": "p3.2xlarge",
    "v100_8": "p3.16xlarge",
    "k80_1": "p2.xlarge",
    "k80_8": "p2.8xlarge",
    "intel_64": "r5.16xlarge",
    "c3-88": "c3-highcpu-88",
    "a100_40gb_8": SPOTHEDGE_GCP_MACHINE_TYPE,
}
_DATED_DIR = re.compile(r"(?:aws|gcp)-(\d\d)-(\d\d)-(\d{4})$")


@dataclass(frozen=True, slots=True)
class BuiltinTrace:
    """A trace shipped inside the package (``providers/simulated/data/<name>/``)."""

    name: str
    description: str
    license: str
    #: The probes' last round plus one interval: the CSV alone cannot say how long the last
    #: row lasted.
    end: datetime


BUILTIN_TRACES = {
    "skynomad-h100": BuiltinTrace(
        name="skynomad-h100",
        description=(
            "a3-highgpu-1g (1 x H100 80GB) Spot in 13 GCP zones, 16 VMs requested every "
            "10 minutes, 2025-10-04T00:10Z to 2025-10-18T16:30Z; available = how many launched "
            "(16 = 16 or more). SkyNomad, arXiv 2601.06520, andylizf/skynomad-artifact."
        ),
        license="Apache-2.0",
        end=datetime(2025, 10, 18, 16, 30, tzinfo=UTC),
    ),
}


def builtin_trace_names() -> tuple[str, ...]:
    return tuple(BUILTIN_TRACES)


def builtin_file(name: str, file: str) -> str:
    """Text of ``file`` (``NOTICE``, ``PROVENANCE.md``) shipped with built-in trace ``name``."""
    return resources.files("providers.simulated").joinpath("data", name, file).read_text("utf-8")


@cache
def load_builtin_trace(name: str) -> TraceSet:
    """A built-in trace, parsed once per process.

    Raises:
        ConfigError: no built-in trace has that name.
    """
    meta = BUILTIN_TRACES.get(name)
    if meta is None:
        raise ConfigError(
            f"no built-in trace {name!r}; built in: {', '.join(BUILTIN_TRACES)}", path="--trace"
        )
    blob = resources.files("providers.simulated").joinpath("data", name, "trace.csv.gz")
    text = gzip.decompress(blob.read_bytes()).decode("utf-8")
    parsed = parse_csv_trace(text, origin=f"built-in {name}", name=name)
    series = []
    for s in parsed.series:
        assert s.start_time is not None
        series.append(replace(s, duration_s=(meta.end - s.start_time).total_seconds(), gap_s=600.0))
    return TraceSet(
        name=name,
        series=tuple(series),
        description=meta.description,
        license=meta.license,
        notice=builtin_file(name, "NOTICE"),
        redistributable=True,
    )


def load_skynomad_probes(
    path: str | Path, *, machine_type: str = SKYNOMAD_MACHINE_TYPE
) -> TraceSet:
    """The SkyNomad probe table (``h100_spot_probes.csv``: ``run_id, scheduled_at_utc, zone,
    instances_requested, instances_created, ...``): availability = ``instances_created``.

    Raises:
        ConfigError: unreadable file, a missing column or a bad value (with the line).
    """
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read trace: {exc}", path=str(p)) from exc
    rows: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    reader = csv.DictReader(text.splitlines())
    wanted = {"scheduled_at_utc", "zone", "instances_created"}
    if not wanted <= set(reader.fieldnames or ()):
        raise ConfigError(
            f"expected the SkyNomad probe columns {', '.join(sorted(wanted))}", path=f"{p}:1"
        )
    for row in reader:
        try:
            at = datetime.fromisoformat(row["scheduled_at_utc"]).astimezone(UTC)
            created = int(row["instances_created"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad value: {exc}", path=f"{p}:{reader.line_num}") from exc
        rows[row["zone"]].append((at, created))
    if not rows:
        raise ConfigError("no probe rows", path=str(p))
    start = min(at for entries in rows.values() for at, _ in entries)
    end = max(at for entries in rows.values() for at, _ in entries)
    gap_s = 600.0
    series = [
        CapacityTrace(
            offering=OfferingKey(
                machine_type=machine_type, zone=zone, capacity_type=CapacityType.SPOT
            ),
            steps=collapse_steps(sorted(((at - start).total_seconds(), n) for at, n in entries)),
            duration_s=(end - start).total_seconds() + gap_s,
            start_time=start,
            gap_s=gap_s,
            source=str(p),
        )
        for zone, entries in sorted(rows.items())
    ]
    return TraceSet(
        name=str(p),
        series=tuple(series),
        description=BUILTIN_TRACES["skynomad-h100"].description,
        license="Apache-2.0",
        redistributable=True,
    )


def load_skynomad_converted(
    directory: str | Path,
    *,
    machine_type: str = SKYNOMAD_MACHINE_TYPE,
    available_nodes: int | None = 16,
) -> TraceSet:
    """SkyNomad ``converted_full/*.full.json`` (PREEMPTED convention: 1 = none available; a
    0 tick is ``available_nodes``, the 16 VMs the authors probed for)."""
    files = sorted(Path(directory).glob("*.full.json"))
    if not files:
        raise ConfigError("no *.full.json files", path=str(directory))
    series = tuple(
        load_trace(
            f, machine_type=machine_type, convention="preempted", available_nodes=available_nodes
        )
        for f in files
    )
    return TraceSet(name=str(directory), series=series, license="Apache-2.0", redistributable=True)


def load_spothedge_gcp(
    directory: str | Path, *, machine_type: str = SPOTHEDGE_GCP_MACHINE_TYPE
) -> TraceSet:
    """SpotHedge GCP1: A100 Spot, 0-4 obtainable, 150 s ticks, 6 zones, about 1.3 days.

    The files record no date, so the trace is relative (it starts with the simulation). The
    machine type is ambiguous upstream (see :data:`SPOTHEDGE_GCP_MACHINE_TYPE`).
    """
    files = sorted(Path(directory).glob("*_a100_40gb_8.json"))
    if not files:
        raise ConfigError("no *_a100_40gb_8.json files (SpotHedge data/GCP1)", path=str(directory))
    series = tuple(load_trace(f, machine_type=machine_type, convention="count") for f in files)
    return TraceSet(
        name=str(directory),
        series=series,
        description="SpotHedge (EuroSys'25) GCP A100 Spot capacity, 0-4 obtainable, 150 s ticks",
        license="none stated",
    )


def load_cant_be_late(path: str | Path, *, machine_type: str | None = None) -> TraceSet:
    """A "Can't Be Late" (NSDI'24) trace directory or file, or a SpotHedge AWS directory.

    Values count obtainable (availability sets) or running (preemption sets) spot instances.
    The machine type comes from the file name's hardware token (:data:`FILE_TOKEN_MACHINE_TYPES`)
    unless ``machine_type`` is given. A directory named like ``aws-02-15-2023`` dates the
    trace at that day's midnight UTC (approximate, per the data set's PROVENANCE); otherwise it
    is relative.
    """
    p = Path(path)
    files = sorted(p.glob("*.json")) if p.is_dir() else [p]
    if not files:
        raise ConfigError("no *.json trace files", path=str(p))
    dated = _DATED_DIR.search((p if p.is_dir() else p.parent).name)
    start = datetime(int(dated[3]), int(dated[1]), int(dated[2]), tzinfo=UTC) if dated else None
    series = []
    for f in files:
        zone, _, token = f.stem.partition("_")
        machine = machine_type or FILE_TOKEN_MACHINE_TYPES.get(token)
        if machine is None:
            raise ConfigError(
                f"cannot tell the machine type from {f.name!r} (known tokens: "
                f"{', '.join(FILE_TOKEN_MACHINE_TYPES)}); pass a machine type",
                path=str(f),
            )
        series.append(
            load_trace(f, machine_type=machine, convention="count", zone=zone, start_time=start)
        )
    return TraceSet(
        name=str(p),
        series=tuple(series),
        description="\"Can't Be Late\" (NSDI'24) / SpotHedge spot traces",
        license="none stated",
    )


def resolve_trace(spec: str, *, machine_type: str | None = None) -> TraceSet:
    """One ``--trace`` argument: a built-in name, else a path.

    Paths are recognised by shape: ``*.csv`` / ``*.csv.gz`` generic CSV (or the SkyNomad probe
    table ``h100_spot_probes.csv``); a directory of ``*.full.json`` (SkyNomad converted); of
    ``*_a100_40gb_8.json`` (SpotHedge GCP1); of other ``*.json`` traces, or one such file
    ("Can't Be Late", SpotHedge AWS). A data set's root directory is refused with the list of
    its trace directories.

    Args:
        spec: the argument.
        machine_type: attribute the availability to this machine type instead of the one the
            data set names (for a single-machine-type trace standing in for a similar one).

    Raises:
        ConfigError: unknown name, missing path or unrecognised contents (says what is known).
    """
    traces = _resolve(spec)
    if machine_type is not None:
        traces = traces.with_machine_type(machine_type)
    return traces


def resolve_traces(specs: Sequence[str], *, machine_type: str | None = None) -> TraceSet:
    """Every ``--trace`` argument, combined (see :func:`~providers.simulated.traces.combine`)."""
    if not specs:
        raise ConfigError("give at least one trace", path="--trace")
    return combine([resolve_trace(s, machine_type=machine_type) for s in specs])


def _resolve(spec: str) -> TraceSet:
    if spec in BUILTIN_TRACES:
        return load_builtin_trace(spec)
    p = Path(spec)
    if not p.exists():
        raise ConfigError(
            f"{spec!r} is neither a built-in trace ({', '.join(BUILTIN_TRACES)}) nor an "
            "existing file or directory",
            path="--trace",
        )
    if p.is_file():
        if p.name == "h100_spot_probes.csv":
            return load_skynomad_probes(p)
        if p.name.endswith((".csv", ".csv.gz")):
            return load_csv_trace(p)
        if p.name.endswith(".full.json"):
            return TraceSet(
                name=str(p),
                series=(
                    load_trace(
                        p,
                        machine_type=SKYNOMAD_MACHINE_TYPE,
                        convention="preempted",
                        available_nodes=16,
                    ),
                ),
                license="Apache-2.0",
                redistributable=True,
            )
        if p.suffix == ".json":
            return load_cant_be_late(p)
        raise ConfigError(
            "unrecognised trace file; use a .csv (generic format) or a .json trace",
            path=str(p),
        )
    if (p / "h100_spot_probes.csv").is_file():
        return load_skynomad_probes(p / "h100_spot_probes.csv")
    if any(p.glob("*.full.json")):
        return load_skynomad_converted(p)
    if any(p.glob("*_a100_40gb_8.json")):
        return load_spothedge_gcp(p)
    if any(p.glob("*.json")):
        return load_cant_be_late(p)
    inner = sorted(
        str(d.relative_to(p))
        for d in p.rglob("*")
        if d.is_dir() and (any(d.glob("*.json")) or (d / "h100_spot_probes.csv").is_file())
    )
    hint = f"; pass one of: {', '.join(inner)}" if inner else ""
    raise ConfigError(f"no trace files in this directory{hint}", path=str(p))
