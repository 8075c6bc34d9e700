"""``ccc simulate``: days of spot weather through the controller's own loop, in virtual time.

Exit codes: 0 done; 1 an input is wrong (the message names the file, line or flag and how to
fix it); 2 the flags do not make a run (missing or conflicting flags, as for any usage error).
docs/simulate.md is the user guide.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog, load_catalog_file
from ccc.api.catalog import Catalog
from ccc.api.computeclass import KIND, ComputeClass
from ccc.api.duration import DURATION_HELP, parse_duration
from ccc.api.errors import ConfigError
from ccc.api.manifest import (
    InvalidManifest,
    ManifestError,
    load_file,
    manifest_files,
    parse_compute_class,
)
from ccc.api.values import region_of
from ccc.cli.plan_cmd import synthetic_pods
from ccc.cli.plan_inputs import PlanInputError, load_workload
from ccc.cli.simulate_serving import load_serving_demand
from ccc.controller.logs import configure_logging
from ccc.simulate.on_demand import cheapest_on_demand, pods_per_node
from ccc.simulate.progress import SimulationProgress
from ccc.simulate.recorder import MissingPriceError
from ccc.simulate.result import SimulationResult, iso
from ccc.simulate.run import (
    DEFAULT_BOOT_TIME_S,
    DemandModel,
    SimulationSpec,
    WorkloadDemand,
    simulate,
)
from ccc.simulate.scenario import ScenarioError, load_scenario
from ccc.simulate.table import render_table
from policies.class_admission import AdmissionSettings, admit_request
from policies.tiers import compile_class
from providers.clock import VIRTUAL_EPOCH
from providers.simulated.trace_sources import resolve_traces
from providers.simulated.traces import TraceSet


class Output(StrEnum):
    table = "table"
    json = "json"


class Preemption(StrEnum):
    strict = "strict"
    zero = "zero"


class InputError(Exception):
    """An input that cannot be used; the message is printed as is (exit 1)."""


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _class_files(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        try:
            found = manifest_files(p)
        except ManifestError as exc:
            raise InputError(str(exc)) from exc
        if not found:
            raise InputError(f"{p}: no *.yaml or *.yml files in this directory")
        out.extend(found)
    return out


def load_classes(paths: Sequence[Path]) -> list[tuple[ComputeClass, dict[str, Any]]]:
    """Every ComputeClass in the files (directories: their ``*.yaml``/``*.yml``), validated.

    Raises:
        InputError: a file cannot be read, a class is invalid (every problem, located), two
            classes share a name, or there is none.
    """
    out: list[tuple[ComputeClass, dict[str, Any]]] = []
    problems: list[str] = []
    for f in _class_files(paths):
        try:
            docs = load_file(f)
        except ManifestError as exc:
            raise InputError(str(exc)) from exc
        for doc in docs:
            if doc.kind != KIND:
                continue
            try:
                cc = parse_compute_class(doc.body)
            except InvalidManifest as exc:
                problems += [
                    f"{f}:{doc.line}: ComputeClass/{doc.name or '?'}: {p}" for p in exc.problems
                ]
                continue
            if any(c.metadata.name == cc.metadata.name for c, _ in out):
                problems.append(f"{f}:{doc.line}: ComputeClass/{cc.metadata.name}: defined twice")
                continue
            out.append((cc, dict(doc.body)))
    if problems:
        raise InputError("\n".join(problems))
    if not out:
        raise InputError(
            f"no ComputeClass in {', '.join(str(p) for p in paths)}; give the class files "
            "(or a directory holding them)"
        )
    return out


def _seconds(flag: str, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InputError(f"{flag} {value!r}: expected {DURATION_HELP}") from exc


def _start(value: str | None, traces: TraceSet | None) -> datetime:
    if value is None:
        found = traces.start_time if traces is not None else None
        return found or VIRTUAL_EPOCH
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(
            f"--start {value!r}: expected an ISO 8601 time such as 2025-10-04T00:10:00Z"
        ) from exc
    if t.tzinfo is None:
        raise InputError(f"--start {value!r}: give a time zone (…Z or …+00:00)")
    return t.astimezone(UTC)


def _region_and_zones(
    region: str | None,
    zones: str | None,
    classes: Sequence[ComputeClass],
    traces: TraceSet | None,
    catalog: Catalog,
) -> tuple[str, tuple[str, ...] | None]:
    """The region reported and the zones for rules that name none (docs/simulate.md,
    "Region and zones")."""
    known = set(catalog.zones())
    if zones is not None:
        chosen = tuple(z.strip() for z in zones.split(",") if z.strip())
        unknown = [z for z in chosen if z not in known]
        if not chosen or unknown:
            raise InputError(
                f"--zones {zones!r}: unknown zone(s) {', '.join(unknown) or '(none given)'}; "
                "use zones from `ccc catalog`"
            )
        regions = sorted({region_of(z) for z in chosen})
        if region is not None and regions != [region]:
            raise InputError(f"--zones {zones!r} are not all in --region {region}")
        return ",".join(regions), chosen
    traced = sorted({o.zone for o in traces.offerings}) if traces is not None else []
    if region is None:
        named = sorted(
            {
                region_of(z)
                for cc in classes
                for rule in cc.spec.priorities
                for z in ((rule.location.zones or []) if rule.location else [])
            }
        )
        candidates = named or sorted({region_of(z) for z in traced})
        if len(candidates) != 1:
            raise InputError(
                "cannot tell which region to simulate (the classes and traces span "
                f"{', '.join(candidates) or 'no region'}); pass --region R or --zones Z,..."
            )
        region = candidates[0]
    if not any(region_of(z) == region for z in known):
        raise InputError(f"--region {region!r}: no zone of the catalog is in this region")
    in_region = tuple(z for z in traced if region_of(z) == region)
    if in_region:
        return region, in_region
    return region, tuple(sorted(z for z in known if region_of(z) == region))


def build_spec(
    class_paths: Sequence[Path],
    *,
    workload: Path | None,
    replicas: int | None,
    trace: Sequence[str],
    serving_group: Path | None = None,
    scenario: Path | None,
    region: str | None,
    zones: str | None,
    start: str | None,
    duration: str,
    boot_time: str,
    preemption: Preemption,
    seed: int | None,
    catalog: Catalog,
) -> tuple[SimulationSpec, list[str]]:
    """The run the flags describe, and warnings to print.

    Raises:
        InputError: a located problem with an input.
    """
    duration_s = _seconds("--duration", duration)
    if duration_s <= 0:
        raise InputError(f"--duration {duration!r}: must be longer than 0s")
    boot_s = _seconds("--boot-time", boot_time)
    classes = load_classes(class_paths)
    by_name = {cc.metadata.name: cc for cc, _ in classes}
    try:
        traces = resolve_traces(trace) if trace else None
    except ConfigError as exc:
        raise InputError(f"--trace: {exc}") from exc
    begin = _start(start, traces)
    region_name, default_zones = _region_and_zones(
        region, zones, list(by_name.values()), traces, catalog
    )
    warnings: list[str] = []
    if traces is not None:
        warnings += traces.window_warnings(begin, begin + timedelta(seconds=duration_s))
    demand: list[DemandModel] = []
    reference = None
    if serving_group is not None:
        group, reference = load_serving_demand(
            serving_group, by_name, catalog, default_zones=default_zones
        )
        demand.append(group)
    elif workload is not None:
        try:
            pods_file = load_workload(workload)
        except PlanInputError as exc:
            raise InputError("\n".join(exc.lines)) from exc
        if not pods_file.pods:
            raise InputError(f"{workload}: no Pods, Deployments, Jobs or other pod workloads")
        # Pods are admitted as ccc's admission webhook admits them (the class toleration).
        admission = AdmissionSettings()
        for p in pods_file.pods:
            p = admit_request(
                p,
                namespace_labels=pods_file.namespaces.get(p.namespace, {}),
                known_classes=set(by_name),
                settings=admission,
            )
            if p.compute_class not in by_name:
                raise InputError(
                    f"{workload}: {p.name} selects ComputeClass {p.compute_class!r}, which is "
                    f"not among the classes given ({', '.join(sorted(by_name))}); add its file "
                    f"or set nodeSelector {{{L.CLASS_LABEL}: NAME}}"
                )
            demand.append(WorkloadDemand(name=p.name, pod=p, replicas=p.count))
    else:
        first = classes[0][0]
        try:
            [pod] = synthetic_pods(first, catalog, replicas or 1)
        except SystemExit as exc:  # its error is printed
            raise typer.Exit(1) from exc
        demand.append(WorkloadDemand(name=first.metadata.name, pod=pod, replicas=replicas or 1))
    names = [d.name for d in demand if d.kind == "workload"]
    if len(set(names)) != len(names):
        raise InputError(f"{workload}: two workloads are named alike ({', '.join(names)})")
    loaded = None
    if scenario is not None:
        try:
            loaded = load_scenario(scenario)
        except ScenarioError as exc:
            raise InputError(str(exc)) from exc
        problems = loaded.problems(
            duration_s=duration_s,
            workloads=names,
            serving_groups=[d.name for d in demand if d.kind == "servingGroup"],
        )
        if problems:
            raise InputError("\n".join(problems))
    lead = demand[0]
    if isinstance(lead, WorkloadDemand):
        compiled = compile_class(
            by_name[lead.pod.compute_class or ""], catalog, default_zones=default_zones
        )
        reference = cheapest_on_demand(compiled, catalog.price, pods_per_node(lead.pod))
    spec = SimulationSpec(
        classes=[body for _, body in classes],
        demand=demand,
        start=begin,
        duration_s=duration_s,
        region=region_name,
        catalog=catalog,
        zones=default_zones,
        traces=traces,
        scenario=loaded,
        boot_time_s=boot_s,
        preemption=preemption.value,
        seed=seed,
        on_demand=reference,
    )
    return spec, warnings


def simulate_command(
    classes: list[Path] = typer.Argument(
        ..., help="ComputeClass YAML files, or directories of them.", metavar="CLASS.yaml|DIR ..."
    ),
    workload: Path | None = typer.Option(
        None, "--workload", "-w", help="Pods, Deployments, Jobs or LeaderWorkerSets."
    ),
    replicas: int | None = typer.Option(
        None, "--replicas", "-n", min=0, help="N pods, each filling one node of the first rule."
    ),
    serving_group: Path | None = typer.Option(
        None,
        "--serving-group",
        help="A ServingGroup and its variants' Deployments: the demand is its capacity.",
    ),
    trace: list[str] = typer.Option(
        [], "--trace", help="Built-in trace name or path (repeatable): docs/simulate.md."
    ),
    scenario: Path | None = typer.Option(None, "--scenario", help="Scenario YAML."),
    region: str | None = typer.Option(None, "--region", help="Region to simulate."),
    zones: str | None = typer.Option(
        None, "--zones", help="Zones (comma-separated) for rules that name none."
    ),
    start: str | None = typer.Option(
        None, "--start", help="ISO 8601 start (default: the traces' start)."
    ),
    duration: str = typer.Option("14d", "--duration", help="Length of the window."),
    boot_time: str = typer.Option(
        f"{DEFAULT_BOOT_TIME_S:.0f}s", "--boot-time", help="VM to Ready node."
    ),
    preemption: Preemption = typer.Option(
        Preemption.strict, "--preemption", help="strict or zero: docs/simulate.md."
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Jitter boot times and trace drops from this seed (unset: exact); docs/simulate.md.",
    ),
    output: Output = typer.Option(Output.table, "--output", "-o", help="table or json."),
    report: Path | None = typer.Option(None, "--report", help="Write an HTML report here."),
    catalog_file: Path | None = typer.Option(
        None, "--catalog", help="Use this catalog instead of the built-in one."
    ),
) -> None:
    """Replay availability traces and scripted events through ccc's controller loop in virtual
    time; report what the classes served and cost."""
    given = [
        flag
        for flag, value in (
            ("--workload", workload),
            ("--replicas", replicas),
            ("--serving-group", serving_group),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise _usage(f"pass one of --workload, --replicas or --serving-group, not {given}")
    if not given:
        raise _usage("give the demand: --workload FILE, --replicas N or --serving-group FILE")
    try:
        if report is not None and not report.parent.is_dir():
            raise InputError(f"--report {report}: the directory {report.parent} does not exist")
        catalog = load_catalog_file(catalog_file) if catalog_file else load_builtin_catalog()
        spec, warnings = build_spec(
            classes,
            workload=workload,
            replicas=replicas,
            serving_group=serving_group,
            trace=trace,
            scenario=scenario,
            region=region,
            zones=zones,
            start=start,
            duration=duration,
            boot_time=boot_time,
            preemption=preemption,
            seed=seed,
            catalog=catalog,
        )
    except (InputError, ConfigError) as exc:
        for line in str(exc).splitlines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(1) from exc
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    result = _run(spec)
    if report is not None:
        _write_report(result, spec, report)
    if output is Output.json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        render_table(result, Console(width=max(140, Console().width)))


def _run(spec: SimulationSpec) -> SimulationResult:
    # The controller's own logs would be thousands of lines; its decisions are in the result.
    configure_logging("console", "error")
    try:
        with SimulationProgress(spec.start, spec.end) as progress:
            return simulate(spec, progress=progress)
    except MissingPriceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _write_report(result: SimulationResult, spec: SimulationSpec, path: Path) -> None:
    from ccc.simulate.report import render_report

    notes = [
        f"{iso(spec.start)} + {spec.duration_s / 86400:g} d, region {spec.region}, boot time "
        f"{spec.boot_time_s:g} s, preemption {spec.preemption}, "
        + ("exact (no seed)" if spec.seed is None else f"jitter seed {spec.seed}"),
    ]
    if spec.traces is not None:
        notes.append(f"trace: {spec.traces.name} ({spec.traces.license})")
    try:
        path.write_text(render_report(result, on_demand=spec.on_demand, notes=notes), "utf-8")
    except OSError as exc:
        typer.echo(f"error: --report {path}: cannot write: {exc}", err=True)
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
