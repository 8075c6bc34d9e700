"""Compile a ComputeClass into ordered offering tiers.

A tier is one rule of ``spec.priorities`` resolved against the catalog and the cluster's
location: the machine type(s) it allows, the zones of the cluster's region it may use and the
capacity types it tries, in the order the walk visits them (rule → zone → machine type →
capacity type). Problems that make a rule unusable (a machine type missing from the catalog, a
zone that does not offer it, zones outside the cluster's region) are returned as data with the
field path, never raised.

Semantics that follow GKE (reference gke-computeclass.md):

* §2.3/§6 reservations: ``Specific`` and ``AnyThenFail`` try only the reservation;
  ``AnyBestEffort`` is one attempt per zone ("a matching reservation if any, else on-demand
  inside GCE": lower rules are reached only when that attempt fails); ``None`` never consumes.
* §2.1 ``nodePoolAutoCreation``: unset or disabled means no node pool is created for the class;
  only existing pools are scaled (Autopilot classes create pools unless it is disabled).
* §3.2 equal ``priorityScore``: the tie is broken by the lowest unit cost of the machine the
  rule would choose (for gpu, tpu and family rules: the smallest candidate offered in the
  cluster's region; a multi-host TPU slice costs all its hosts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ccc.api.catalog import Catalog, MachineType, TpuTopology
from ccc.api.computeclass import ComputeClass, PriorityRule
from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, NodePool, ReservationAffinity, ReservationRef, region_of
from policies.location import ProblemKind, resolve_location, rule_zones


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """Why a rule (or one zone of it) cannot be used. ``path`` is the camelCase field path.

    ``kind``: ``outside-cluster`` when every zone of the rule lies outside the cluster's region
    (the rule is skipped), ``zones-outside-cluster`` when only some do, else ``misconfigured``.
    """

    rule_index: int
    path: str
    message: str
    kind: ProblemKind = "misconfigured"


@dataclass(frozen=True, slots=True)
class Tier:
    """One usable rule, resolved.

    ``machines`` are the candidate machine types, smallest first (the walk picks, per zone, the
    first offered there that fits the pods). ``existing_pools`` is set instead for ``nodepools``
    rules.
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
    #: ``nodePoolAutoCreation`` lets ccc create pools for this rule (else it only scales).
    auto_create: bool = True
    #: A Specific reservation without ``zones``: its zones come from the cloud's listing.
    reservation_zones_from_listing: bool = False
    #: ``location.locationPolicy`` of the rule, else of ``priorityDefaults``.
    location_policy: str | None = None

    @property
    def hosts_per_slice(self) -> int:
        return self.tpu_topology.hosts if self.tpu_topology is not None else 1

    @property
    def multi_host(self) -> bool:
        """A multi-host TPU slice: every slice is its own node pool, never resized."""
        return self.hosts_per_slice > 1

    @property
    def best_effort_reservation(self) -> bool:
        """``AnyBestEffort``: a matching reservation if any, else the rule's own type in GCE."""
        res = self.rule.reservations
        return res is not None and res.affinity == "AnyBestEffort"

    @property
    def balanced(self) -> bool:
        """``locationPolicy: BALANCED``: one batch's new nodes spread over the rule's zones."""
        return self.location_policy == "BALANCED"

    def machines_in(self, zone: str) -> tuple[MachineType, ...]:
        """Candidate machine types offered in ``zone`` (with the rule's TPU topology)."""
        return tuple(m for m in self.machines if zone in m.zones_for(self.tpu_topology))


@dataclass(frozen=True, slots=True)
class CompiledClass:
    name: str
    tiers: tuple[Tier, ...]
    problems: tuple[RuleProblem, ...]
    when_unsatisfiable: str
    #: rule indices in walk order (including rules that have problems)
    order: tuple[int, ...]
    #: the cluster location the tiers were resolved in
    cluster: ClusterLocation | None = None
    auto_create: bool = True

    def problems_for(self, rule_index: int) -> list[RuleProblem]:
        return [p for p in self.problems if p.rule_index == rule_index]


def auto_creation_enabled(cc: ComputeClass) -> bool:
    """``spec.nodePoolAutoCreation.enabled``; unset means false, except for Autopilot classes
    (where GKE creates pools and forbids disabling it)."""
    nac = cc.spec.node_pool_auto_creation
    if nac is not None:
        return nac.enabled
    return cc.spec.autopilot_enabled


def location_policy_of(cc: ComputeClass, rule: PriorityRule) -> str | None:
    """The rule's ``location.locationPolicy``, else ``priorityDefaults.location``'s (field by
    field, like the zones)."""
    if rule.location is not None and rule.location.location_policy:
        return rule.location.location_policy
    pd = cc.spec.priority_defaults
    if pd is not None and pd.location is not None:
        return pd.location.location_policy
    return None


def _base_capacity_type(rule: PriorityRule) -> CapacityType:
    if rule.flex_start is not None and rule.flex_start.enabled:
        return CapacityType.FLEX_START
    return CapacityType.SPOT if rule.spot else CapacityType.ON_DEMAND


def capacity_types_of(rule: PriorityRule) -> tuple[CapacityType, ...]:
    """The capacity types a rule tries: the reservation for ``Specific``/``AnyThenFail``, else
    the rule's own price model (``AnyBestEffort`` consumes a matching reservation inside that
    one attempt; see the module docstring)."""
    res = rule.reservations
    if res is not None and res.affinity in ("Specific", "AnyThenFail"):
        return (CapacityType.RESERVATION,)
    return (_base_capacity_type(rule),)


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
        tpu, tpu_type = rule.tpu, rule.tpu.type
        resolved = catalog.resolve_tpu(
            tpu_type, tpu.count, tpu.topology, machine_type=rule.machine_type
        )
        if resolved is not None:
            return (resolved[0],), resolved[1], problems
        other = (
            catalog.resolve_tpu(tpu_type, tpu.count, tpu.topology) if rule.machine_type else None
        )
        if other is not None:
            problems.append(
                RuleProblem(
                    i,
                    f"{p}.machineType",
                    f"{rule.machine_type} does not match tpu {tpu_type} x{tpu.count} "
                    f"(expected {other[0].name}); drop machineType or fix tpu",
                )
            )
            return (), None, problems
        problems.append(
            RuleProblem(
                i,
                f"{p}.tpu",
                f"no TPU machine type in the catalog matches type={tpu_type} count={tpu.count} "
                f"topology={tpu.topology}; see `ccc catalog --accelerator {tpu_type}` for valid "
                "counts and topologies",
            )
        )
        return (), None, problems
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


def unit_price(rule: PriorityRule, catalog: Catalog, region: str, index: int = 0) -> float | None:
    """Hourly price of one unit (node, or whole multi-host TPU slice) of the machine the rule
    would choose in ``region``: its smallest candidate with a price there, at the rule's first
    capacity type (a reservation is prepaid: 0). ``None`` when no source prices it."""
    if rule.nodepools:
        return None
    machines, topo, _ = _machines(rule, index, catalog)
    ct = capacity_types_of(rule)[0]
    hosts = topo.hosts if topo is not None else 1
    for m in machines:
        if not any(region_of(z) == region for z in m.zones_for(topo)):
            continue
        if ct is CapacityType.RESERVATION:
            return 0.0
        price = catalog.price(m, region, ct)
        if price is not None:
            return round(price * hosts, 6)
    return None


def rule_order(
    cc: ComputeClass, catalog: Catalog, cluster: ClusterLocation | None = None
) -> tuple[int, ...]:
    """Walk order of the rules: declaration order, or descending ``priorityScore`` with ties
    broken by the lowest unit price of the machine each rule would choose in the cluster's
    region (:func:`unit_price`; unknown prices last), then declaration order."""
    rules = cc.spec.priorities
    if not rules or all(r.priority_score is None for r in rules):
        return tuple(range(len(rules)))
    region = (cluster or resolve_location(cc, catalog)).region

    def price(i: int) -> float:
        p = unit_price(rules[i], catalog, region, i)
        return float("inf") if p is None else p

    return tuple(
        sorted(range(len(rules)), key=lambda i: (-(rules[i].priority_score or 0), price(i), i))
    )


def compile_class(
    cc: ComputeClass,
    catalog: Catalog,
    *,
    cluster: ClusterLocation | None = None,
    default_zones: Sequence[str] | None = None,
    node_pools: Sequence[NodePool] = (),
) -> CompiledClass:
    """Resolve every rule of ``cc`` against ``catalog`` inside the cluster's region.

    Args:
        cc: a validated ComputeClass.
        catalog: machine types, zones and prices.
        cluster: the cluster's region and default zones. ``None``: ``default_zones`` (their
            region) when given, else :func:`policies.location.resolve_location` (the region of
            the zones the class names, else the default region).
        default_zones: legacy form of ``cluster``: the cluster's zones.
        node_pools: the cluster's existing pools, for ``nodepools`` rules.
    """
    if cluster is None:
        cluster = resolve_location(cc, catalog, zones=default_zones or None)
    tiers: list[Tier] = []
    problems: list[RuleProblem] = []
    by_name = {str(p.name): p for p in node_pools}
    order = rule_order(cc, catalog, cluster)
    auto = auto_creation_enabled(cc)
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
                    auto_create=False,
                )
            )
            continue
        machines, topo, mproblems = _machines(rule, i, catalog)
        problems.extend(mproblems)
        if not machines:
            continue
        offered = tuple(dict.fromkeys(z for m in machines for z in m.zones_for(topo)))
        rz = rule_zones(
            cc, rule, i, offered=offered, machine_names=[m.name for m in machines], cluster=cluster
        )
        problems.extend(RuleProblem(i, zp.path, zp.message, zp.kind) for zp in rz.problems)
        if not rz.zones and not rz.from_reservation_listing:
            continue
        tiers.append(
            Tier(
                rule_index=i,
                rule=rule,
                machines=machines,
                zones=rz.zones,
                capacity_types=capacity_types_of(rule),
                reservation=reservation_affinity_of(rule),
                tpu_topology=topo,
                wait_s=rule.capacity_check_wait_time_seconds,
                auto_create=auto,
                reservation_zones_from_listing=rz.from_reservation_listing,
                location_policy=location_policy_of(cc, rule),
            )
        )
    return CompiledClass(
        name=cc.metadata.name,
        tiers=tuple(tiers),
        problems=tuple(problems),
        when_unsatisfiable=cc.spec.when_unsatisfiable,
        order=order,
        cluster=cluster,
        auto_create=auto,
    )
