"""The pure decide step: table tests of what it concludes from a snapshot and a state."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.values import (
    CapacityType,
    NodePool,
    NodePoolName,
    NodePoolStatus,
    OfferingKey,
    ReservationCapacity,
    Taint,
)
from policies.commands import (
    Cause,
    Command,
    Delete,
    MarkUnavailable,
    Provision,
    WaitUntil,
)
from policies.decide import Decision, decide
from policies.naming import node_pool_name
from policies.room import pending_pods
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot, PoolListing
from policies.state import (
    ControllerState,
    ErrorInfo,
    Issued,
    LateErrors,
    Observed,
    ProviderDone,
    Request,
    reduce,
)
from tests.builders import NOW, catalog, make_class, make_node, make_pod_info, make_rule

MACHINE = "a3-highgpu-8g"
ZONE_A, ZONE_B = "us-central1-a", "us-central1-b"
POOL_A = node_pool_name("gpu", 0, MACHINE, ZONE_A, CapacityType.SPOT)
POOL_B = node_pool_name("gpu", 0, MACHINE, ZONE_B, CapacityType.SPOT)
SPOT_A = OfferingKey(machine_type=MACHINE, zone=ZONE_A, capacity_type=CapacityType.SPOT)


def _class(*rules: dict[str, object], name: str = "gpu", **spec: object) -> ComputeClass:
    return make_class(*(rules or (make_rule(MACHINE, spot=True),)), name=name, **spec)


def _pool(
    name: str = POOL_A,
    *,
    nodes: int,
    zone: str = ZONE_A,
    cls: str = "gpu",
    status: NodePoolStatus = NodePoolStatus.RUNNING,
) -> NodePool:
    return NodePool(
        name=NodePoolName(name),
        machine_type=MACHINE,
        zones=(zone,),
        node_count=nodes,
        capacity_type=CapacityType.SPOT,
        labels={L.CLASS_LABEL: cls, L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE},
        taints=(Taint(key=L.CLASS_LABEL, value=cls),),
        status=status,
        managed=True,
        class_name=cls,
        rule_index=0,
    )


def _node(
    name: str, pool: str = POOL_A, *, cls: str = "gpu", taints: Sequence[Taint] = ()
) -> NodeInfo:
    return make_node(name, pool=pool, cls=cls, taints=taints)


def _pod(name: str, *, node: str | None = None, cls: str = "gpu", gpus: int = 8) -> PodInfo:
    return make_pod_info(name, node=node, cls=cls, gpus=gpus)


def _snapshot(
    *,
    classes: Sequence[ComputeClass] = (),
    pods: Sequence[PodInfo] = (),
    nodes: Sequence[NodeInfo] = (),
    pools: Sequence[NodePool] = (),
    listing: PoolListing = "fresh",
    at: float = 0.0,
    **kw: object,
) -> ClusterSnapshot:
    cs = classes or (_class(),)
    pending, _ = pending_pods(pods, accept_gke_label=True)
    return ClusterSnapshot(
        now=NOW + timedelta(seconds=at),
        classes={c.metadata.name: c for c in cs},
        pending=pending,
        pods=pods,
        nodes=nodes,
        node_pools=pools,
        pool_listing=listing,
        **kw,  # type: ignore[arg-type]
    )


def _run(snap: ClusterSnapshot, state: ControllerState | None = None, **kw: object) -> Decision:
    state = reduce(state or ControllerState(), Observed(snap))
    return decide(snap, state, catalog(), Settings(**kw))  # type: ignore[arg-type]


def _of(kind: type, decision: Decision) -> list[Command]:
    return [c for c in decision.commands if isinstance(c, kind)]


def _provisioned_nodes(decision: Decision) -> int:
    return sum(c.attempt.nodes for c in _of(Provision, decision))  # type: ignore[attr-defined]


# -- caches that disagree never create or hide demand -----------------------------------------

UPDATES = ("pool", "node", "pod")


@pytest.mark.parametrize("order", list(itertools.permutations(UPDATES)), ids="-".join)
@pytest.mark.parametrize("call_running", [False, True], ids=["accepted", "call-running"])
def test_a_scale_up_seen_in_any_order_neither_hides_nor_doubles_demand(
    order: tuple[str, ...], call_running: bool
) -> None:
    """Pool A was scaled from 1 to 2 nodes for pod a2. Three caches learn of it in some order:
    the provider's listing (node count 2), the node cache (node a-2) and the pod cache (a2 bound
    to a-2). Whatever has arrived, exactly one pod (b, a whole node) is left to place: pool A
    is scaled by one node for it, or, while the provider call on pool A still runs, b waits
    for it to end (one request per pool at a time)."""
    request = Request(
        pool=POOL_A,
        class_name="gpu",
        offering=SPOT_A,
        rule=0,
        nodes=1,
        target_nodes=2,
        started_at=NOW - timedelta(seconds=30),
        accepted_at=None if call_running else NOW - timedelta(seconds=20),
    )
    state = ControllerState(
        requests={POOL_A: request}, calls=frozenset({POOL_A}) if call_running else frozenset()
    )
    for arrived in range(len(order) + 1):
        seen = set(order[:arrived])
        snap = _snapshot(
            pools=[_pool(nodes=2 if "pool" in seen else 1)],
            nodes=[_node("a-1")] + ([_node("a-2")] if "node" in seen else []),
            pods=[
                _pod("a1", node="a-1"),
                _pod("a2", node="a-2" if "pod" in seen else None),
                _pod("b"),
            ],
        )
        decision = _run(snap, state)
        unplaced = sum(g.pods for plan in decision.plans.values() for g in plan.groups)
        assert unplaced == 1, seen
        provisions = _of(Provision, decision)
        if call_running:
            assert provisions == [], seen
        else:
            [provision] = provisions
            assert provision.pool == POOL_A and provision.attempt.target_nodes == 3, seen  # type: ignore[attr-defined]


def test_a_pod_bound_to_a_node_the_cache_has_not_seen_uses_up_that_pools_expected_room() -> None:
    snap = _snapshot(
        pools=[_pool(nodes=2)],
        nodes=[_node("a-1")],
        pods=[_pod("a1", node="a-1"), _pod(f"{POOL_A}-x", node=f"{POOL_A}-2"), _pod("b")],
    )
    decision = _run(snap)
    assert decision.absorbed_expected == 0
    assert _provisioned_nodes(decision) == 1


def test_a_node_with_a_terminating_taint_is_never_room() -> None:
    for key in L.TERMINATING_TAINTS:
        going = _node("a-1", taints=(Taint(key=key, value="true", effect="NoSchedule"),))
        decision = _run(_snapshot(pools=[_pool(nodes=1)], nodes=[going], pods=[_pod("b")]))
        assert decision.absorbed_existing == 0, key
        assert _provisioned_nodes(decision) == 1, key


@pytest.mark.parametrize(
    ("confirmed", "repairs"),
    [(None, 0), (2, 0), (1, 1)],
    ids=["api-server-not-read", "api-server-has-them", "missing-everywhere"],
)
def test_repair_acts_only_on_nodes_missing_from_both_the_api_server_and_the_provider(
    confirmed: int | None, repairs: int
) -> None:
    """The provider's fresh listing asks for 2 nodes, the node cache has 1 for longer than the
    repair delay; only a direct read of the API server that also finds 1 triggers a repair."""
    pools, nodes = [_pool(nodes=2)], [_node("a-1")]
    state = reduce(ControllerState(), Observed(_snapshot(pools=pools, nodes=nodes, at=-60)))
    counts = {} if confirmed is None else {POOL_A: confirmed}
    decision = _run(_snapshot(pools=pools, nodes=nodes, node_counts=counts), state)
    repaired = [c for c in _of(Provision, decision) if c.cause is Cause.REPAIR]  # type: ignore[attr-defined]
    assert len(repaired) == repairs
    if repairs:
        assert repaired[0].attempt.target_nodes == 2  # type: ignore[attr-defined]


# -- a pass degrades instead of aborting --------------------------------------------------------


def test_without_any_pool_listing_nothing_is_provisioned_and_the_loop_retries_soon() -> None:
    decision = _run(_snapshot(pods=[_pod("b")], listing="unknown"), error_retry_s=5)
    assert _of(Provision, decision) == []
    [wait] = _of(WaitUntil, decision)
    assert wait.cause is Cause.PROVIDER_ERROR and wait.at == NOW + timedelta(seconds=5)  # type: ignore[attr-defined]


def test_a_stale_pool_listing_still_creates_new_pools_but_does_not_size_existing_ones() -> None:
    """The listing failed this pass: a create is idempotent by name and safe; a scale-up sized
    from an old count is not, so it waits for a fresh listing."""
    create = _run(_snapshot(pods=[_pod("b")], listing="stale"))
    assert [p.attempt.decision for p in _of(Provision, create)] == ["create"]  # type: ignore[attr-defined]
    scale = _run(
        _snapshot(
            pods=[_pod("a1", node="a-1"), _pod("b")],
            nodes=[_node("a-1")],
            pools=[_pool(nodes=1)],
            listing="stale",
        )
    )
    assert _of(Provision, scale) == []
    assert [w.cause for w in _of(WaitUntil, scale)] == [Cause.PROVIDER_ERROR]  # type: ignore[attr-defined]


def test_a_stale_pool_listing_stops_consolidation_and_repair() -> None:
    pools, nodes = [_pool(nodes=2)], [_node("a-1")]
    state = reduce(ControllerState(), Observed(_snapshot(pools=pools, nodes=nodes, at=-3600)))
    decision = _run(
        _snapshot(pools=pools, nodes=nodes, listing="stale", node_counts={POOL_A: 1}),
        state,
        default_consolidation_delay=timedelta(0),
    )
    assert [c for c in decision.commands if not isinstance(c, WaitUntil)] == []


def test_failed_reservation_listing_holds_only_classes_with_reservation_rules() -> None:
    reserved = _class(
        make_rule(
            MACHINE,
            zones=None,
            reservations={"affinity": "Specific", "specific": [{"name": "r1", "zones": [ZONE_A]}]},
        ),
        name="reserved",
    )
    plain = _class(name="plain")
    snap = _snapshot(
        classes=[reserved, plain],
        pods=[_pod("r", cls="reserved"), _pod("p", cls="plain")],
        reservations_failed=True,
        reservations=[
            ReservationCapacity(name="r1", zone=ZONE_A, machine_type=MACHINE, count=4, in_use=0)
        ],
    )
    decision = _run(snap)
    assert [p.class_name for p in _of(Provision, decision)] == ["plain"]  # type: ignore[attr-defined]
    assert [w.class_name for w in _of(WaitUntil, decision)] == ["reserved"]  # type: ignore[attr-defined]


# -- judging provider outcomes ------------------------------------------------------------------


def _failed(
    error: ErrorInfo, *, wait_s: int | None = None, state: ControllerState | None = None
) -> tuple[ControllerState, Provision]:
    """A state in which the first choice for pod b was requested and failed with ``error``."""
    rule = (
        make_rule(MACHINE, flexStart={"enabled": True}, capacityCheckWaitTimeSeconds=wait_s)
        if wait_s
        else make_rule(MACHINE, spot=True)
    )
    snap = _snapshot(classes=[_class(rule)], pods=[_pod("b")])
    first = _run(snap, state)
    [provision] = _of(Provision, first)
    st = reduce(reduce(state or ControllerState(), Observed(snap)), Issued(first.commands, NOW))
    return reduce(st, ProviderDone(provision, NOW, error)), provision  # type: ignore[arg-type]


def test_a_stockout_marks_the_zone_and_the_same_decision_walks_on_to_the_next_zone() -> None:
    state, _ = _failed(ErrorInfo("stockout", "ZONE_RESOURCE_POOL_EXHAUSTED"))
    decision = _run(_snapshot(pods=[_pod("b")]), state)
    [mark] = _of(MarkUnavailable, decision)
    assert mark.entry.key == SPOT_A and mark.cause is Cause.STOCKOUT  # type: ignore[attr-defined]
    assert mark.backoff_s == 180  # type: ignore[attr-defined]
    [again] = _of(Provision, decision)
    assert again.attempt.zone == ZONE_B  # type: ignore[attr-defined]
    assert again.reason.endswith("after stockout in us-central1-a (spot)")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("scope", "location", "marked"),
    [
        ("zone", ZONE_A, ZONE_A),
        ("region", "us-central1", "us-central1"),
        ("global", "", "global"),
    ],
)
def test_a_quota_error_is_recorded_at_its_scope(scope: str, location: str, marked: str) -> None:
    """GPUS_ALL_REGIONS is a quota of every region: recorded as global, every zone of every
    region is skipped, not region after region."""
    error = ErrorInfo("quota", "QUOTA_EXCEEDED", "GPUS_ALL_REGIONS", scope, location)  # type: ignore[arg-type]
    state, _ = _failed(error)
    decision = _run(_snapshot(pods=[_pod("b")]), state)
    [mark] = _of(MarkUnavailable, decision)
    assert mark.entry.key.zone == marked and mark.cause is Cause.QUOTA  # type: ignore[attr-defined]
    walked_on = [p.attempt.zone for p in _of(Provision, decision)]  # type: ignore[attr-defined]
    assert walked_on == ([ZONE_B] if scope == "zone" else [])


def test_a_transient_error_pauses_the_pool_without_marking_the_offering() -> None:
    state, _ = _failed(ErrorInfo("transient", "UNAVAILABLE"))
    decision = _run(_snapshot(pods=[_pod("b")]), state, error_retry_s=5)
    assert _of(MarkUnavailable, decision) == [] and _of(Provision, decision) == []
    holds = [w for w in _of(WaitUntil, decision) if w.hold == POOL_A]  # type: ignore[attr-defined]
    assert [w.at for w in holds] == [NOW + timedelta(seconds=5)]  # type: ignore[attr-defined]


def test_a_stockout_inside_the_capacity_check_window_retries_the_same_pool_later() -> None:
    state, first = _failed(ErrorInfo("stockout", "ZONE_RESOURCE_POOL_EXHAUSTED"), wait_s=60)
    flex = _class(make_rule(MACHINE, flexStart={"enabled": True}, capacityCheckWaitTimeSeconds=60))
    decision = _run(_snapshot(classes=[flex], pods=[_pod("b")]), state, capacity_check_retry_s=10)
    assert _of(MarkUnavailable, decision) == [] and _of(Provision, decision) == []
    [wait] = [w for w in _of(WaitUntil, decision) if w.cause is Cause.CAPACITY_CHECK]  # type: ignore[attr-defined]
    assert wait.hold == first.pool and wait.at == NOW + timedelta(seconds=10)  # type: ignore[attr-defined]
    assert wait.check.ends_at == NOW + timedelta(seconds=60)  # type: ignore[attr-defined]


def test_two_pod_groups_that_choose_the_same_pool_make_one_request() -> None:
    small = _pod("small", gpus=2)
    decision = _run(_snapshot(pods=[_pod("big"), small]))
    assert [p.pool for p in _of(Provision, decision)] == [POOL_A]  # type: ignore[attr-defined]


def test_nodes_given_up_shrink_the_pool_to_what_registered_and_mark_the_offering() -> None:
    pools, nodes = [_pool(nodes=3)], [_node("a-1")]
    state = reduce(ControllerState(), Observed(_snapshot(pools=pools, nodes=nodes, at=-601)))
    decision = _run(_snapshot(pools=pools, nodes=nodes, node_counts={POOL_A: 1}), state)
    [mark] = _of(MarkUnavailable, decision)
    assert mark.entry.reason == "NODES_NOT_REGISTERED" and mark.cause is Cause.REGISTRATION  # type: ignore[attr-defined]
    [shrink] = _of(Delete, decision)
    assert shrink.pool_size == 1 and not shrink.whole_pool  # type: ignore[attr-defined]
    assert [c for c in _of(Provision, decision) if c.cause is Cause.REPAIR] == []  # type: ignore[attr-defined]


# -- one writer of the obtainability memory -----------------------------------------------------


def test_only_mark_commands_and_successful_requests_change_the_memory() -> None:
    state, first = _failed(ErrorInfo("stockout", "ZONE_RESOURCE_POOL_EXHAUSTED"))
    assert len(state.memory_of("gpu")) == 0  # an outcome alone is not a verdict
    decision = _run(_snapshot(pods=[_pod("b")]), state)
    state = reduce(state, Issued(decision.commands, NOW))
    assert [e.key for e in state.memory_of("gpu")] == [SPOT_A]
    [retry] = _of(Provision, decision)
    state = reduce(state, ProviderDone(retry, NOW, None))  # type: ignore[arg-type]
    assert [e.key for e in state.memory_of("gpu")] == [SPOT_A]  # zone b's success keeps zone a
    again = Provision("gpu", first.attempt, reason="", cause=Cause.PENDING)
    state = reduce(state, ProviderDone(again, NOW, None))
    assert len(state.memory_of("gpu")) == 0


def test_a_late_capacity_error_from_the_provider_gives_up_at_once_with_its_reason() -> None:
    """GKE's instance group reports why the VMs of an accepted resize are not coming: no need
    to wait for the registration timeout."""
    pools, nodes = [_pool(nodes=3)], [_node("a-1")]
    state = reduce(ControllerState(), Observed(_snapshot(pools=pools, nodes=nodes, at=-30)))
    late = ErrorInfo("stockout", "ZONE_RESOURCE_POOL_EXHAUSTED", "no a3 in a", "zone", ZONE_A)
    state = reduce(state, LateErrors(POOL_A, (late,), NOW))
    pods = [_pod("a1", node="a-1"), _pod("b")]
    decision = _run(_snapshot(pools=pools, nodes=nodes, pods=pods), state)
    [mark] = _of(MarkUnavailable, decision)
    assert mark.entry.key == SPOT_A and mark.entry.reason == "ZONE_RESOURCE_POOL_EXHAUSTED"  # type: ignore[attr-defined]
    [shrink] = _of(Delete, decision)
    assert shrink.pool_size == 1 and shrink.cause is Cause.STOCKOUT  # type: ignore[attr-defined]
    # the pod walks on to zone b in the same decision
    assert [p.attempt.zone for p in _of(Provision, decision)] == [ZONE_B]  # type: ignore[attr-defined]


def test_a_restored_request_the_provider_never_received_does_not_hide_demand() -> None:
    """A leader persisted "grow pool A to 2" and was killed before the call reached the provider:
    its successor restores the request with no call and no acceptance, and the fresh listing
    still says 1 node. The request is dropped and pool A is grown to 2 for the pending pod
    (the same absolute size, so nothing doubles); had the listing said 2, the request would
    stand and the pod would wait for its node."""
    request = Request(
        pool=POOL_A,
        class_name="gpu",
        offering=SPOT_A,
        rule=0,
        nodes=1,
        target_nodes=2,
        started_at=NOW - timedelta(seconds=30),
    )
    state = ControllerState(requests={POOL_A: request})
    pods = [_pod("a1", node="a-1"), _pod("a2")]
    never_sent = _run(_snapshot(pools=[_pool(nodes=1)], nodes=[_node("a-1")], pods=pods), state)
    [provision] = _of(Provision, never_sent)
    assert provision.pool == POOL_A and provision.attempt.target_nodes == 2  # type: ignore[attr-defined]
    landed = _run(_snapshot(pools=[_pool(nodes=2)], nodes=[_node("a-1")], pods=pods), state)
    assert _of(Provision, landed) == []
