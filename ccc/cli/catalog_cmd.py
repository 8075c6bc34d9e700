"""``ccc catalog``: list the machine types ccc knows, with zones and prices; ``--refresh``
shows what the live cloud APIs would change.

Capacity planners use it to see what a ComputeClass rule can land on before writing one: the
shape of each machine type, where it is offered and what a node costs per hour in a zone's
region. Filters that match nothing, or name an accelerator, family or zone the catalog does not
know, end in a one-line message with close matches and exit code 1, never a traceback.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from ccc.api.builtin_catalog import load_builtin_catalog, load_catalog_file
from ccc.api.catalog import Catalog, MachineType
from ccc.api.catalog_diff import CatalogRefresh
from ccc.api.errors import CCCError, ConfigError
from ccc.api.machines import zone_order
from ccc.api.values import CapacityType, region_of
from ccc.cli.catalog_doc import catalog_doc, refresh_doc
from ccc.cli.text_table import paragraph, render, terminal_width

PIPED_WIDTH = 160
"""Line width of the table when stdout is not a terminal (and ``COLUMNS`` is not set)."""


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


def register(app: typer.Typer) -> None:
    """Register the ``catalog`` command on the ``ccc`` app."""
    app.command("catalog")(catalog)


def catalog(
    accelerator: Annotated[
        str | None,
        typer.Option(
            "--accelerator",
            "-a",
            help="GKE accelerator type, e.g. nvidia-l4, nvidia-h100-80gb, tpu-v6e-slice.",
        ),
    ] = None,
    zone: Annotated[
        str | None,
        typer.Option(
            "--zone", "-z", help="Only machine types offered in this zone; prices its region."
        ),
    ] = None,
    family: Annotated[
        str | None,
        typer.Option("--family", "-f", help="Machine family, e.g. g2, a3, ct5lp, ct6e."),
    ] = None,
    catalog_file: Annotated[
        Path | None,
        typer.Option("--catalog", help="Use this catalog YAML instead of the built-in one."),
    ] = None,
    output: Annotated[
        OutputFormat,
        typer.Option("--output", "-o", help="Output format.", case_sensitive=False),
    ] = OutputFormat.TABLE,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Refresh zones, shapes and prices from the project's Compute and Cloud Billing "
            "APIs (Application Default Credentials) and show what changed.",
        ),
    ] = False,
    gke_project: Annotated[
        str | None,
        typer.Option("--gke-project", envvar="CCC_GKE_PROJECT", help="Project for --refresh."),
    ] = None,
    gke_endpoint: Annotated[
        str | None,
        typer.Option("--gke-endpoint", help="host:port of an emulator for --refresh (tests)."),
    ] = None,
) -> None:
    """List machine types: shape, accelerators, zones and hourly prices (built-in GCP catalog)."""
    try:
        cat = load_catalog_file(catalog_file) if catalog_file else load_builtin_catalog()
    except ConfigError as exc:
        _fail(str(exc))
    machines = select(cat, accelerator=accelerator, zone=zone, family=family)
    if refresh:
        _refresh(cat, machines, project=gke_project, endpoint=gke_endpoint, output=output)
        return
    if output is OutputFormat.TABLE:
        _print_table(cat, machines, zone=zone, accelerator=accelerator)
        return
    _emit(catalog_doc(cat, machines, zone=zone), output)


def _emit(doc: dict[str, Any], output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(doc, indent=2))
    else:
        import yaml  # only for -o yaml (start-up)

        typer.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


def _refresh(
    cat: Catalog,
    machines: Sequence[MachineType],
    *,
    project: str | None,
    endpoint: str | None,
    output: OutputFormat,
) -> None:
    if not project:
        _fail("--refresh needs the project to read: pass --gke-project (or CCC_GKE_PROJECT)")
    import asyncio

    from ccc.controller.catalog_refresh import refresh_from_gke

    try:
        result = asyncio.run(refresh_from_gke(cat, project=project, endpoint=endpoint))
    except (CCCError, TimeoutError) as exc:
        _fail(f"refresh failed: {exc or 'timed out'}; the built-in snapshot is unchanged")
    subjects = (
        None
        if len(machines) == len(cat.machine_types)
        else {m.name for m in machines} | {t for m in machines for t in m.accelerator_types()}
    )
    if output is OutputFormat.TABLE:
        _print_changes(result, subjects)
    else:
        _emit(refresh_doc(result, subjects), output)
    if not result.refreshed:
        raise typer.Exit(code=1)


def _print_changes(result: CatalogRefresh, subjects: set[str] | None) -> None:
    from rich.console import Console  # rich only for the refresh's table (CLI start-up)
    from rich.table import Table

    console = Console() if Console().is_terminal else Console(width=160)
    changes = [c for c in result.changes if subjects is None or c.subject in subjects]
    table = Table(
        title=f"Catalog refresh: {len(changes)} changes ({', '.join(result.refreshed) or 'nothing'}"
        " refreshed)",
        title_justify="left",
    )
    for col in ("kind", "machine type / GPU", "what", "before", "after", "source"):
        table.add_column(col, overflow="fold")
    for c in changes:
        table.add_row(c.kind, c.subject, c.detail, c.before, c.after, c.source)
    console.print(table)
    for failure in result.failures:
        console.print(f"not refreshed, snapshot kept: {failure}", soft_wrap=True)


def select(
    cat: Catalog, *, accelerator: str | None, zone: str | None, family: str | None
) -> Sequence[MachineType]:
    """The machine types matching every given filter.

    Raises:
        typer.Exit: code 1 after printing why, when a filter names something the catalog does
            not know or the filters together match nothing.
    """
    if accelerator is not None and accelerator not in cat.accelerator_types():
        _fail(_unknown("accelerator type", accelerator, cat.accelerator_types()))
    if family is not None and family not in cat.families():
        _fail(_unknown("machine family", family, cat.families()))
    if zone is not None and zone not in cat.zones():
        _fail(_unknown("zone", zone, cat.zones(), what="offered in the catalog"))
    found = cat.machine_types_for(accelerator_type=accelerator, zone=zone, family=family)
    if not found:
        _fail(_nothing_matches(cat, accelerator=accelerator, zone=zone, family=family))
    return found


def _print_table(
    cat: Catalog, machines: Sequence[MachineType], *, zone: str | None, accelerator: str | None
) -> None:
    """The machine types as a plain-text table as wide as the terminal (:data:`PIPED_WIDTH`
    when piped), with a note on prices under it. Plain text, not rich: rich took about 0.5 s
    to lay out the full catalog's rows (benchmarks/cli_startup.py)."""
    width = terminal_width(default=PIPED_WIDTH)
    region = region_of(zone) if zone else None
    headers = ["machine type", "accelerator", "vCPUs", "memory GB", "zone" if zone else "zones"]
    right = {"vCPUs", "memory GB"} | ({"priced regions"} if not zone else set())
    if region:
        headers += ["on-demand $/h", "spot $/h"]
        right |= {"on-demand $/h", "spot $/h"}
    else:
        headers.append("priced regions")
        right.add("zones")
    all_tpu = all(m.is_tpu for m in machines)
    if all_tpu:
        headers.append("TPU topologies (hosts)")
    regions_priced = cat.priced_regions() if not zone else {}
    rows: list[list[str]] = []
    for m in machines:
        row = [m.name, _accelerator(m, accelerator), str(m.vcpus), f"{m.memory_gb:g}"]
        if zone and region:
            # With an attachable GPU as filter, price the VM with the fewest such GPUs.
            priced = (m.with_gpus(accelerator) if accelerator else None) or m
            row.append(f"{zone} (unverified)" if zone in m.unverified_zones else zone)
            row.append(_money(cat.price(priced, region, CapacityType.ON_DEMAND)))
            row.append(_money(cat.price(priced, region, CapacityType.SPOT)))
        else:
            n_unverified = len(m.unverified_zones)
            zones = str(len(m.zones))
            row.append(f"{zones} ({n_unverified} unverified)" if n_unverified else zones)
            row.append(f"{len(regions_priced.get(m.name, ()))} of {len(m.regions)}")
        if all_tpu:
            row.append(_topologies(m))
        rows.append(row)
    keep = 1 - cat.flex_start_discount
    title = f"Machine types in {zone}, prices of {region}" if zone else "Machine types"
    lines = [title]
    lines += render(
        headers,
        rows,
        width=width,
        right=right,
        wrap=("accelerator", "TPU topologies (hosts)", "zones"),
    )
    lines += paragraph(
        "Prices: USD per node-hour (a TPU node is one host of its slice); '-' means no source "
        "gives a price; with --accelerator of a GPU that attaches to N1, the VM with the fewest "
        "such GPUs (GPUs are billed on top of the VM). Flex-start is estimated "
        f"as on-demand x {keep:.2f} (assumption; see docs/catalog.md). Use -o json for zones, "
        "prices per region, sources and formulas.",
        width,
    )
    typer.echo("\n".join(lines))


def _accelerator(m: MachineType, wanted: str | None) -> str:
    if m.accelerator is not None:
        return f"{m.accelerator.type} x {m.accelerator.count}"
    if not m.gpu_attachments:
        return "-"
    shown = [a for a in m.gpu_attachments if wanted in (None, a.type)]
    return "attach " + "; ".join(f"{a.type} x {'/'.join(map(str, a.counts))}" for a in shown)


def _topologies(m: MachineType, *, shown: int = 8) -> str:
    """``2x2 (1), 2x4 (2), ...`` with hosts per slice; long lists are cut (see ``-o json``)."""
    parts = [f"{t.topology} ({t.hosts})" for t in m.tpu_topologies]
    if len(parts) > shown:
        parts = [*parts[:shown], f"... {len(parts) - shown} more"]
    return ", ".join(parts)


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _unknown(kind: str, value: str, known: Sequence[str], *, what: str = "in the catalog") -> str:
    return f"unknown {kind} {value!r}: none is {what}; {_suggest(value, known)}"


def _suggest(value: str, known: Sequence[str]) -> str:
    """Close matches of ``value``: names containing it first, then similar spellings."""
    needle = value.lower()
    containing = [k for k in known if needle in k.lower()]
    similar = difflib.get_close_matches(needle, known, n=3, cutoff=0.5)
    close = list(dict.fromkeys([*containing, *similar]))[:3]
    if close:
        return f"did you mean {', '.join(close)}?"
    listed = ", ".join(known[:20])
    return f"known: {listed}{' ...' if len(known) > 20 else ''}"


def _nothing_matches(
    cat: Catalog, *, accelerator: str | None, zone: str | None, family: str | None
) -> str:
    given = " ".join(
        f"--{flag} {val}"
        for flag, val in (("accelerator", accelerator), ("zone", zone), ("family", family))
        if val is not None
    )
    without_zone = cat.machine_types_for(accelerator_type=accelerator, family=family)
    if zone is not None and without_zone:
        zones = sorted({z for m in without_zone for z in m.zones}, key=zone_order)
        same_region = [z for z in zones if region_of(z) == region_of(zone)]
        shown = ", ".join(zones[:8]) + (f" ... {len(zones) - 8} more" if len(zones) > 8 else "")
        hint = (
            f"in {region_of(zone)} try {', '.join(same_region)}"
            if same_region
            else f"it is offered in {shown}"
        )
        return f"no machine type matches {given}: none is offered in {zone}; {hint}"
    families = sorted(
        {m.family for m in cat.machine_types_for(accelerator_type=accelerator)}
        if accelerator
        else set()
    )
    hint = f"; {accelerator} is in family {', '.join(families)}" if families else ""
    return f"no machine type matches {given}{hint}"


def _fail(message: str) -> NoReturn:
    typer.echo(f"ccc catalog: {message}", err=True)
    raise typer.Exit(code=1)
