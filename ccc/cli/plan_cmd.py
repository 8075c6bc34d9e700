"""``ccc plan``: what ccc would do for a ComputeClass, before anything runs.

The plan is the controller's decide step (:func:`policies.decide.decide`) over a snapshot built
from files: the class, the pending pods of a workload file (or ``--replicas N`` synthetic
pods), offerings marked unavailable by ``--unavailable``, and the built-in catalog.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table

from ccc.api import labels as L
from ccc.api.allocatable import allocatable
from ccc.api.builtin_catalog import load_builtin_catalog, load_catalog_file
from ccc.api.catalog import Catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.errors import ConfigError
from ccc.api.location import ClusterLocation
from ccc.api.manifest import (
    Document,
    InvalidComputeClass,
    ManifestError,
    load_file,
    parse_compute_class,
)
from ccc.api.values import CapacityType, OfferingKey
from ccc.api.workload import (
    WORKLOAD_KINDS,
    PodRequest,
    Toleration,
    pod_requests_from_manifest,
)
from ccc.cli.plan_serving import holds_serving_group, run_serving_plan
from policies.decide import decide
from policies.location import resolve_location
from policies.obtainability import ObtainabilityMemory, Unavailability
from policies.plan import Plan
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState
from policies.tiers import compile_class


class Output(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _documents(path: Path) -> list[Document]:
    try:
        return load_file(path)
    except ManifestError as exc:
        raise _fail(str(exc)) from exc


def load_class(path: Path) -> ComputeClass:
    """The single ComputeClass in ``path``; every problem is printed on its own line as
    ``FILE: ComputeClass/NAME: field.path: message``."""
    classes = [d for d in _documents(path) if d.is_compute_class]
    if len(classes) != 1:
        raise _fail(
            f"{path}: expected exactly one ComputeClass document, found {len(classes)}; "
            "split the file or pass the one you want to plan"
        )
    doc = classes[0]
    try:
        return parse_compute_class(doc.body)
    except InvalidComputeClass as exc:
        for problem in exc.problems:
            typer.echo(f"{path}: ComputeClass/{doc.name or '?'}: {problem}", err=True)
        raise typer.Exit(1) from exc


def load_workload(path: Path) -> list[PodRequest]:
    """The pods the workloads of ``path`` would create. Documents of other kinds (Services,
    ConfigMaps…) make no pods: they are skipped and counted on stderr."""
    out: list[PodRequest] = []
    skipped = 0
    for doc in _documents(path):
        if not isinstance(doc.body, dict):
            raise _fail(f"{path}:{doc.line}: document {doc.index + 1} is not a mapping")
        if doc.kind is not None and doc.kind not in WORKLOAD_KINDS:
            skipped += 1
            continue
        try:
            out.extend(pod_requests_from_manifest(doc.body))
        except (ConfigError, ValueError, TypeError) as exc:
            raise _fail(f"{path}:{doc.line}: {doc.kind or '?'}/{doc.name or '?'}: {exc}") from exc
    if skipped:
        typer.echo(f"{path}: {skipped} document(s) of other kinds skipped (no pods)", err=True)
    return out


def synthetic_pods(
    cc: ComputeClass, catalog: Catalog, replicas: int, cluster: ClusterLocation | None = None
) -> list[PodRequest]:
    """``replicas`` pods, each sized to fill one node of the class's first usable rule (for a
    multi-host TPU rule, ``replicas`` whole slices: one pod per host, as a LeaderWorkerSet).
    The rule is looked up in ``cluster`` first, else in the class's own region, so a plan for
    a region the class does not use still shows why every rule is skipped."""
    compiled = compile_class(cc, catalog, cluster=cluster)
    tier = next((t for t in compiled.tiers if t.machines), None)
    if tier is None and cluster is not None:
        compiled = compile_class(cc, catalog)
        tier = next((t for t in compiled.tiers if t.machines), None)
    if tier is None:
        if cc.spec.priorities and all(r.nodepools for r in cc.spec.priorities):
            raise _fail(
                "every rule of this class names existing node pools (nodepools), which a plan "
                "without a cluster cannot see; plan a class with machineType, gpu or tpu rules"
            )
        reasons = "; ".join(f"{p.path}: {p.message}" for p in compiled.problems)
        raise _fail(
            "--replicas needs a rule with a machine type from the catalog to size pods"
            + (f" ({reasons})" if reasons else "")
            + "; pass --workload FILE instead"
        )
    m = tier.machines[-1] if tier.rule.gpu is None and tier.rule.tpu is None else tier.machines[0]
    a = allocatable(m)
    return [
        PodRequest(
            name=f"{cc.metadata.name}-replica",
            count=replicas * tier.hosts_per_slice,
            cpu_m=int(a.cpu_m * 0.9),
            memory_bytes=int(a.memory_bytes * 0.9),
            gpus=a.gpus,
            tpus=a.tpus,
            node_selector={L.CLASS_LABEL: cc.metadata.name},
            tolerations=(Toleration(operator="Exists"),),
            group_size=tier.hosts_per_slice,
        )
    ]


def parse_unavailable(values: list[str], now: datetime) -> ObtainabilityMemory:
    entries = []
    for v in values:
        parts = v.split(":")
        if len(parts) != 3:
            raise _fail(f"--unavailable {v!r}: expected MACHINE_TYPE:ZONE:CAPACITY_TYPE")
        mt, zone, ct = parts
        try:
            cap = CapacityType(ct)
        except ValueError as exc:
            choices = ", ".join(c.value for c in CapacityType)
            raise _fail(f"--unavailable {v!r}: capacity type must be one of {choices}") from exc
        key = OfferingKey(machine_type=mt, zone=zone, capacity_type=cap)
        entries.append(
            Unavailability(key, "MARKED_BY_USER", "--unavailable", 1, now, now + timedelta(hours=1))
        )
    return ObtainabilityMemory.of(entries)


def render_table(plan: Plan, console: Console) -> None:
    where = f" in {plan.cluster.region}" if plan.cluster is not None else ""
    table = Table(title=f"ccc plan: ComputeClass/{plan.class_name}{where}", show_lines=False)
    for col in (
        "#",
        "rule",
        "zone",
        "capacity",
        "machine type",
        "accel",
        "nodes",
        "$/h",
        "decision",
        "reason",
    ):
        table.add_column(col, overflow="fold")
    for n, a in enumerate(plan.attempts, 1):
        style = {"create": "green", "scale": "cyan", "skip": "dim"}[a.decision]
        acc = f"{a.accelerator.type} x{a.accelerator.count}" if a.accelerator else ""
        price = "" if a.price_per_hour is None else f"{a.price_per_hour:,.2f}"
        table.add_row(
            str(n),
            str(a.rule),
            a.zone or "-",
            a.capacity_type.value if a.capacity_type else "-",
            a.machine_type or "-",
            acc,
            str(a.nodes) if a.nodes else "-",
            price,
            f"[{style}]{a.decision}[/{style}]",
            a.reason,
        )
    if plan.cluster is not None:
        console.print(f"[bold]cluster:[/bold] region {plan.cluster.describe()}", highlight=False)
    console.print(table)
    console.print(f"[bold]outcome:[/bold] {plan.outcome}")
    for w in plan.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)


def plan(
    class_file: Path = typer.Argument(
        ..., help="ComputeClass YAML (ccc.dev/v1alpha1 or cloud.google.com/v1)."
    ),
    workload: Path | None = typer.Option(
        None, "--workload", "-w", help="Pods, Deployments, Jobs or LeaderWorkerSets."
    ),
    replicas: int | None = typer.Option(
        None,
        "--replicas",
        "-n",
        min=1,
        help="N pods, each filling one node of the first rule (N slices for multi-host TPUs).",
    ),
    unavailable: list[str] = typer.Option(
        [],
        "--unavailable",
        "-u",
        help="MACHINE_TYPE:ZONE:CAPACITY_TYPE to treat as stocked out (repeatable).",
    ),
    output: Output = typer.Option(Output.table, "--output", "-o", help="table, json or yaml."),
    catalog_file: Path | None = typer.Option(
        None, "--catalog", help="Use this catalog instead of the built-in one."
    ),
    region: str | None = typer.Option(
        None,
        "--region",
        help="The cluster's region (default: the region of the zones the class names, else "
        "us-central1).",
    ),
    zones: str | None = typer.Option(
        None,
        "--zones",
        help="The cluster's zones, comma-separated, one region; used by rules that name none "
        "(default: every catalog zone of the region).",
    ),
    unobtainable: list[str] = typer.Option(
        [],
        "--unobtainable",
        help="ServingGroup plans: treat this variant's class as stocked out (repeatable).",
    ),
) -> None:
    """Show, in order, every node pool ccc would try for the pending pods, and why.

    Given a ServingGroup (a file with one, or a directory with the group, its workloads and
    their classes), show how its capacity is split over its variants instead.
    """
    if holds_serving_group(class_file):
        _plan_serving_group(
            class_file, workload, replicas, unavailable, unobtainable, output, catalog_file, zones
        )
        return
    if workload is None and replicas is None:
        replicas = 1
    if workload is not None and replicas is not None:
        raise _fail("pass either --workload or --replicas, not both")
    try:
        catalog = load_catalog_file(catalog_file) if catalog_file else load_builtin_catalog()
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    cc = load_class(class_file)
    zone_list = [z.strip() for z in zones.split(",") if z.strip()] if zones else None
    try:
        cluster = resolve_location(cc, catalog, region=region, zones=zone_list)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    now = datetime.now(UTC)
    pods = (
        load_workload(workload) if workload else synthetic_pods(cc, catalog, replicas or 1, cluster)
    )
    selected = [p for p in pods if p.compute_class == cc.metadata.name]
    if workload is not None and not selected:
        raise _fail(
            f"{workload}: no pod selects the class {cc.metadata.name!r}; add "
            f"nodeSelector {{{L.CLASS_LABEL}: {cc.metadata.name}}} to the pod template"
        )
    snapshot = ClusterSnapshot(now=now, classes={cc.metadata.name: cc}, pending=selected)
    state = ControllerState(memory={cc.metadata.name: parse_unavailable(unavailable, now)})
    settings = Settings(cluster=cluster, default_zones=zone_list, max_viable=None)
    result = decide(snapshot, state, catalog, settings)
    the_plan = result.plans[cc.metadata.name]
    if output is Output.json:
        sys.stdout.write(json.dumps(the_plan.to_json(), indent=2) + "\n")
    elif output is Output.yaml:
        sys.stdout.write(yaml.safe_dump(the_plan.to_json(), sort_keys=False))
    else:
        render_table(the_plan, Console(width=max(160, Console().width)))


def _plan_serving_group(
    path: Path,
    workload: Path | None,
    replicas: int | None,
    unavailable: list[str],
    unobtainable: list[str],
    output: Output,
    catalog_file: Path | None,
    zones: str | None,
) -> None:
    if replicas is not None:
        raise _fail("--replicas does not apply to a ServingGroup: its spec.capacity sets them")
    try:
        catalog = load_catalog_file(catalog_file) if catalog_file else load_builtin_catalog()
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    now = datetime.now(UTC)
    run_serving_plan(
        [path, *([workload] if workload else [])],
        catalog=catalog,
        now=now,
        memory=parse_unavailable(unavailable, now),
        unobtainable=unobtainable,
        output=output.value,
        default_zones=[z.strip() for z in zones.split(",") if z.strip()] if zones else None,
    )


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
