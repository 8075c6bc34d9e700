"""Rules of policies/state.py, the reducer of the controller's memory: which key an error
blocks, what a new leader starts from, what each observation forgets, and what issued commands
and finished provider calls record (the field table of ``ControllerState``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ccc.api.cluster import NodeInfo
from ccc.api.values import (
    GLOBAL_LOCATION,
    CapacityType,
    NodePool,
    NodePoolStatus,
    OfferingKey,
)
from policies.commands import (
    CapacityCheck,
    Cause,
    Delete,
    Drain,
    MarkUnavailable,
    Provision,
    WaitUntil,
)
from policies.obtainability import BackoffPolicy, ObtainabilityMemory, Unavailability
from policies.snapshot import ClusterSnapshot, PoolListing
from policies.state import (
    CHECK_RETENTION,
    ControllerState,
    ErrorInfo,
    Issued,
    LateErrors,
    Missing,
    Observed,
    ProviderDone,
    Request,
    effective_pools,
    mark_key,
    reduce,
)
from tests.builders import NOW, make_class, make_node, make_pods, make_pool, make_rule, walk

SECOND = timedelta(seconds=1)
TICK = timedelta(microseconds=1)
ZONE = "us-central1-a"
STOCKOUT = ErrorInfo(result="stockout", code="ZONE_RESOURCE_POOL_EXHAUSTED")


def _provision(
    *, nodes: int = 2, target: int | None = None, cause: Cause = Cause.PENDING
) -> Provision:
    """The walk's first choice for ``nodes`` pods of the default class (a create with a spec),
    its pool's size after it set to ``target``."""
    a = walk(make_class(make_rule(spot=True)), make_pods(nodes)).chosen
    assert a is not None and a.spec is not None
    if target is not None:
        a = replace(a, target_nodes=target)
    return Provision("gpu", a, "", cause, after=("us-central1-b (spot)",))


PROVISION = _provision()
POOL = PROVISION.pool


def _snap(
    *,
    nodes: tuple[NodeInfo, ...] = (),
    pools: tuple[NodePool, ...] = (),
    listing: PoolListing = "fresh",
    at: datetime = NOW,
) -> ClusterSnapshot:
    return ClusterSnapshot(now=at, classes={}, nodes=nodes, node_pools=pools, pool_listing=listing)


def _entry(until: datetime, zone: str = ZONE) -> Unavailability:
    key = OfferingKey(machine_type="a3-highgpu-8g", zone=zone, capacity_type=CapacityType.SPOT)
    return Unavailability(key, "stockout", "", 1, until - SECOND, until)


# -- which key an error blocks -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "result", "location", "blocked"),
    [
        ("zone", "stockout", "", ZONE),
        ("region", "quota", "", "us-central1"),
        ("region", "quota", "us-east4", "us-east4"),
        ("global", "quota", "", GLOBAL_LOCATION),
        ("global", "stockout", "", GLOBAL_LOCATION),
        ("global", "permanent", "", "us-central1"),
        ("global", "transient", "", "us-central1"),
    ],
)
def test_an_error_blocks_its_zone_its_region_or_every_region_by_scope_and_result(
    scope: str, result: str, location: str, blocked: str
) -> None:
    """A regional error blocks the region it names (else the zone's); a global quota or
    stockout (``GPUS_ALL_REGIONS``) blocks every region; any other global error only the
    region of the request."""
    error = ErrorInfo(result=result, code="X", scope=scope, location=location)  # type: ignore[arg-type]
    key = mark_key("a3-highgpu-8g", ZONE, CapacityType.SPOT, error)
    assert key == OfferingKey(
        machine_type="a3-highgpu-8g", zone=blocked, capacity_type=CapacityType.SPOT
    )


# -- what a new leader starts from ---------------------------------------------------------------


def test_a_restored_state_keeps_the_memory_requests_checks_and_backoff_it_was_given() -> None:
    policy = BackoffPolicy(base_s=30, max_s=600)
    entry = _entry(NOW + SECOND)
    check = CapacityCheck(since=NOW, ends_at=NOW + 60 * SECOND, class_name="gpu")
    request = Request(POOL, "gpu", PROVISION.offering, 0, 2, 2, NOW)
    state = ControllerState.restored(
        memory={"gpu": [entry]}, requests=[request], capacity_checks={POOL: check}, backoff=policy
    )
    assert state.backoff == policy
    assert state.memory_of("gpu").policy == policy
    assert list(state.memory_of("gpu")) == [entry]
    assert state.memory_of("tpu").policy == policy
    assert state.requests == {POOL: request}
    assert state.capacity_checks == {POOL: check}


def test_a_restored_state_without_a_backoff_uses_the_default_one() -> None:
    state = ControllerState.restored(memory={"gpu": [_entry(NOW)]})
    assert state.backoff == BackoffPolicy()
    assert state.memory_of("gpu").policy == BackoffPolicy()
    assert state.capacity_checks == {}


def test_capacity_checks_are_listed_per_class() -> None:
    a = CapacityCheck(since=NOW, ends_at=NOW, class_name="a")
    b = CapacityCheck(since=NOW, ends_at=NOW, class_name="b")
    state = ControllerState(capacity_checks={"pool-a": a, "pool-b": b})
    assert state.capacity_checks_of("a") == {"pool-a": a}
    assert state.capacity_checks_of("c") == {}


# -- what an observation forgets -----------------------------------------------------------------


def test_an_observation_forgets_what_ran_out_and_nodes_that_are_gone() -> None:
    """Holds end at their instant; a capacity-check window is remembered for CHECK_RETENTION
    after it ends; memory entries are pruned; drain pacing and issued deletes are kept only
    for nodes still listed."""
    policy = BackoffPolicy()
    old, recent = _entry(NOW - timedelta(seconds=policy.max_s)), _entry(NOW, "us-central1-b")
    state = ControllerState(
        holds={"ended": NOW, "running": NOW + TICK},
        capacity_checks={
            "expired": CapacityCheck(since=NOW, ends_at=NOW - CHECK_RETENTION),
            "kept": CapacityCheck(since=NOW, ends_at=NOW - CHECK_RETENTION + TICK),
        },
        memory={"gpu": ObtainabilityMemory.of([old, recent], policy)},
        drains={"n1": (NOW, 1, 1), "gone": (NOW, 1, 1)},
        removed=frozenset({"n1", "gone"}),
    )
    after = reduce(state, Observed(_snap(nodes=(make_node("n1"),))))
    assert dict(after.holds) == {"running": NOW + TICK}
    assert set(after.capacity_checks) == {"kept"}
    assert list(after.memory_of("gpu")) == [recent]
    assert set(after.drains) == {"n1"}
    assert after.removed == {"n1"}


@pytest.mark.parametrize(
    ("listing", "listed", "hold", "kept"),
    [
        ("fresh", True, None, True),
        ("fresh", False, None, False),
        ("fresh", False, NOW + TICK, True),
        ("fresh", False, NOW, False),
        ("stale", False, None, True),
    ],
    ids=["listed", "gone", "gone-but-held", "gone-hold-over", "stale-listing"],
)
def test_failed_deletes_are_counted_until_a_fresh_listing_lacks_the_pool_after_its_pause(
    listing: PoolListing, listed: bool, hold: datetime | None, kept: bool
) -> None:
    state = ControllerState(
        delete_failures={POOL: 2, "other": 1},
        holds={POOL: hold} if hold is not None else {},
    )
    pools = (make_pool(POOL, managed=True, nodes=0), make_pool("other", managed=True, nodes=0))
    after = reduce(state, Observed(_snap(pools=pools if listed else pools[1:], listing=listing)))
    assert dict(after.delete_failures) == ({POOL: 2, "other": 1} if kept else {"other": 1})


# -- the pools as they are about to be -----------------------------------------------------------


def test_a_pool_being_deleted_does_not_hide_the_pools_listed_after_it() -> None:
    stopping = make_pool("a", managed=True).model_copy(update={"status": NodePoolStatus.STOPPING})
    pools = effective_pools(_snap(pools=(stopping, make_pool("b"))), ControllerState())
    assert [str(p.name) for p in pools] == ["b"]


def test_an_empty_pool_without_a_request_stays_empty() -> None:
    pools = effective_pools(_snap(pools=(make_pool("a", nodes=0),)), ControllerState())
    assert [p.node_count for p in pools] == [0]


def test_a_requested_pool_not_listed_yet_is_made_from_its_spec() -> None:
    """The created pool is counted at once (its request's target), as a managed pool that is
    still provisioning, with the spec's labels, taints and accelerator; a listed pool keeps
    its listing; a request restored without its command adds no pool."""
    created = _provision(target=3)
    listed = make_pool("listed", managed=True, nodes=2)
    spec = created.attempt.spec
    assert spec is not None
    requests = {
        "listed": replace(
            Request("listed", "gpu", created.offering, 0, 1, 2, NOW), command=created
        ),
        created.pool: Request(created.pool, "gpu", created.offering, 0, 2, 3, NOW, command=created),
        "restored": Request("restored", "gpu", created.offering, 0, 1, 1, NOW),
    }
    pools = effective_pools(_snap(pools=(listed,)), ControllerState(requests=requests))
    assert pools == [
        listed,
        NodePool(
            name=spec.name,
            machine_type=spec.machine_type,
            zones=(spec.zone,),
            node_count=3,
            capacity_type=spec.capacity_type,
            labels=spec.labels,
            taints=spec.taints,
            accelerator=spec.accelerator,
            status=NodePoolStatus.PROVISIONING,
            managed=True,
            class_name="gpu",
            rule_index=0,
        ),
    ]
    assert spec.taints and spec.accelerator is not None


# -- missing nodes -------------------------------------------------------------------------------


def _missing_state(**fields: object) -> tuple[ControllerState, ClusterSnapshot]:
    """Pool ``POOL`` asked for 3 nodes, one registered; pool ``full`` has its node."""
    pools = (make_pool(POOL, managed=True, nodes=3), make_pool("full", managed=True, nodes=1))
    nodes = (make_node("a-1", pool=POOL), make_node("f-1", pool="full"))
    return ControllerState(**fields), _snap(pools=pools, nodes=nodes)  # type: ignore[arg-type]


def test_the_missing_node_clock_restarts_when_some_of_the_nodes_arrive() -> None:
    state, snap = _missing_state(missing={POOL: Missing(NOW - 300 * SECOND, 3)})
    assert reduce(state, Observed(snap)).missing == {POOL: Missing(NOW, 2)}


def test_repair_times_and_late_errors_are_kept_only_for_pools_still_missing_nodes() -> None:
    errors = (STOCKOUT,)
    state, snap = _missing_state(
        repaired_at={POOL: NOW, "full": NOW}, late_errors={POOL: errors, "full": errors}
    )
    after = reduce(state, Observed(snap))
    assert dict(after.repaired_at) == {POOL: NOW}
    assert dict(after.late_errors) == {POOL: errors}


# -- what issued commands record ----------------------------------------------------------------


def test_each_drain_of_a_node_counts_and_remembers_when_and_how_many_pods() -> None:
    pods = (("ml", "a"), ("ml", "b"))
    first = reduce(ControllerState(), Issued((Drain("n1", (), "", Cause.EXPIRY, pods=pods),), NOW))
    assert dict(first.drains) == {"n1": (NOW, 1, 2)}
    later = NOW + 30 * SECOND
    second = reduce(first, Issued((Drain("n1", (), "", Cause.EXPIRY, pods=pods[:1]),), later))
    assert dict(second.drains) == {"n1": (later, 2, 1)}


def test_marking_a_pools_offering_unavailable_ends_its_capacity_check_and_late_errors() -> None:
    check = CapacityCheck(since=NOW, ends_at=NOW + 60 * SECOND, class_name="gpu")
    state = ControllerState(
        capacity_checks={POOL: check, "other": check},
        late_errors={POOL: (STOCKOUT,), "other": (STOCKOUT,)},
    )
    mark = MarkUnavailable("gpu", _entry(NOW + 60 * SECOND), 60, "", Cause.STOCKOUT, pool=POOL)
    after = reduce(state, Issued((mark,), NOW))
    assert set(after.capacity_checks) == {"other"}
    assert set(after.late_errors) == {"other"}
    assert list(after.memory_of("gpu")) == [mark.entry]
    unpooled = reduce(state, Issued((replace(mark, pool=None),), NOW))
    assert set(unpooled.capacity_checks) == {POOL, "other"}


def test_a_provision_records_its_request_with_its_cause_and_the_pools_size_once_done() -> None:
    scale = _provision(target=5, cause=Cause.MIGRATION)
    after = reduce(ControllerState(), Issued((scale,), NOW))
    assert after.requests == {
        scale.pool: Request(
            pool=scale.pool,
            class_name="gpu",
            offering=scale.offering,
            rule=0,
            nodes=2,
            target_nodes=5,
            started_at=NOW,
            cause=Cause.MIGRATION,
            after=("us-central1-b (spot)",),
            command=scale,
        )
    }
    assert after.calls == {scale.pool}


def test_a_repair_records_no_request_and_does_not_stop_the_commands_after_it() -> None:
    repair = replace(PROVISION, cause=Cause.REPAIR)
    other = _provision(nodes=1)
    after = reduce(ControllerState(), Issued((repair, other), NOW))
    assert dict(after.repaired_at) == {POOL: NOW}
    assert set(after.requests) == {other.pool}


def test_a_delete_ends_the_pools_request_and_late_errors_and_runs_as_a_call() -> None:
    state = reduce(ControllerState(late_errors={POOL: (STOCKOUT,)}), Issued((PROVISION,), NOW))
    delete = Delete(POOL, "gpu", "", Cause.CONSOLIDATION, nodes=("n1",))
    after = reduce(reduce(state, ProviderDone(PROVISION, NOW)), Issued((delete,), NOW))
    assert after.requests == {}
    assert after.late_errors == {}
    assert after.calls == {POOL}
    assert after.removed == {"n1"}


def test_a_hold_is_extended_by_a_later_wait_but_never_shortened() -> None:
    state = ControllerState(holds={POOL: NOW + 60 * SECOND})
    sooner = WaitUntil(NOW + 10 * SECOND, "retry", "", Cause.PROVIDER_ERROR, hold=POOL)
    assert dict(reduce(state, Issued((sooner,), NOW)).holds) == {POOL: NOW + 60 * SECOND}
    later = replace(sooner, at=NOW + 90 * SECOND)
    assert dict(reduce(state, Issued((later,), NOW)).holds) == {POOL: NOW + 90 * SECOND}


# -- what finished provider calls record --------------------------------------------------------


def test_a_failed_delete_lets_its_nodes_be_deleted_again_and_is_judged_at_its_time() -> None:
    delete = Delete(POOL, "gpu", "", Cause.CONSOLIDATION, nodes=("n1",))
    state = reduce(ControllerState(removed=frozenset({"n2"})), Issued((delete,), NOW))
    failed_at = NOW + 5 * SECOND
    after = reduce(state, ProviderDone(delete, failed_at, STOCKOUT))
    assert after.removed == {"n2"}
    assert after.calls == frozenset()
    assert [(f.command, f.at) for f in after.failures] == [(delete, failed_at)]
    assert dict(after.delete_failures) == {POOL: 1}


def test_a_delete_that_succeeds_ends_its_call_and_its_failure_count() -> None:
    delete = Delete(POOL, "gpu", "", Cause.CONSOLIDATION, whole_pool=True)
    state = reduce(ControllerState(delete_failures={POOL: 2}), Issued((delete,), NOW))
    after = reduce(state, ProviderDone(delete, NOW))
    assert after.calls == frozenset()
    assert after.delete_failures == {}


def test_a_failed_provision_ends_its_request_and_waits_for_judgement() -> None:
    state = reduce(ControllerState(), Issued((PROVISION,), NOW))
    after = reduce(state, ProviderDone(PROVISION, NOW + SECOND, STOCKOUT))
    assert after.requests == {}
    assert after.calls == frozenset()
    assert [(f.command, f.error, f.at) for f in after.failures] == [
        (PROVISION, STOCKOUT, NOW + SECOND)
    ]


def test_a_provision_that_fails_after_its_pool_was_deleted_is_still_judged() -> None:
    """A Delete of the pool ended the request while the provision's call still ran."""
    delete = Delete(POOL, "gpu", "", Cause.CONSOLIDATION, whole_pool=True)
    state = reduce(ControllerState(), Issued((PROVISION, delete), NOW))
    after = reduce(state, ProviderDone(PROVISION, NOW, STOCKOUT))
    assert [f.command for f in after.failures] == [PROVISION]


def test_late_errors_replace_the_pools_earlier_ones() -> None:
    state = ControllerState(late_errors={POOL: (STOCKOUT,)})
    quota = ErrorInfo(result="quota", code="QUOTA_EXCEEDED")
    assert dict(reduce(state, LateErrors(POOL, (quota,), NOW)).late_errors) == {POOL: (quota,)}
