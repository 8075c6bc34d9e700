"""Plan invariants over generated classes and workloads (hypothesis).

Whatever a class says, a plan must only ever propose what a GKE cluster can do with it
(reference gke-computeclass.md §3.2 one region and zones, §2.3/§6 reservations, §5 TPU slices,
§2.1 nodePoolAutoCreation, §4 TPU flex-start):

* every attempt and every pool lies in the cluster's region;
* every machine type is paired only with zones the catalog lists for it (and its topology);
* a Specific reservation is tried only in its own zones;
* multi-host TPU pools are whole slices, and never flex-start;
* no pool gets more nodes than packing its pods needs;
* without nodePoolAutoCreation nothing is created;
* rules appear in walk order, and the controller's first choice is the plan's first choice.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.location import ClusterLocation, catalog_zones_in
from ccc.api.values import (
    CapacityType,
    NodePool,
    NodePoolName,
    ReservationCapacity,
    Taint,
    region_of,
)
from ccc.api.workload import PodRequest, Toleration
from policies.commands import Provision
from policies.decide import decide
from policies.obtainability import ObtainabilityMemory
from policies.offering import WalkContext
from policies.packing import fits, node_allocatable, nodes_needed
from policies.plan import Attempt
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState
from policies.tiers import CompiledClass, Tier, compile_class
from policies.walk import plan_class
from tests.builders import NOW

CATALOG = load_builtin_catalog()
#: Examples per property (fewer under `make mutation`, which runs these tests per mutant).
EXAMPLES = int(os.environ.get("CCC_PROPERTY_EXAMPLES", "300"))
ALL_ZONES = CATALOG.zones()
#: Regions weighted by how many (machine type, zone) pairs they hold, so accelerator-rich
#: regions (where most real classes live) come up most.
REGIONS = sorted(region_of(z) for m in load_builtin_catalog().machine_types for z in m.zones)
GPU_MACHINES = [m for m in CATALOG.machine_types if m.is_gpu]
TPU_SHAPES = [
    (m, t) for m in CATALOG.machine_types if m.is_tpu for t in m.tpu_topologies if t.hosts <= 8
]
FAMILIES = sorted({m.family for m in GPU_MACHINES})


@st.composite
def clusters(draw: st.DrawFn) -> ClusterLocation:
    region = draw(st.sampled_from(REGIONS))
    zones = catalog_zones_in(CATALOG, region)
    picked = draw(st.lists(st.sampled_from(zones), min_size=1, max_size=len(zones), unique=True))
    return ClusterLocation(region=region, zones=tuple(picked))


def zone_lists(region_zones: tuple[str, ...], max_size: int) -> st.SearchStrategy[list[str]]:
    """Mostly zones of the cluster's region, sometimes of any region."""
    pool = st.sampled_from(region_zones) if region_zones else st.sampled_from(ALL_ZONES)
    mixed = st.one_of(pool, pool, pool, st.sampled_from(ALL_ZONES))
    return st.lists(mixed, min_size=1, max_size=max_size, unique=True)


@st.composite
def rules(draw: st.DrawFn, region_zones: tuple[str, ...] = ()) -> dict[str, Any]:
    kind = draw(st.sampled_from(["machineType", "gpu", "family", "tpu"] * 3 + ["nodepools"]))
    rule: dict[str, Any] = {}
    if kind == "nodepools":
        return {
            "nodepools": draw(
                st.lists(st.sampled_from(["p1", "p2", "p3"]), min_size=1, max_size=2, unique=True)
            )
        }
    if kind == "machineType":
        rule["machineType"] = draw(st.sampled_from(GPU_MACHINES)).name
    elif kind == "gpu":
        m = draw(st.sampled_from(GPU_MACHINES))
        assert m.accelerator is not None
        gpu: dict[str, Any] = {"type": m.accelerator.type, "count": m.accelerator.count}
        if draw(st.booleans()):
            gpu["gpuSharing"] = {
                "sharingStrategy": draw(st.sampled_from(["TIME_SHARING", "MPS"])),
                "maxSharedClientsPerGPU": draw(st.integers(2, 8)),
            }
        rule["gpu"] = gpu
    elif kind == "family":
        rule["machineFamily"] = draw(st.sampled_from(FAMILIES))
    else:
        m, t = draw(st.sampled_from(TPU_SHAPES))
        assert m.accelerator is not None
        rule["tpu"] = {
            "type": m.accelerator.type,
            "count": m.chips_per_host,
            "topology": t.topology,
        }
    model = draw(st.sampled_from(["on-demand", "spot", "flex-start"]))
    if model == "spot":
        rule["spot"] = True
    elif model == "flex-start":
        rule["flexStart"] = {"enabled": True}
    affinity = draw(st.sampled_from([None, "Specific", "AnyBestEffort", "AnyThenFail", "None"]))
    if affinity == "Specific":
        zones = draw(st.one_of(st.just([]), zone_lists(region_zones, 2)))
        ref: dict[str, Any] = {"name": draw(st.sampled_from(["res-a", "res-b"]))}
        if zones:
            ref["zones"] = zones
        rule["reservations"] = {"affinity": "Specific", "specific": [ref]}
    elif affinity is not None:
        rule["reservations"] = {"affinity": affinity}
    if affinity != "Specific" and draw(st.booleans()):
        loc: dict[str, Any] = {"zones": draw(zone_lists(region_zones, 4))}
        policy = draw(st.sampled_from([None, "ANY", "BALANCED"]))
        if policy:
            loc["locationPolicy"] = policy
        rule["location"] = loc
    if draw(st.booleans()):
        rule["maxPodsPerNode"] = draw(st.integers(8, 256))
    return rule


@st.composite
def classes(draw: st.DrawFn, region_zones: tuple[str, ...] = ()) -> ComputeClass:
    spec: dict[str, Any] = {
        "priorities": draw(st.lists(rules(region_zones), min_size=1, max_size=5)),
        "whenUnsatisfiable": draw(st.sampled_from(["DoNotScaleUp", "ScaleUpAnyway"])),
    }
    nac = draw(st.sampled_from([True, True, True, None, False]))
    if nac is not None:
        spec["nodePoolAutoCreation"] = {"enabled": nac}
    if draw(st.integers(0, 3)) == 0:
        spec["priorityDefaults"] = {
            "location": {
                "zones": draw(
                    st.lists(st.sampled_from(ALL_ZONES), min_size=1, max_size=3, unique=True)
                )
            }
        }
    try:
        return ComputeClass.model_validate(
            {
                "apiVersion": L.API_VERSION,
                "kind": "ComputeClass",
                "metadata": {"name": "c"},
                "spec": spec,
            }
        )
    except ValidationError:
        assume(False)
        raise


@st.composite
def pods(draw: st.DrawFn, compiled: CompiledClass) -> PodRequest:
    """Pods shaped to fit some machine of the class (else a random shape)."""
    machines = [(t, m) for t in compiled.tiers for m in t.machines]
    if machines and draw(st.integers(0, 9)) > 0:
        tier, m = draw(st.sampled_from(machines))
        a = node_allocatable(m, tier.rule)
        gpus = draw(st.integers(1, a.gpus)) if a.gpus else 0
        tpus = a.tpus if a.tpus else 0
        cpu = draw(st.integers(100, max(100, a.cpu_m // 2)))
        mem = draw(st.integers(2**28, max(2**28, a.memory_bytes // 2)))
    else:
        gpus, tpus = draw(st.integers(0, 8)), draw(st.sampled_from([0, 4]))
        cpu, mem = draw(st.integers(100, 16_000)), draw(st.integers(1, 64)) * 2**30
    return PodRequest(
        name="w",
        count=draw(st.integers(1, 40)),
        cpu_m=cpu,
        memory_bytes=mem,
        gpus=gpus,
        tpus=tpus,
        node_selector={L.CLASS_LABEL: "c"},
        tolerations=(Toleration(operator="Exists"),),
    )


@st.composite
def existing_pools(draw: st.DrawFn, cluster: ClusterLocation) -> list[NodePool]:
    """Pools p1..p3 (named by nodepools rules) in the cluster, labelled for class c."""
    out = []
    for name in draw(st.lists(st.sampled_from(["p1", "p2", "p3"]), max_size=3, unique=True)):
        zone = draw(st.sampled_from(cluster.zones))
        offered = CATALOG.machine_types_for(zone=zone)
        if not offered:
            continue
        m = draw(st.sampled_from(list(offered)))
        out.append(
            NodePool(
                name=NodePoolName(name),
                machine_type=m.name,
                zones=(zone,),
                node_count=draw(st.integers(0, 4)),
                capacity_type=draw(st.sampled_from(list(CapacityType))),
                labels={L.CLASS_LABEL: "c"},
                taints=(Taint(key=L.CLASS_LABEL, value="c", effect="NoSchedule"),),
            )
        )
    return out


@st.composite
def listings(draw: st.DrawFn) -> list[ReservationCapacity] | None:
    if draw(st.booleans()):
        return None
    out = []
    for _ in range(draw(st.integers(0, 3))):
        m = draw(st.sampled_from(CATALOG.machine_types))
        out.append(
            ReservationCapacity(
                name=draw(st.sampled_from(["res-a", "res-b", "open"])),
                zone=draw(st.sampled_from(m.zones)),
                machine_type=m.name,
                count=draw(st.integers(0, 16)),
                in_use=draw(st.integers(0, 16)),
                specific_only=draw(st.booleans()),
            )
        )
    return out


def _tiers(compiled: CompiledClass) -> dict[int, Tier]:
    return {t.rule_index: t for t in compiled.tiers}


def _needed(tier: Tier, pods: PodRequest, machine_name: str, count: int) -> int:
    machine = CATALOG.machine_type(machine_name)
    assert machine is not None
    sub = pods.model_copy(update={"count": count})
    fit = fits(sub, machine, {L.CLASS_LABEL: "c"}, (), alloc=node_allocatable(machine, tier.rule))
    assert fit.ok, fit.reason
    return nodes_needed(
        [(sub, fit.per_node)],
        machine,
        hosts_per_slice=tier.hosts_per_slice,
        alloc=node_allocatable(machine, tier.rule),
    )


def _check_attempt(
    a: Attempt,
    tier: Tier,
    cc: ComputeClass,
    pods: PodRequest,
    cluster: ClusterLocation,
    listing: list[ReservationCapacity] | None,
) -> None:
    # One region: the attempt and every pool it touches.
    zones = {a.zone, *(p.zone for p in a.all_placements())} - {""}
    assert all(cluster.contains(z) for z in zones), (a.reason, cluster.region)
    if a.decision == "skip" or tier.rule.nodepools:
        return
    m = CATALOG.machine_type(a.machine_type or "")
    assert m is not None
    # Machine/zone pairs from the catalog (and the rule's TPU topology): the attempt's, and each
    # pool's (zones of one BALANCED attempt may get different machine types).
    assert a.zone in m.zones_for(tier.tpu_topology), (m.name, a.zone)
    for p in a.all_placements():
        pm = CATALOG.machine_type(p.machine_type or "")
        assert pm is not None and p.zone in pm.zones_for(tier.tpu_topology), (p, zones)
    if a.node_pool is not None and a.node_pool.startswith("ccc-") is False:
        return  # a manual pool (none generated here)
    # Reservations in their zones.
    res = tier.rule.reservations
    if res is not None and res.affinity == "Specific":
        named = [z for s in res.specific or [] for z in s.zones or []]
        if named:
            assert zones <= set(named)
        elif listing is not None:
            listed = {r.zone for r in listing if r.name in {s.name for s in res.specific or []}}
            assert zones <= listed
    # TPU pools are whole slices; flex-start only for single-host slices.
    if tier.multi_host:
        assert a.capacity_type is not CapacityType.FLEX_START
        assert all(p.nodes == tier.hosts_per_slice for p in a.all_placements())
        assert all(p.decision == "create" for p in a.all_placements())
    assert a.nodes % tier.hosts_per_slice == 0
    # No pool beyond the demand's packing.
    total_pods = 0
    for p in a.all_placements():
        total_pods += p.pods
        assert p.nodes <= _needed(tier, pods, m.name, max(p.pods, 1)) or tier.multi_host
    assert total_pods <= pods.count
    if not tier.multi_host and not a.placements and a.capacity_type is not CapacityType.RESERVATION:
        assert a.nodes == _needed(tier, pods, m.name, pods.count)
    # nodePoolAutoCreation.
    if not tier.auto_create:
        assert a.decision == "scale"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_every_plan_respects_what_a_gke_cluster_can_do(data: st.DataObject) -> None:
    cluster = data.draw(clusters(), label="cluster")
    cc = data.draw(classes(catalog_zones_in(CATALOG, cluster.region)), label="class")
    listing = data.draw(listings(), label="reservations")
    pools = data.draw(existing_pools(cluster), label="pools")
    compiled = compile_class(cc, CATALOG, cluster=cluster, node_pools=pools)
    workload = data.draw(pods(compiled), label="pods")
    ctx = WalkContext(
        catalog=CATALOG,
        now=NOW,
        memory=ObtainabilityMemory(),
        reservations=listing,
        node_pools=pools,
    )
    plan = plan_class(cc, compiled, [workload], ctx)
    tiers = _tiers(compiled)
    order = {r: i for i, r in enumerate(compiled.order)}
    last = -1
    for a in plan.attempts:
        if a.rule == -1:
            continue
        assert order[a.rule] >= last, "attempts follow the walk order"
        last = order[a.rule]
        tier = tiers.get(a.rule)
        if tier is None:
            assert a.decision == "skip"
            continue
        _check_attempt(a, tier, cc, workload, cluster, listing)
    json.dumps(plan.to_json())  # the stable interface serialises
    viable = [a for a in plan.attempts if a.decision != "skip"]
    event(f"viable attempts: {'0' if not viable else '1-3' if len(viable) < 4 else '4+'}")
    event(f"multi-pool attempts: {any(a.placements for a in viable)}")
    # The controller's first choice is the plan's first choice (one decide step), executed as
    # one Provision per pool it touches. Demand that the listed pools' coming nodes absorb is
    # not walked by the controller, so the comparison needs none absorbed.
    snap = ClusterSnapshot(
        now=NOW, classes={"c": cc}, pending=[workload], reservations=listing, node_pools=pools
    )
    decision = decide(snap, ControllerState(), CATALOG, Settings(cluster=cluster, max_viable=1))
    if decision.absorbed_existing or decision.absorbed_expected:
        return
    first = decision.plans["c"].groups[0].chosen
    chosen = plan.groups[0].chosen
    assert (first and (first.rule, first.zone, first.capacity_type, first.nodes)) == (
        chosen and (chosen.rule, chosen.zone, chosen.capacity_type, chosen.nodes)
    )
    provisions = [c for c in decision.commands if isinstance(c, Provision)]
    parts = first.all_placements() if first else ()
    assert [(c.pool, c.attempt.zone, c.attempt.nodes) for c in provisions] == [
        (p.node_pool, p.zone, p.nodes) for p in parts
    ]


MULTI_HOST = [(m, t) for m, t in TPU_SHAPES if t.hosts > 1]


@st.composite
def multi_pool_classes(draw: st.DrawFn, cluster: ClusterLocation) -> ComputeClass:
    """Classes whose attempts touch several pools: multi-host TPU slices or BALANCED rules."""
    rules_: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        zones = draw(zone_lists(catalog_zones_in(CATALOG, cluster.region), 3))
        if draw(st.booleans()):
            m, t = draw(st.sampled_from(MULTI_HOST))
            assert m.accelerator is not None
            rule: dict[str, Any] = {
                "tpu": {
                    "type": m.accelerator.type,
                    "count": m.chips_per_host,
                    "topology": t.topology,
                }
            }
        else:
            m = draw(st.sampled_from(GPU_MACHINES))
            rule = {"machineType": m.name}
        rule["location"] = {
            "zones": zones,
            "locationPolicy": draw(st.sampled_from(["BALANCED", "ANY"])),
        }
        if draw(st.booleans()):
            rule["spot"] = True
        rules_.append(rule)
    try:
        return ComputeClass.model_validate(
            {
                "apiVersion": L.API_VERSION,
                "kind": "ComputeClass",
                "metadata": {"name": "c"},
                "spec": {"priorities": rules_, "nodePoolAutoCreation": {"enabled": True}},
            }
        )
    except ValidationError:
        assume(False)
        raise


@settings(
    max_examples=max(1, EXAMPLES * 2 // 3),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_multi_pool_attempts_are_whole_slices_spread_inside_the_region(
    data: st.DataObject,
) -> None:
    region = data.draw(st.sampled_from(["us-central1", "us-east5", "europe-west4", "us-west4"]))
    cluster = ClusterLocation(region=region, zones=catalog_zones_in(CATALOG, region))
    cc = data.draw(multi_pool_classes(cluster))
    compiled = compile_class(cc, CATALOG, cluster=cluster)
    workload = data.draw(pods(compiled))
    plan = plan_class(cc, compiled, [workload], WalkContext(catalog=CATALOG, now=NOW))
    tiers = _tiers(compiled)
    for a in plan.attempts:
        if a.rule in tiers:
            _check_attempt(a, tiers[a.rule], cc, workload, cluster, None)
        if a.placements:
            tier = tiers[a.rule]
            if tier.balanced:
                # BALANCED: one zone per share; shares differ by at most one unit.
                per_zone: dict[str, int] = {}
                for p in a.placements:
                    per_zone[p.zone] = per_zone.get(p.zone, 0) + p.nodes // tier.hosts_per_slice
                assert max(per_zone.values()) - min(per_zone.values()) <= 1
            assert sum(p.pods for p in a.placements) == workload.count
    event(f"multi-pool attempts: {any(a.placements for a in plan.attempts)}")
