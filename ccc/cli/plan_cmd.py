"""``ccc plan``: what ccc would do for a ComputeClass, before anything runs.

The plan is the controller's decide step (:func:`policies.decide.decide`) over a snapshot
built from files: the class, the pending pods of a workload file (or ``--replicas N`` synthetic
pods), offerings marked unavailable by ``--unavailable``, and the built-in catalog. Workload pods
are first admitted as ccc's admission webhook admits them (:mod:`policies.class_admission`: the
class toleration, the default class of a Namespace in the file or ``--default-compute-class``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from ccc.api import labels as L
from ccc.api.allocatable import allocatable
from ccc.api.builtin_catalog import load_builtin_catalog, load_catalog_file
from ccc.api.catalog import Catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.errors import ConfigError
from ccc.api.location import ClusterLocation
from ccc.api.workload import PodRequest, Toleration
from ccc.cli import plan_output
from ccc.cli.plan_inputs import (
    PlanInputError,
    check_zones,
    holds_serving_group,
    load_class,
    load_workload,
    parse_unavailable,
)
from ccc.cli.text_table import terminal_width
from policies.decide import decide
from policies.location import resolve_location
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState
from policies.tiers import compile_class

if TYPE_CHECKING:
    import typer

EXIT_PENDING = 2
"""``--detailed-exitcode``: some pods would stay Pending."""


class Output(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """A ``ccc plan`` command line (see :func:`register` for what each option means)."""

    class_file: Path
    workload: Path | None = None
    replicas: int | None = None
    unavailable: Sequence[str] = ()
    output: Output = Output.table
    catalog_file: Path | None = None
    region: str | None = None
    zones: str | None = None
    detailed_exitcode: bool = False
    unobtainable: Sequence[str] = ()
    admission: bool = True
    default_compute_class: str | None = None


def _fail(message: str, code: int = 1) -> SystemExit:
    """Print ``error: message`` on stderr; the exit to raise. ``SystemExit``, not Typer's
    ``Exit``: the command also runs without Typer (:func:`parse_plain`), and Typer lets it
    through with its code."""
    _err(f"error: {message}")
    return SystemExit(code)


def _input_error(exc: PlanInputError) -> SystemExit:
    for line in exc.lines:
        _err(f"error: {line}")
    return SystemExit(1)


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


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
    # A family of accelerator machines: fill the biggest; CPU machines: the smallest that fits.
    big = tier.machines[-1]
    m = big if big.accelerator is not None and tier.rule.gpu is None else tier.machines[0]
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


PLAN_HELP = (
    "Show, in order, every node pool ccc would try for the pending pods, and why.\n\n"
    "Exit status: 0 planned (pods may still stay Pending, see the outcome); 1 invalid input; "
    "with --detailed-exitcode, 2 when some pods would stay Pending (no rule can place them), "
    "so a CI job can gate on it."
)


def run(o: PlanOptions) -> int:
    """Plan ``o.class_file`` (or the ServingGroup there) and print the plan; the exit status
    (0, or :data:`EXIT_PENDING` with ``--detailed-exitcode``). Both ways into ``ccc plan``
    run this (:func:`parse_plain` without Typer, :func:`register`'s command with it), so they
    print the same.

    Raises:
        SystemExit: 1 after printing ``error: ...`` lines on stderr (invalid input).
    """
    class_file, workload, replicas = o.class_file, o.workload, o.replicas
    output, zones = o.output, o.zones
    if class_file != Path("-") and holds_serving_group(class_file):
        _plan_serving_group(o)
        return 0
    if workload is None and replicas is None:
        replicas = 1
    if workload is not None and replicas is not None:
        raise _fail("pass either --workload or --replicas, not both")
    try:
        catalog = load_catalog_file(o.catalog_file) if o.catalog_file else load_builtin_catalog()
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    now = datetime.now(UTC)
    header: list[str] = []
    try:
        cc = load_class(class_file)
        memory = parse_unavailable(o.unavailable, catalog, now)
        default_zones = check_zones(zones.split(","), catalog) if zones is not None else None
        try:
            cluster = resolve_location(cc, catalog, region=o.region, zones=default_zones)
        except ConfigError as exc:
            raise _fail(str(exc)) from exc
        header.append(f"cluster: region {cluster.describe()}")
        if workload is not None:
            loaded = load_workload(workload)
            pods = loaded.pods
            if o.admission:
                # the admission rules load only for a workload file (start-up of the rest)
                from policies.class_admission import AdmissionSettings, admit_request

                admission_settings = AdmissionSettings(cluster_default=o.default_compute_class)
                pods = [
                    admit_request(
                        p,
                        namespace_labels=loaded.namespaces.get(p.namespace, {}),
                        known_classes={cc.metadata.name},
                        settings=admission_settings,
                    )
                    for p in pods
                ]
            if loaded.skipped:
                header.append(f"workload {workload}: {loaded.skipped_text()}")
        else:
            pods = synthetic_pods(cc, catalog, replicas or 1, cluster)
    except PlanInputError as exc:
        raise _input_error(exc) from None
    selected = [p for p in pods if p.compute_class == cc.metadata.name]
    if workload is not None and not selected:
        raise _fail(
            f"{workload}: no pod selects the class {cc.metadata.name!r}; add "
            f"nodeSelector {{{L.CLASS_LABEL}: {cc.metadata.name}}} to the pod template"
        )
    snapshot = ClusterSnapshot(now=now, classes={cc.metadata.name: cc}, pending=selected)
    state = ControllerState(memory={cc.metadata.name: memory})
    settings = Settings(cluster=cluster, default_zones=default_zones, max_viable=None)
    result = decide(snapshot, state, catalog, settings)
    the_plan = result.plans[cc.metadata.name]
    if output is Output.json:
        sys.stdout.write(json.dumps(plan_output.to_json(the_plan), indent=2) + "\n")
    elif output is Output.yaml:
        import yaml

        sys.stdout.write(yaml.safe_dump(plan_output.to_json(the_plan), sort_keys=False))
    else:
        wide = output is Output.wide
        sys.stdout.write(
            plan_output.render_table(
                the_plan,
                width=None if wide else terminal_width(),
                wide=wide,
                pods=selected,
                header=header,
            )
        )
    sys.stdout.flush()
    if output in (Output.json, Output.yaml):
        for line in header:
            _err(line)
    if o.detailed_exitcode and plan_output.pending_groups(the_plan):
        return EXIT_PENDING
    return 0


def _plan_serving_group(o: PlanOptions) -> None:
    path, workload, output, catalog_file, zones = (
        o.class_file,
        o.workload,
        o.output,
        o.catalog_file,
        o.zones,
    )
    if o.replicas is not None:
        raise _fail("--replicas does not apply to a ServingGroup: its spec.capacity sets them")
    try:
        catalog = load_catalog_file(catalog_file) if catalog_file else load_builtin_catalog()
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    now = datetime.now(UTC)
    try:
        memory = parse_unavailable(o.unavailable, catalog, now)
        default_zones = check_zones(zones.split(","), catalog) if zones is not None else None
    except PlanInputError as exc:
        raise _input_error(exc) from None
    from ccc.cli.plan_serving import run_serving_plan

    run_serving_plan(
        [path, *([workload] if workload else [])],
        catalog=catalog,
        now=now,
        memory=memory,
        unobtainable=o.unobtainable,
        output="table" if output is Output.wide else output.value,
        default_zones=default_zones,
        region=o.region,
    )


def parse_plain(args: Sequence[str]) -> PlanOptions | None:
    """The options of ``ccc plan ARGS`` read without Typer, or ``None`` when the command line is
    not plain (:mod:`ccc.cli.plain_args`: help, usage errors, values Typer converts), for the
    Typer command to parse. Same options, same defaults as :func:`register`."""
    from ccc.cli.plain_args import PlainParser, parse, positive_int

    p = PlainParser()
    p.add_argument("class_file", type=Path)
    p.add_argument("--workload", "-w", type=Path)
    p.add_argument("--replicas", "-n", type=positive_int)
    p.add_argument("--unavailable", "-u", action="append", default=[])
    p.add_argument("--output", "-o", choices=[o.value for o in Output], default="table")
    p.add_argument("--catalog", dest="catalog_file", type=Path)
    p.add_argument("--region")
    p.add_argument("--zones")
    p.add_argument("--detailed-exitcode", action="store_true")
    p.add_argument("--unobtainable", action="append", default=[])
    p.add_argument("--admission", action="store_const", const=True, default=True)
    p.add_argument("--no-admission", dest="admission", action="store_const", const=False)
    p.add_argument("--default-compute-class")
    parsed = parse(p, args)
    if parsed is None:
        return None
    return PlanOptions(
        **{
            **vars(parsed),
            "output": Output(parsed.output),
            "unavailable": tuple(parsed.unavailable),
            "unobtainable": tuple(parsed.unobtainable),
        }
    )


def register(app: typer.Typer) -> None:
    """Add ``ccc plan`` to ``app``."""
    import typer

    @app.command("plan", help=PLAN_HELP)
    def plan(
        class_file: Path = typer.Argument(
            ..., help="ComputeClass YAML (ccc.dev/v1alpha1 or cloud.google.com/v1); - for stdin."
        ),
        workload: Path | None = typer.Option(
            None,
            "--workload",
            "-w",
            help="Pods, Deployments, StatefulSets, Jobs, CronJobs or LeaderWorkerSets (other kinds"
            " in the file are skipped).",
        ),
        replicas: int | None = typer.Option(
            None, "--replicas", "-n", min=1, help="N pods, each filling one node of the first rule."
        ),
        unavailable: list[str] = typer.Option(
            [],
            "--unavailable",
            "-u",
            help="MACHINE_TYPE:ZONE:CAPACITY_TYPE to treat as stocked out (repeatable).",
        ),
        output: Output = typer.Option(
            Output.table, "--output", "-o", help="table (fits the terminal), wide, json or yaml."
        ),
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
        detailed_exitcode: bool = typer.Option(
            False,
            "--detailed-exitcode",
            help="Exit 2 when some pods would stay Pending (0 when every pod has a first choice).",
        ),
        unobtainable: list[str] = typer.Option(
            [],
            "--unobtainable",
            help="ServingGroup plans: treat this variant's class as stocked out (repeatable).",
        ),
        admission: bool = typer.Option(
            True,
            "--admission/--no-admission",
            help="Plan the workload's pods as ccc's admission webhook admits them (class "
            "toleration, namespace and cluster default class); off: exactly as written.",
        ),
        default_compute_class: str | None = typer.Option(
            None,
            "--default-compute-class",
            help="The cluster default class of ccc run (pods that select none and whose Namespace "
            "in the workload file names no default).",
        ),
    ) -> None:
        """Show, in order, every node pool ccc would try for the pending pods, and why.

        Given a ServingGroup (a file with one, or a directory with the group, its workloads and
        their classes), show how its capacity is split over its variants instead.
        """
        options = PlanOptions(
            class_file=class_file,
            workload=workload,
            replicas=replicas,
            unavailable=unavailable,
            output=output,
            catalog_file=catalog_file,
            region=region,
            zones=zones,
            detailed_exitcode=detailed_exitcode,
            unobtainable=unobtainable,
            admission=admission,
            default_compute_class=default_compute_class,
        )
        raise typer.Exit(run(options))
