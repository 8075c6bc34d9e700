"""One cluster, one region: where a class's rules may create nodes.

A GKE cluster lives in one region, so every attempt of a walk lies in it (reference
gke-computeclass.md §3.2 "Zones": a rule's ``location.zones``, else
``priorityDefaults.location.zones``, else the cluster's locations). This module

* derives the location of a dry run (:func:`resolve_location`): ``--zones``, else ``--region``,
  else the region of the zones the class names (the first one in walk order), else
  :data:`~ccc.api.location.DEFAULT_REGION`;
* resolves the zones of one rule (:func:`rule_zones`): zones outside the cluster's region are
  dropped, and a rule whose zones all lie outside is skipped, each with a reason; a Specific
  reservation is tried only in its own zones (``specific[].zones``; without them, the zones the
  cloud lists for the reservation, see :mod:`policies.walk`).

Pure: values in, values and reasons out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ccc.api.catalog import Catalog
from ccc.api.computeclass import ComputeClass, PriorityRule
from ccc.api.location import ClusterLocation, catalog_zones_in, configured_location
from ccc.api.values import region_of

ProblemKind = Literal["misconfigured", "outside-cluster", "zones-outside-cluster"]


def named_zones(cc: ComputeClass) -> list[str]:
    """Every zone the class names, in rule order (rules, then ``priorityDefaults``)."""
    out: list[str] = []
    for rule in cc.spec.priorities:
        if rule.location is not None and rule.location.zones:
            out.extend(rule.location.zones)
        if rule.reservations is not None:
            out.extend(z for s in rule.reservations.specific or [] for z in s.zones or [])
    pd = cc.spec.priority_defaults
    if pd is not None and pd.location is not None and pd.location.zones:
        out.extend(pd.location.zones)
    return list(dict.fromkeys(out))


def resolve_location(
    cc: ComputeClass | None,
    catalog: Catalog,
    *,
    region: str | None = None,
    zones: Sequence[str] | None = None,
) -> ClusterLocation:
    """The location a plan assumes (module docstring).

    Raises:
        ConfigError: ``zones`` span several regions, or do not lie in ``region``.
    """
    if zones or region:
        return configured_location(catalog, region=region, zones=zones, what="--region/--zones")
    named = named_zones(cc) if cc is not None else []
    if named:
        found = region_of(named[0])
        return ClusterLocation(
            region=found,
            zones=catalog_zones_in(catalog, found),
            source="the region of the first zone the class names",
        )
    loc = configured_location(catalog)
    return loc.model_copy(update={"source": f"{loc.source}: the class names no zone"})


@dataclass(frozen=True, slots=True)
class ZoneProblem:
    """Why some (or all) zones of a rule are not used."""

    path: str
    message: str
    kind: ProblemKind = "misconfigured"


@dataclass(frozen=True, slots=True)
class RuleZones:
    """The zones a rule may use, and why others were dropped.

    ``from_reservation_listing``: a Specific reservation without ``zones``; the walk narrows
    ``zones`` to the zones the cloud lists for the reservation (when it knows them).
    """

    zones: tuple[str, ...]
    problems: tuple[ZoneProblem, ...] = ()
    from_reservation_listing: bool = False


def _names(machines: Iterable[str]) -> str:
    return ", ".join(sorted(set(machines))[:3])


def rule_zones(
    cc: ComputeClass,
    rule: PriorityRule,
    index: int,
    *,
    offered: Sequence[str],
    machine_names: Sequence[str],
    cluster: ClusterLocation,
) -> RuleZones:
    """The zones rule ``index`` may use inside ``cluster`` (module docstring).

    Args:
        offered: zones where some candidate machine type of the rule (with its TPU topology)
            exists, per the catalog.
        machine_names: the candidate machine types, for messages.
    """
    p = f"spec.priorities[{index}]"
    explicit: list[str] | None = None
    path = ""
    listing = False
    res = rule.reservations
    if res is not None and res.affinity == "Specific":
        zs = list(dict.fromkeys(z for s in res.specific or [] for z in s.zones or []))
        if zs:
            explicit, path = zs, f"{p}.reservations.specific[].zones"
        else:
            listing = True
    elif rule.location is not None and rule.location.zones:
        explicit, path = list(rule.location.zones), f"{p}.location.zones"
    elif (
        cc.spec.priority_defaults is not None
        and cc.spec.priority_defaults.location is not None
        and cc.spec.priority_defaults.location.zones
    ):
        explicit = list(cc.spec.priority_defaults.location.zones)
        path = "spec.priorityDefaults.location.zones"
    problems: list[ZoneProblem] = []
    names = _names(machine_names)
    if explicit is None:
        if listing:
            # The reservation's zone comes from the cloud; any zone of the region may hold it.
            region_zones = [z for z in offered if cluster.contains(z)]
            return RuleZones(tuple(region_zones), (), from_reservation_listing=True)
        zones = tuple(z for z in cluster.zones if z in offered)
        if not zones:
            problems.append(
                ZoneProblem(
                    p,
                    f"none of the cluster zones ({', '.join(cluster.zones) or 'none'}) offers "
                    f"{names}; set location.zones on the rule",
                )
            )
        return RuleZones(zones, tuple(problems))
    inside = [z for z in explicit if cluster.contains(z)]
    outside = [z for z in explicit if not cluster.contains(z)]
    if outside and not inside:
        problems.append(
            ZoneProblem(
                path,
                f"all zones of the rule ({', '.join(outside)}) are outside the cluster's region "
                f"{cluster.region}, so the rule is skipped; a cluster lives in one region",
                "outside-cluster",
            )
        )
        return RuleZones((), tuple(problems))
    if outside:
        problems.append(
            ZoneProblem(
                path,
                f"zones {', '.join(outside)} are outside the cluster's region {cluster.region} "
                "and are skipped",
                "zones-outside-cluster",
            )
        )
    bad = [z for z in inside if z not in offered]
    if bad:
        problems.append(
            ZoneProblem(
                path,
                f"{names} is not offered in {', '.join(bad)} according to the catalog; those "
                "zones are skipped (remove them or pick a machine type offered there)",
            )
        )
    return RuleZones(tuple(z for z in inside if z in offered), tuple(problems))
