"""``ccc catalog``: list the accelerator machine types ccc knows, with zones and prices.

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
import yaml
from rich.console import Console
from rich.table import Table

from ccc.api.builtin_catalog import load_builtin_catalog, load_catalog_file
from ccc.api.catalog import Catalog, MachineType
from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, region_of


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
) -> None:
    """List accelerator machine types: shape, zones and hourly prices (built-in GCP catalog)."""
    try:
        cat = load_catalog_file(catalog_file) if catalog_file else load_builtin_catalog()
    except ConfigError as exc:
        _fail(str(exc))
    machines = select(cat, accelerator=accelerator, zone=zone, family=family)
    if output is OutputFormat.TABLE:
        _print_table(cat, machines, zone=zone)
        return
    doc = to_document(cat, machines, zone=zone)
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


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


def to_document(
    cat: Catalog, machines: Sequence[MachineType], *, zone: str | None
) -> dict[str, Any]:
    """The JSON/YAML form: machine types with zones and the prices of every (or the zone's) region.

    Prices are USD per node-hour; ``null`` means no source gives one. ``flexStart`` is derived
    from on-demand with the catalog's documented ``flexStartDiscount`` assumption.
    """
    region = region_of(zone) if zone else None
    items: list[dict[str, Any]] = []
    for m in machines:
        regions = [region] if region else list(m.regions)
        prices = []
        for r in regions:
            rec = cat.price_record(m.name, r)
            prices.append(
                {
                    "region": r,
                    "onDemand": cat.price(m.name, r, CapacityType.ON_DEMAND),
                    "spot": cat.price(m.name, r, CapacityType.SPOT),
                    "flexStart": cat.price(m.name, r, CapacityType.FLEX_START),
                    "source": rec.source if rec else None,
                    "note": rec.note if rec else "",
                }
            )
        items.append(
            {
                "name": m.name,
                "family": m.family,
                "vcpus": m.vcpus,
                "memoryGb": m.memory_gb,
                "accelerator": (
                    {
                        "kind": m.accelerator.kind.value,
                        "type": m.accelerator.type,
                        "count": m.accelerator.count,
                    }
                    if m.accelerator
                    else None
                ),
                "tpuTopologies": [
                    {"topology": t.topology, "chips": t.chips, "hosts": t.hosts}
                    for t in m.tpu_topologies
                ],
                "zones": [zone] if zone else list(m.zones),
                "unverifiedZones": [z for z in m.unverified_zones if zone in (None, z)],
                "maxPods": m.max_pods,
                "prices": prices,
                "note": m.note,
            }
        )
    return {
        "flexStartDiscount": cat.flex_start_discount,
        "flexStartDiscountNote": cat.flex_start_discount_note,
        "machineTypes": items,
    }


def _print_table(cat: Catalog, machines: Sequence[MachineType], *, zone: str | None) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    region = region_of(zone) if zone else None
    title = f"Accelerator machine types in {zone}" if zone else "Accelerator machine types"
    table = Table(title=title, title_justify="left")
    table.add_column("machine type", no_wrap=True)
    table.add_column("accelerator", no_wrap=True)
    table.add_column("vCPUs", justify="right")
    table.add_column("memory GB", justify="right")
    table.add_column("zone" if zone else "zones", justify="right" if not zone else "left")
    if region:
        table.add_column(f"on-demand $/h ({region})", justify="right")
        table.add_column("spot $/h", justify="right")
    else:
        table.add_column("priced regions")
    all_tpu = all(m.is_tpu for m in machines)
    if all_tpu:
        table.add_column("TPU topologies (hosts)")
    for m in machines:
        accel = f"{m.accelerator.type} x {m.accelerator.count}" if m.accelerator else "-"
        row = [m.name, accel, str(m.vcpus), f"{m.memory_gb:g}"]
        if zone and region:
            row.append(f"{zone} (unverified)" if zone in m.unverified_zones else zone)
            row.append(_money(cat.price(m.name, region, CapacityType.ON_DEMAND)))
            row.append(_money(cat.price(m.name, region, CapacityType.SPOT)))
        else:
            n_unverified = len(m.unverified_zones)
            zones = str(len(m.zones))
            row.append(f"{zones} ({n_unverified} unverified)" if n_unverified else zones)
            row.append(", ".join(cat.regions_with_price(m.name)) or "-")
        if all_tpu:
            row.append(_topologies(m))
        table.add_row(*row)
    console.print(table)
    keep = 1 - cat.flex_start_discount
    console.print(
        "Prices: USD per node-hour (a TPU node is one host of its slice); '-' means no source "
        f"gives a price. Flex-start is estimated as on-demand x {keep:.2f} (assumption; "
        "see docs/catalog.md). Use -o json for sources and notes.",
        soft_wrap=True,
    )


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
        zones = sorted({z for m in without_zone for z in m.zones})
        same_region = [z for z in zones if region_of(z) == region_of(zone)]
        hint = (
            f"in {region_of(zone)} try {', '.join(same_region)}"
            if same_region
            else f"it is offered in {', '.join(zones)}"
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
