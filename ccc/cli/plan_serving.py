"""``ccc plan`` for a ServingGroup: how its capacity would be split over its variants, and the
nodes and price per hour of each variant's share.

The input is a ServingGroup with its target workloads (Deployments, StatefulSets,
LeaderWorkerSets) and their ComputeClasses, in one file or a directory. For each variant the
existing walk (:func:`policies.decide.decide`) finds the first offering its class would
try and its price; a variant whose walk finds nothing to try (every offering marked unavailable
with ``--unavailable``) or that is named with ``--unobtainable`` is observed as unobtainable.
The split itself is the controller's policy (:func:`policies.serving.split`) for a group that has
no replicas yet; then the walk plans each variant's replicas.

The JSON form (``-o json``) is a documented interface (docs/serving-groups.md)::

    {"servingGroup": {"name": str, "namespace": str}, "capacity": int, "capacityUnit": str|null,
     "targetCapacity": float, "desiredCapacity": float, "pricePerHour": float|null,
     "degraded": bool, "degradedReason": str, "order": [str], "region": str,
     "variants": [{"name": str, "targetRef": {"kind": str, "name": str}, "class": str,
       "state": str, "cause": str, "reason": str, "replicas": int, "capacityPerReplica": float,
       "capacity": float, "pricePerReplicaHour": float|null, "nodes": int,
       "pricePerHour": float|null, "attempts": [<attempt as in ccc plan -o json>]}]}
"""

from __future__ import annotations

import copy
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ccc.api.catalog import Catalog
from ccc.api.computeclass import KIND as COMPUTE_CLASS_KIND
from ccc.api.computeclass import ComputeClass
from ccc.api.errors import ConfigError
from ccc.api.location import ClusterLocation
from ccc.api.manifest import Document, InvalidComputeClass, load_documents, parse_compute_class
from ccc.api.servinggroup import ServingGroup, Variant
from ccc.api.servinggroup.manifest import InvalidServingGroup, parse_serving_group
from ccc.api.servinggroup.resource import KIND as SERVING_GROUP_KIND
from ccc.api.workload import PodRequest, pod_requests_from_manifest
from policies.decide import decide
from policies.location import named_zones, resolve_location
from policies.obtainability import ObtainabilityMemory
from policies.plan import Attempt, Plan
from policies.serving import Split, VariantObservation, VariantTarget, split
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState

if TYPE_CHECKING:
    from rich.console import Console

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "LeaderWorkerSet"})


class ServingPlanError(ConfigError):
    """The files do not describe a plannable ServingGroup; ``lines`` are shown one per line."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = tuple(lines)
        super().__init__(self.lines[0] if self.lines else "invalid ServingGroup input")


@dataclass(frozen=True, slots=True)
class ServingInputs:
    """What a serving plan reads: the group, the workloads by (kind, name), the classes."""

    group: ServingGroup
    workloads: Mapping[tuple[str, str], Mapping[str, Any]]
    classes: Mapping[str, ComputeClass]


@dataclass(frozen=True, slots=True)
class VariantPlan:
    """One variant's share: the split's decision and the walk's first choice for it."""

    variant: Variant
    target: VariantTarget
    class_name: str
    price_per_replica_hour: float | None
    attempts: tuple[Attempt, ...]

    @property
    def nodes(self) -> int:
        return sum(a.nodes for a in self.attempts)

    @property
    def price_per_hour(self) -> float | None:
        prices = [a.price_per_hour for a in self.attempts]
        return None if any(p is None for p in prices) else sum(p for p in prices if p is not None)


@dataclass(frozen=True, slots=True)
class ServingPlan:
    group: ServingGroup
    split: Split
    variants: tuple[VariantPlan, ...]
    #: the one region every variant is planned in (a GKE cluster's node pools share it)
    cluster: ClusterLocation | None = None

    @property
    def price_per_hour(self) -> float | None:
        prices = [v.price_per_hour for v in self.variants if v.target.replicas]
        return None if any(p is None for p in prices) else sum(p for p in prices if p is not None)

    def to_json(self) -> dict[str, object]:
        spec = self.group.spec
        return {
            "servingGroup": {"name": self.group.name, "namespace": self.group.namespace},
            "capacity": spec.capacity,
            "capacityUnit": spec.capacity_unit,
            "targetCapacity": self.split.target_capacity,
            "desiredCapacity": self.split.desired_capacity,
            "pricePerHour": _round(self.price_per_hour),
            "degraded": self.split.degraded,
            "degradedReason": self.split.degraded_reason,
            "order": list(self.split.order),
            "region": self.cluster.region if self.cluster else None,
            "variants": [
                {
                    "name": v.variant.name,
                    "targetRef": {
                        "kind": v.variant.target_ref.kind,
                        "name": v.variant.target_ref.name,
                    },
                    "class": v.class_name,
                    "state": v.target.state.value,
                    "cause": v.target.cause.value,
                    "reason": v.target.reason,
                    "replicas": v.target.replicas,
                    "capacityPerReplica": v.variant.capacity_per_replica,
                    "capacity": v.variant.capacity_per_replica * v.target.replicas,
                    "pricePerReplicaHour": _round(v.price_per_replica_hour),
                    "nodes": v.nodes,
                    "pricePerHour": _round(v.price_per_hour),
                    "attempts": [a.to_json() for a in v.attempts],
                }
                for v in self.variants
            ],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def load_inputs(paths: Sequence[Path]) -> ServingInputs:
    """The one ServingGroup in ``paths`` (files or directories) with its workloads and classes.

    Raises:
        ServingPlanError: with one line per problem (``FILE: KIND/NAME: field: message``).
        ManifestError: a file is unreadable or not YAML.
    """
    docs: list[Document] = [doc for path in paths for doc in load_documents(path)]
    problems: list[str] = []
    groups = [d for d in docs if d.kind == SERVING_GROUP_KIND]
    if len(groups) != 1:
        raise ServingPlanError(
            [
                f"expected exactly one ServingGroup in {', '.join(map(str, paths))}, found"
                f" {len(groups)}; pass the files of one group"
            ]
        )
    try:
        group = parse_serving_group(groups[0].body)
    except InvalidServingGroup as exc:
        raise ServingPlanError(
            [f"{groups[0].source}: ServingGroup/{groups[0].name or '?'}: {p}" for p in exc.problems]
        ) from exc
    classes: dict[str, ComputeClass] = {}
    for doc in docs:
        if doc.kind == COMPUTE_CLASS_KIND:
            try:
                cc = parse_compute_class(doc.body)
            except InvalidComputeClass as exc:
                problems += [
                    f"{doc.source}: ComputeClass/{doc.name or '?'}: {p}" for p in exc.problems
                ]
                continue
            classes[cc.name] = cc
    workloads = {
        (str(d.kind), str(d.name)): d.body
        for d in docs
        if d.kind in WORKLOAD_KINDS and d.name and isinstance(d.body, Mapping)
    }
    if problems:
        raise ServingPlanError(problems)
    return ServingInputs(group=group, workloads=workloads, classes=classes)


def _pods(body: Mapping[str, Any], replicas: int) -> list[PodRequest]:
    scaled = copy.deepcopy(dict(body))
    scaled.setdefault("spec", {})["replicas"] = replicas
    return pod_requests_from_manifest(scaled)


def _walk(
    pods: Sequence[PodRequest],
    cc: ComputeClass,
    catalog: Catalog,
    *,
    now: datetime,
    memory: ObtainabilityMemory,
    default_zones: Sequence[str] | None,
    cluster: ClusterLocation | None,
) -> Plan | None:
    snapshot = ClusterSnapshot(
        now=now,
        classes={cc.name: cc},
        pending=[p for p in pods if p.compute_class == cc.name],
    )
    state = ControllerState(memory={cc.name: memory})
    settings = Settings(cluster=cluster, default_zones=default_zones, max_viable=None)
    return decide(snapshot, state, catalog, settings).plans.get(cc.name)


def _chosen(plan: Plan | None) -> tuple[Attempt, ...] | None:
    """The first choice of every pod group, or None when some group has nothing to try."""
    if plan is None or not plan.groups:
        return None
    chosen = [g.chosen for g in plan.groups]
    return None if any(a is None for a in chosen) else tuple(a for a in chosen if a is not None)


def _variant_class(
    index: int, variant: Variant, inputs: ServingInputs
) -> tuple[Mapping[str, Any], ComputeClass]:
    ref = variant.target_ref
    body = inputs.workloads.get((ref.kind, ref.name))
    where = f"spec.variants[{index}].targetRef"
    if body is None:
        raise ServingPlanError(
            [f"{where}: {ref.kind}/{ref.name} is not in the files; add its manifest"]
        )
    names = {p.compute_class for p in _pods(body, 1)}
    if names == {None} or not names:
        raise ServingPlanError(
            [
                f"{where}: the pods of {ref.kind}/{ref.name} select no ComputeClass; add the node"
                " selector ccc.dev/compute-class: NAME to its pod template"
            ]
        )
    name = sorted(n for n in names if n)[0]
    cc = inputs.classes.get(name)
    if cc is None:
        raise ServingPlanError(
            [
                f"{where}: {ref.kind}/{ref.name} selects ComputeClass {name}, which is not in the"
                " files; add it"
            ]
        )
    return body, cc


def plan_serving_group(
    inputs: ServingInputs,
    catalog: Catalog,
    *,
    now: datetime,
    memory: ObtainabilityMemory | None = None,
    unobtainable: Sequence[str] = (),
    default_zones: Sequence[str] | None = None,
    cluster: ClusterLocation | None = None,
) -> ServingPlan:
    """Split the group's capacity for a group with no replicas yet, and walk each share.

    Args:
        memory: offerings to treat as unavailable, in every class.
        unobtainable: variant names whose classes report every offering unavailable.
        cluster: the cluster's location; every variant is planned inside it (``None``: the
            location :func:`serving_location` gives).

    Raises:
        ServingPlanError: a target workload or class is missing, or a variant name is unknown.
    """
    memory = memory or ObtainabilityMemory()
    spec = inputs.group.spec
    if cluster is None:
        cluster = serving_location(inputs, catalog)
    unknown = sorted(set(unobtainable) - {v.name for v in spec.variants})
    if unknown:
        names = ", ".join(v.name for v in spec.variants)
        raise ServingPlanError([f"--unobtainable {', '.join(unknown)}: no such variant ({names})"])
    observed: dict[str, VariantObservation] = {}
    prices: dict[str, float | None] = {}
    resolved: dict[str, tuple[Mapping[str, Any], ComputeClass]] = {}
    target = spec.capacity + spec.spare
    for index, variant in enumerate(spec.variants):
        body, cc = resolved[variant.name] = _variant_class(index, variant, inputs)
        nominal = max(1, math.ceil(target / variant.capacity_per_replica))
        chosen = _chosen(
            _walk(
                _pods(body, nominal),
                cc,
                catalog,
                now=now,
                memory=memory,
                default_zones=default_zones,
                cluster=cluster,
            )
        )
        priced = chosen is not None and all(a.price_per_hour is not None for a in chosen)
        prices[variant.name] = (
            sum(a.price_per_hour or 0.0 for a in chosen) / nominal if chosen and priced else None
        )
        observed[variant.name] = VariantObservation(
            offerings_unavailable=chosen is None or variant.name in unobtainable,
            class_name=cc.name,
        )
    result = split(spec, observed, now=now, prices=prices)
    plans = []
    for variant in spec.variants:
        body, cc = resolved[variant.name]
        decision = result[variant.name]
        attempts: tuple[Attempt, ...] = ()
        if decision.replicas:
            walked = _walk(
                _pods(body, decision.replicas),
                cc,
                catalog,
                now=now,
                memory=memory,
                default_zones=default_zones,
                cluster=cluster,
            )
            attempts = _chosen(walked) or ()
        plans.append(
            VariantPlan(
                variant=variant,
                target=decision,
                class_name=cc.name,
                price_per_replica_hour=prices[variant.name],
                attempts=attempts,
            )
        )
    return ServingPlan(group=inputs.group, split=result, variants=tuple(plans), cluster=cluster)


def serving_location(
    inputs: ServingInputs,
    catalog: Catalog,
    *,
    region: str | None = None,
    zones: Sequence[str] | None = None,
) -> ClusterLocation:
    """The one region a group is planned in: ``--region``/``--zones`` when given, else the
    region of the first zone a variant's class names (in variant order), else the default
    (:func:`policies.location.resolve_location`).

    Raises:
        ConfigError: ``zones`` span several regions, or do not lie in ``region``.
    """
    named = None
    for index, variant in enumerate(inputs.group.spec.variants):
        try:
            _, cc = _variant_class(index, variant, inputs)
        except ServingPlanError:
            continue  # reported by the plan itself
        if named_zones(cc):
            named = cc
            break
    return resolve_location(named, catalog, region=region, zones=zones)


def render_table(plan: ServingPlan, console: Console) -> None:
    """The split as a table: one row per variant, then the totals."""
    from rich.table import Table  # rich only when a table is printed (CLI start-up)

    spec = plan.group.spec
    unit = f" {spec.capacity_unit}" if spec.capacity_unit else ""
    table = Table(
        title=f"ccc plan: ServingGroup/{plan.group.name} ({spec.capacity}{unit},"
        f" preference {spec.preference})"
    )
    for col in (
        "variant",
        "class",
        "state",
        "replicas",
        "capacity",
        "nodes",
        "machine type",
        "zone",
        "pricing",
        "$/h",
    ):
        table.add_column(col, overflow="fold")
    table.add_column("reason", overflow="fold")
    for v in plan.variants:
        first = v.attempts[0] if v.attempts else None
        price = v.price_per_hour
        table.add_row(
            v.variant.name,
            v.class_name,
            v.target.state.value,
            str(v.target.replicas),
            f"{v.variant.capacity_per_replica * v.target.replicas:g}",
            str(v.nodes) if v.attempts else "-",
            (first.machine_type or "-") if first else "-",
            (first.zone or "-") if first else "-",
            first.capacity_type.value if first and first.capacity_type else "-",
            "" if price is None or not v.attempts else f"{price:,.2f}",
            v.target.reason,
        )
    console.print(table)
    total = plan.price_per_hour
    cost = "price unknown" if total is None else f"${total:,.2f}/h"
    summary = (
        f"[bold]split:[/bold] {plan.split.desired_capacity:g} of {plan.split.target_capacity:g}"
        f"{unit} desired, {cost}; preference order {' > '.join(plan.split.order)}"
    )
    console.print(summary)
    if plan.split.degraded:
        console.print(f"[bold red]degraded:[/bold red] {plan.split.degraded_reason}")


def run_serving_plan(
    paths: Sequence[Path],
    *,
    catalog: Catalog,
    now: datetime,
    memory: ObtainabilityMemory,
    unobtainable: Sequence[str],
    output: str,
    default_zones: Sequence[str] | None,
    region: str | None = None,
) -> None:
    """``ccc plan`` on a ServingGroup: print the split as a table, JSON or YAML.

    Raises:
        SystemExit: 1 after printing every problem of the input, one per line, on stderr (not
            Typer's ``Exit``: ``ccc plan`` also runs without Typer, :mod:`ccc.cli.entry`).
    """
    try:
        inputs = load_inputs(paths)
        cluster = serving_location(inputs, catalog, region=region, zones=default_zones)
        plan = plan_serving_group(
            inputs,
            catalog,
            now=now,
            memory=memory,
            unobtainable=unobtainable,
            default_zones=default_zones,
            cluster=cluster,
        )
    except ServingPlanError as exc:
        sys.stderr.write("".join(f"error: {line}\n" for line in exc.lines))
        raise SystemExit(1) from exc
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(1) from exc
    if output == "json":
        sys.stdout.write(json.dumps(plan.to_json(), indent=2) + "\n")
    elif output == "yaml":
        sys.stdout.write(yaml.safe_dump(plan.to_json(), sort_keys=False))
    else:
        from rich.console import Console

        sys.stdout.write(f"cluster: region {cluster.describe()}\n")
        sys.stdout.flush()
        render_table(plan, Console(width=max(160, Console().width)))
    if output in ("json", "yaml"):
        sys.stderr.write(f"cluster: region {cluster.describe()}\n")
