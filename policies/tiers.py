"""Compile a ComputeClass into ordered offering tiers.

A tier is one rule of ``spec.priorities`` resolved against the catalog: the machine type(s) it
allows, the zones it may use and the capacity types it tries, in the order the walk visits them
(rule → machine type → zone → capacity type). Problems that make a rule unusable (a machine
type missing from the catalog, a zone that does not offer it) are returned as data with the
field path, never raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ccc.api.catalog import Catalog, MachineType, TpuTopology
from ccc.api.computeclass import ComputeClass, PriorityRule
from ccc.api.values import CapacityType, NodePool, ReservationAffinity, ReservationRef


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """Why a rule (or one zone of it) cannot be used. ``path`` is the camelCase field path."""

    rule_index: int
    path: str
    message: str


@dataclass(frozen=True, slots=True)
class Tier:
    """One usable rule, resolved.

    ``machines`` are the candidate machine types, smallest first (the walk picks the first that
    fits the pods). ``existing_pools`` is set instead for ``nodepools`` rules.
    """

    rule_index: int
    rule: PriorityRule
    machines: tuple[MachineType, ...]
    zones: tuple[str, ...]
    capacity_types: tuple[CapacityType, ...]
    reservation: ReservationAffinity | None
    tpu_topology: TpuTopology | None = None
    existing_pools: tuple[NodePool, ...] = ()
    missing_pools: tuple[str, ...] = ()
    wait_s: int | None = None

    @property
    def hosts_per_slice(self) -> int:
        return self.tpu_topology.hosts if self.tpu_topology is not None else 1


@dataclass(frozen=True, slots=True)
class CompiledClass:
    name: str
    tiers: tuple[Tier, ...]
    problems: tuple[RuleProblem, ...]
    when_unsatisfiable: str
    #: rule indices in walk order (including rules that have problems)
    order: tuple[int, ...]

    def problems_for(self, rule_index: int) -> list[RuleProblem]:
        return [p for p in self.problems if p.rule_index == rule_index]


def _base_capacity_type(rule: PriorityRule) -> CapacityType:
    if rule.flex_start is not None and rule.flex_start.enabled:
        return CapacityType.FLEX_START
    return CapacityType.SPOT if rule.spot else CapacityType.ON_DEMAND


def capacity_types_of(rule: PriorityRule) -> tuple[CapacityType, ...]:
    """Reservations first, then the rule's own price model (unless the affinity forbids it)."""
    base = _base_capacity_type(rule)
    res = rule.reservations
    if res is None or res.affinity == "None":
        return (base,)
    if res.affinity in ("Specific", "AnyThenFail"):
        return (CapacityType.RESERVATION,)
    return (CapacityType.RESERVATION, base)  # AnyBestEffort


def reservation_affinity_of(rule: PriorityRule) -> ReservationAffinity | None:
    res = rule.reservations
    if res is None:
        return None
    if res.affinity == "None":
        return ReservationAffinity(type="none")
    if res.affinity == "Specific":
        refs = tuple(
            ReservationRef(
                name=s.name,
                project=s.project,
                block=s.reservation_block.name if s.reservation_block else None,
                sub_block=(
                    s.reservation_block.reservation_sub_block.name
                    if s.reservation_block and s.reservation_block.reservation_sub_block
                    else None
                ),
            )
            for s in res.specific or []
        )
        return ReservationAffinity(type="specific", reservations=refs)
    return ReservationAffinity(type="any")


def _machines(
    rule: PriorityRule, i: int, catalog: Catalog
) -> tuple[tuple[MachineType, ...], TpuTopology | None, list[RuleProblem]]:
    p = f"spec.priorities[{i}]"
    problems: list[RuleProblem] = []
    if rule.tpu is not None and rule.tpu.type:
        resolved = catalog.resolve_tpu(
            rule.tpu.type, rule.tpu.count, rule.tpu.topology, machine_type=rule.machine_type
        )
        if resolved is None:
            problems.append(
                RuleProblem(
                    i,
                    f"{p}.tpu",
                    f"no TPU machine type in the catalog matches type={rule.tpu.type} "
                    f"count={rule.tpu.count} topology={rule.tpu.topology}; see "
                    f"`ccc catalog --accelerator {rule.tpu.type}` for valid counts and topologies",
                )
            )
            return (), None, problems
        machine, topo = resolved
        if rule.machine_type and rule.machine_type != machine.name:
            problems.append(
                RuleProblem(
                    i,
                    f"{p}.machineType",
                    f"{rule.machine_type} does not match tpu {rule.tpu.type} x{rule.tpu.count} "
                    f"(expected {machine.name}); drop machineType or fix tpu",
                )
            )
            return (), None, problems
        return (machine,), topo, problems
    if rule.machine_type:
        gpu = rule.gpu if rule.gpu is not None and rule.gpu.type else None
        m = catalog.machine_type(
            rule.machine_type,
            gpu_type=gpu.type if gpu else None,
            gpu_count=(gpu.count or None) if gpu else None,
        )
        if m is None:
            problems.append(
                RuleProblem(
                    i,
                    f"{p}.machineType",
                    f"machine type {rule.machine_type!r} is not in the catalog (see `ccc catalog`)",
                )
            )
            return (), None, problems
        if rule.gpu is not None and rule.gpu.type:
            acc = m.accelerator
            if (
                acc is None
                or acc.type != rule.gpu.type
                or (rule.gpu.count is not None and rule.gpu.count not in (0, acc.count))
            ):
                have = f"{acc.type} x{acc.count}" if acc else "no accelerator"
                problems.append(
                    RuleProblem(
                        i,
                        f"{p}.gpu",
                        f"{m.name} has {have}, not {rule.gpu.type} x{rule.gpu.count}; "
                        "make gpu match the machine type or drop machineType",
                    )
                )
                return (), None, problems
        return (m,), None, problems
    candidates: list[MachineType] = list(catalog.machine_types)
    if rule.gpu is not None and rule.gpu.type:
        candidates = list(catalog.machine_types_for_gpu(rule.gpu.type, rule.gpu.count or None))
        what = f"gpu {rule.gpu.type} x{rule.gpu.count}"
        path = f"{p}.gpu"
    elif rule.machine_family:
        candidates = [m for m in candidates if m.family == rule.machine_family]
        what = f"machineFamily {rule.machine_family}"
        path = f"{p}.machineFamily"
    else:
        problems.append(
            RuleProblem(
                i,
                p,
                "the rule names no machineType, machineFamily, gpu or tpu, so ccc cannot choose "
                "a node shape; add one of them",
            )
        )
        return (), None, problems
    if rule.machine_family:
        candidates = [m for m in candidates if m.family == rule.machine_family]
    if rule.min_cores:
        candidates = [m for m in candidates if m.vcpus >= rule.min_cores]
    if rule.min_memory_gb:
        candidates = [m for m in candidates if m.memory_gb >= rule.min_memory_gb]
    if not candidates:
        problems.append(
            RuleProblem(
                i,
                path,
                f"no machine type in the built-in catalog satisfies {what}"
                + (f", minCores {rule.min_cores}" if rule.min_cores else "")
                + (f", minMemoryGb {rule.min_memory_gb}" if rule.min_memory_gb else "")
                + "; run `ccc catalog` to see what exists",
            )
        )
        return (), None, problems
    candidates.sort(key=lambda m: (m.vcpus, m.memory_gb, m.name))
    return tuple(candidates), None, problems


def _zones(
    cc: ComputeClass,
    rule: PriorityRule,
    i: int,
    machines: Sequence[MachineType],
    default_zones: Sequence[str] | None,
) -> tuple[tuple[str, ...], list[RuleProblem]]:
    p = f"spec.priorities[{i}]"
    offered = {z for m in machines for z in m.zones}
    explicit: list[str] | None = None
    path = ""
    if rule.location is not None and rule.location.zones:
        explicit, path = list(rule.location.zones), f"{p}.location.zones"
    elif (
        cc.spec.priority_defaults is not None
        and cc.spec.priority_defaults.location is not None
        and cc.spec.priority_defaults.location.zones
    ):
        explicit = list(cc.spec.priority_defaults.location.zones)
        path = "spec.priorityDefaults.location.zones"
    elif rule.reservations is not None and rule.reservations.specific:
        zs = [z for s in rule.reservations.specific for z in (s.zones or [])]
        if zs:
            explicit, path = list(dict.fromkeys(zs)), f"{p}.reservations.specific[].zones"
    problems: list[RuleProblem] = []
    if explicit is not None:
        bad = [z for z in explicit if z not in offered]
        if bad:
            names = ", ".join(sorted({m.name for m in machines})[:3])
            problems.append(
                RuleProblem(
                    i,
                    path,
                    f"{names} is not offered in {', '.join(bad)} according to the catalog; "
                    "those zones are skipped (remove them or pick a machine type offered there)",
                )
            )
        return tuple(z for z in explicit if z in offered), problems
    if default_zones:
        zones = tuple(z for z in default_zones if z in offered)
        if not zones:
            problems.append(
                RuleProblem(
                    i,
                    p,
                    f"none of the cluster zones ({', '.join(default_zones)}) offers "
                    f"{machines[0].name}; set location.zones on the rule",
                )
            )
        return zones, problems
    ordered: list[str] = []
    for m in machines:
        ordered.extend(z for z in m.zones if z not in ordered)
    return tuple(ordered), problems


def rule_order(cc: ComputeClass, catalog: Catalog) -> tuple[int, ...]:
    """Walk order of the rules: declaration order, or descending ``priorityScore`` with ties
    broken by the lowest on-demand/spot unit price (unknown prices last), then declaration."""
    rules = cc.spec.priorities
    if not rules or all(r.priority_score is None for r in rules):
        return tuple(range(len(rules)))

    def unit_price(r: PriorityRule) -> float:
        m = catalog.machine_type(r.machine_type) if r.machine_type else None
        if m is None or not m.zones:
            return float("inf")
        price = catalog.price(m.name, m.zones[0], _base_capacity_type(r))
        return price if price is not None else float("inf")

    return tuple(
        sorted(
            range(len(rules)),
            key=lambda i: (-(rules[i].priority_score or 0), unit_price(rules[i]), i),
        )
    )


def compile_class(
    cc: ComputeClass,
    catalog: Catalog,
    *,
    default_zones: Sequence[str] | None = None,
    node_pools: Sequence[NodePool] = (),
) -> CompiledClass:
    """Resolve every rule of ``cc`` against ``catalog``.

    Args:
        cc: a validated ComputeClass.
        catalog: machine types, zones and prices.
        default_zones: the cluster's zones, used when a rule and ``priorityDefaults`` name none;
            ``None`` means every zone the catalog lists for the machine type.
        node_pools: the cluster's existing pools, for ``nodepools`` rules.
    """
    tiers: list[Tier] = []
    problems: list[RuleProblem] = []
    by_name = {str(p.name): p for p in node_pools}
    order = rule_order(cc, catalog)
    for i in order:
        rule = cc.spec.priorities[i]
        if rule.nodepools:
            found = tuple(by_name[n] for n in rule.nodepools if n in by_name)
            missing = tuple(n for n in rule.nodepools if n not in by_name)
            tiers.append(
                Tier(
                    rule_index=i,
                    rule=rule,
                    machines=(),
                    zones=(),
                    capacity_types=(),
                    reservation=None,
                    existing_pools=found,
                    missing_pools=missing,
                )
            )
            continue
        machines, topo, mproblems = _machines(rule, i, catalog)
        problems.extend(mproblems)
        if not machines:
            continue
        zones, zproblems = _zones(cc, rule, i, machines, default_zones)
        problems.extend(zproblems)
        tiers.append(
            Tier(
                rule_index=i,
                rule=rule,
                machines=machines,
                zones=zones,
                capacity_types=capacity_types_of(rule),
                reservation=reservation_affinity_of(rule),
                tpu_topology=topo,
                wait_s=rule.capacity_check_wait_time_seconds,
            )
        )
    return CompiledClass(
        name=cc.metadata.name,
        tiers=tuple(tiers),
        problems=tuple(problems),
        when_unsatisfiable=cc.spec.when_unsatisfiable,
        order=order,
    )
