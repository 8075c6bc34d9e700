"""Rules of node lifecycle (policies/lifecycle.py) as fast table tests: flex-start expiry and
recycling (reference/gke-computeclass.md §4 "DWS flex-start"; /work/shared/reference/
lifecycle-and-serving.md A1) and spot preemption (gke-computeclass.md §5 "Spot VMs on GKE";
lifecycle-and-serving.md A3). The in-memory lifecycle loop tests cover the same rules end to
end; these pin each rule on the pure functions the decide step calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, PodInfo
from policies.commands import Cause, Cordon, Delete, Drain, Replace
from policies.disruption import DisruptionContext, expiry
from policies.inflight import NodeSlot
from policies.lifecycle import (
    DrainSettings,
    Leaving,
    evictable,
    expiry_steps,
    next_recycle_at,
    preemption_steps,
    recycle_lead,
    replace_steps,
)
from policies.nodes import node_facts
from policies.room import node_slots
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot, ProviderNotice
from policies.state import ControllerState
from tests.builders import NOW, catalog, make_class, make_rule
from tests.unit.policy_rules.lifecycle_builders import (
    GRACE,
    MACHINE,
    NOTICE_TAINT,
    ZONE,
    _flex,
    _leaving,
    _node,
    _pod,
    _stamp,
)

# -- recycling lead time (§4: nodeRecycling.leadTimeSeconds) ------------------------------------


@pytest.mark.parametrize(
    ("flex", "rule", "lead"),
    [
        ({"enabled": True, "nodeRecycling": {"leadTimeSeconds": 900}}, 0, timedelta(seconds=900)),
        ({"enabled": True}, 0, None),  # no nodeRecycling: the node simply ends
        ({"enabled": False, "nodeRecycling": {"leadTimeSeconds": 900}}, 0, None),
        ({"enabled": True, "nodeRecycling": {"leadTimeSeconds": 900}}, 1, None),  # no rule 1
        ({"enabled": True, "nodeRecycling": {"leadTimeSeconds": 900}}, -1, None),
        ({"enabled": True, "nodeRecycling": {"leadTimeSeconds": 900}}, None, None),
    ],
)
def test_the_lead_time_is_that_of_the_flex_start_rule_that_made_the_node(
    flex: dict[str, object], rule: int | None, lead: timedelta | None
) -> None:
    cc = make_class(make_rule(MACHINE, zones=[ZONE], flexStart=flex))
    assert recycle_lead(cc, rule) == lead


def test_a_node_of_a_class_that_is_gone_has_no_lead_time() -> None:
    assert recycle_lead(None, 0) is None


def test_a_node_recycled_by_a_later_rule_uses_that_rules_lead_time() -> None:
    cc = make_class(
        make_rule(MACHINE, zones=[ZONE], spot=True),
        make_rule(
            MACHINE,
            zones=[ZONE],
            flexStart={"enabled": True, "nodeRecycling": {"leadTimeSeconds": 60}},
        ),
    )
    assert (recycle_lead(cc, 0), recycle_lead(cc, 1)) == (None, timedelta(seconds=60))


# -- which nodes are leaving -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ends_in_s", "leaving"),
    # lead 600 s; GKE's recycling plugin takes a node once ttl < leadTimeSeconds (strictly:
    # lifecycle-and-serving.md A1, gke-computeclass.md §4)
    [(601, False), (600, False), (599.999999, True), (1, True), (-30, True)],
)
def test_a_flex_start_node_starts_leaving_once_its_deadline_is_within_the_lead_time(
    ends_in_s: float, leaving: bool
) -> None:
    out = _leaving([_node("a-1", ends_in_s=ends_in_s)])
    assert [(x.node, x.cause) for x in out] == ([("a-1", Cause.EXPIRY)] if leaving else [])


def test_an_expiring_node_carries_its_deadline_and_no_spot_signal() -> None:
    [x] = _leaving([_node("a-1", ends_in_s=60)])
    assert (x.deadline, x.signal, x.class_name) == (NOW + timedelta(seconds=60), None, "gpu")


def test_a_node_whose_recycling_started_keeps_leaving_even_without_a_lead_time_now() -> None:
    """The class's nodeRecycling was removed (or its deadline moved) after the replacement
    began: the node recorded as being recycled is still carried through to its delete."""
    started = _node("a-1", ends_in_s=3600, progress=Cause.EXPIRY.value)
    [x] = _leaving([started], classes=[_flex(None)])
    assert x.cause is Cause.EXPIRY
    other = _node("a-2", ends_in_s=3600, progress=Cause.MIGRATION.value)
    assert _leaving([other], classes=[_flex(None)]) == []


def test_a_node_without_a_deadline_or_a_signal_is_not_leaving() -> None:
    assert _leaving([_node("a-1"), _node("b-1", cls="other")]) == []


def test_a_node_of_no_class_is_never_leaving_and_does_not_hide_the_others() -> None:
    plain = replace(_node("a-0", ends_in_s=10, spot=True, taints=(NOTICE_TAINT,)), labels={})
    assert [x.node for x in _leaving([plain, _node("a-1", ends_in_s=10)])] == ["a-1"]


def test_expiring_nodes_are_handled_closest_deadline_first_then_by_name() -> None:
    """lifecycle-and-serving.md A1: candidates are sorted by time to termination."""
    nodes = [
        _node("a-0"),  # not leaving
        _node("a-3", ends_in_s=300),
        _node("a-2", ends_in_s=100),
        _node("a-1", ends_in_s=300),
    ]
    assert [x.node for x in _leaving(nodes)] == ["a-2", "a-1", "a-3"]


def test_preempted_nodes_come_first_in_name_order_then_expiring_ones() -> None:
    nodes = [
        _node("a-0", ends_in_s=-20),  # GCE may end a VM up to 30 s after its deadline
        _node("s-2", spot=True, taints=(NOTICE_TAINT,)),
        _node("s-1", spot=True, taints=(NOTICE_TAINT,)),
    ]
    out = _leaving(nodes)
    assert [(x.node, x.cause) for x in out] == [
        ("s-1", Cause.PREEMPTION),
        ("s-2", Cause.PREEMPTION),
        ("a-0", Cause.EXPIRY),
    ]
    assert out[0].signal == L.IMPENDING_TERMINATION_TAINT


def test_a_terminating_taint_preempts_a_node_of_any_capacity_type_even_near_its_deadline() -> None:
    """A node GCE is taking away now is replaced at once, as a preemption, whatever its
    provisioning model; a deadline does not turn it into a paced recycle."""
    node = _node("a-1", ends_in_s=60, taints=(NOTICE_TAINT,))
    [x] = _leaving([node])
    assert (x.cause, x.signal) == (Cause.PREEMPTION, L.IMPENDING_TERMINATION_TAINT)


@pytest.mark.parametrize(
    ("spot", "age", "preempted"),
    [
        (True, timedelta(minutes=10), True),
        (True, GRACE, True),  # the grace is over
        (True, timedelta(minutes=4), False),  # still booting
        (False, timedelta(minutes=10), False),  # on-demand NotReady: not a preemption
    ],
)
def test_a_not_ready_spot_node_is_preempted_unless_it_is_still_booting(
    spot: bool, age: timedelta, preempted: bool
) -> None:
    node = _node("s-1", spot=spot, ready=False, creation_timestamp=NOW - age)
    out = _leaving([node])
    assert [(x.cause, x.signal) for x in out] == (
        [(Cause.PREEMPTION, "NotReady")] if preempted else []
    )


def test_a_provider_notice_preempts_the_node_it_names() -> None:
    notice = ProviderNotice(node="s-1", kind="preemption", at=NOW)
    [x] = _leaving([_node("s-1", spot=True), _node("s-2", spot=True)], notices=[notice])
    assert (x.node, x.cause, x.signal) == ("s-1", Cause.PREEMPTION, "preemption")


def test_the_demand_of_a_leaving_node_is_its_class_workload_pods_and_the_drain_names_them_all() -> (
    None
):
    pods = [
        _pod("w", "a-1"),
        _pod("foreign", "a-1", cls="other"),
        _pod("ds", "a-1", owner_kind="DaemonSet"),
        _pod("mirror", "a-1", owner_kind="Node"),
        _pod("done", "a-1", phase="Succeeded"),
        _pod("going", "a-1", deletion_timestamp=NOW),
        _pod("elsewhere", "a-2"),
    ]
    [x] = _leaving([_node("a-1", ends_in_s=60), _node("a-2")], pods)
    assert [d.name for d in x.demand] == ["w"]
    assert x.pods == (("ml", "w"), ("ml", "foreign"))


@pytest.mark.parametrize(
    ("changes", "evicted"),
    [
        ({}, True),
        ({"owner_kind": "DaemonSet"}, False),
        ({"owner_kind": "Node"}, False),
        ({"owner_kind": "StatefulSet"}, True),
        ({"owner_kind": None}, True),
        ({"phase": "Succeeded"}, False),
        ({"phase": "Failed"}, False),
        ({"phase": "Pending"}, True),
        ({"deletion_timestamp": NOW}, False),
    ],
)
def test_a_drain_evicts_workload_pods_but_not_daemonset_mirror_ended_or_deleting_pods(
    changes: dict[str, object], evicted: bool
) -> None:
    pod = _pod("p", "a-1", **changes)
    assert evictable([pod]) == ([pod] if evicted else [])


# -- when to wake for the next recycle ---------------------------------------------------------


def test_the_loop_wakes_when_the_first_node_enters_its_lead_time() -> None:
    nodes = [
        _node("c-1"),  # no deadline
        _node("a-3", ends_in_s=1800, progress=Cause.EXPIRY.value),  # already being replaced
        _node("a-4", ends_in_s=300),  # already inside its lead time
        _node("b-1", ends_in_s=900, cls="nolead"),
        _node("a-1", ends_in_s=7200),
        _node("a-2", ends_in_s=3600),
    ]
    classes = {"gpu": _flex(600), "nolead": _flex(None, name="nolead")}
    at = next_recycle_at(node_facts(nodes, {}), classes, NOW)
    # the first instant with less than the lead time left
    assert at == NOW + timedelta(seconds=3600 - 600, microseconds=1)
    assert [x.node for x in _leaving([_node("a-2", ends_in_s=3600)], now=at)] == ["a-2"]


def test_a_node_exactly_at_its_lead_time_is_not_leaving_yet_and_wakes_the_loop_next() -> None:
    nodes = [_node("a-1", ends_in_s=600)]
    assert _leaving(nodes) == []
    at = next_recycle_at(node_facts(nodes, {}), {"gpu": _flex(600)}, NOW)
    assert at == NOW + timedelta(microseconds=1)


def test_no_recycle_wake_up_without_a_node_outside_its_lead_time() -> None:
    nodes = [_node("a-1", ends_in_s=599), _node("b-1", ends_in_s=900, cls="nolead")]
    classes = {"gpu": _flex(600), "nolead": _flex(None, name="nolead")}
    assert next_recycle_at(node_facts(nodes, {}), classes, NOW) is None


# -- drain settings (nodePoolConfig.nodeDrainConfig) -------------------------------------------


@pytest.mark.parametrize(
    ("config", "pdb_timeout", "grace_s"),
    [
        (None, None, None),
        ({}, None, None),
        ({"pdbTimeoutDuration": "120s"}, timedelta(minutes=2), None),
        ({"graceTerminationDuration": "45s"}, None, 45),
        (
            {"pdbTimeoutDuration": "3600s", "graceTerminationDuration": "90.5s"},
            timedelta(hours=1),
            90,
        ),
    ],
)
def test_a_class_drain_config_sets_the_pdb_timeout_and_the_grace_period(
    config: dict[str, str] | None, pdb_timeout: timedelta | None, grace_s: int | None
) -> None:
    spec = {} if config is None else {"nodePoolConfig": {"nodeDrainConfig": config}}
    drain = DrainSettings.of(_flex(**spec))
    assert (drain.pdb_timeout, drain.grace_s) == (pdb_timeout, grace_s)


def test_a_gone_class_drains_with_the_defaults() -> None:
    assert DrainSettings.of(None) == DrainSettings()


@pytest.mark.parametrize(("attempts", "seconds"), [(0, 2), (1, 2), (2, 4), (4, 16), (5, 30)])
def test_a_refused_drain_is_retried_after_a_doubling_pause_capped_at_thirty_seconds(
    attempts: int, seconds: float
) -> None:
    assert DrainSettings().retry_after(attempts) == timedelta(seconds=seconds)


def test_the_drain_pacing_follows_its_settings() -> None:
    drain = DrainSettings(retry_base_s=5.0, retry_max_s=12.0)
    assert [drain.retry_after(n).total_seconds() for n in (1, 2, 3)] == [5.0, 10.0, 12.0]


# -- the steps of a leaving node: replace -> cordon -> drain -> delete (create before delete) ---


def _room(*nodes: NodeInfo) -> list[NodeSlot]:
    """Free room on Ready ``nodes`` (empty ones: one 8-GPU pod each)."""
    return node_slots(list(nodes), {}, (), catalog(), now=NOW)


def _one(node: NodeInfo, pods: Sequence[PodInfo] = (), cause: Cause | None = None) -> Leaving:
    [x] = _leaving([node], pods)
    return x if cause is None else replace(x, cause=cause)


def _draining(name: str, *, started_s_ago: float, **kw: object) -> NodeInfo:
    started = {L.DRAIN_STARTED_ANNOTATION: _stamp(NOW - timedelta(seconds=started_s_ago))}
    return _node(name, ends_in_s=60, progress=Cause.EXPIRY.value, annotations=started, **kw)


def test_an_expiring_node_is_replaced_and_cordoned_at_once_but_not_drained_before_room() -> None:
    """§4: the replacement is asked for at the start of the lead time and nothing new lands on
    the node; its pods stay until they fit on Ready nodes (create before delete)."""
    node = _node("a-1", ends_in_s=300)
    x = _one(node, [_pod("w", "a-1")])
    steps = expiry_steps(x, node, [], NOW, drain=DrainSettings(), last_drain=None)
    replace_cmd, cordon = steps.commands
    assert isinstance(replace_cmd, Replace) and isinstance(cordon, Cordon)
    assert (replace_cmd.class_name, replace_cmd.nodes, replace_cmd.cause) == (
        "gpu",
        ("a-1",),
        Cause.EXPIRY,
    )
    assert replace_cmd.deadline == NOW + timedelta(seconds=300)
    assert (cordon.node, cordon.cause) == ("a-1", Cause.EXPIRY)
    assert (steps.wake, steps.blocked) == (None, None)


def test_a_node_already_recorded_and_cordoned_gets_neither_again() -> None:
    node = _node("a-1", ends_in_s=300, progress=Cause.EXPIRY.value, unschedulable=True)
    x = _one(node, [_pod("w", "a-1")])
    steps = expiry_steps(x, node, [], NOW, drain=DrainSettings(), last_drain=None)
    assert steps.commands == ()


def test_an_expiring_node_is_drained_once_its_pods_fit_and_the_room_is_taken() -> None:
    """Each leaving node takes the Ready room its pods fit in: a second node cannot drain
    onto the same room in the same pass."""
    drain = DrainSettings(grace_s=45)
    room = _room(_node("new-1"))
    first, second = _node("a-1", ends_in_s=100), _node("a-2", ends_in_s=200)
    s1 = expiry_steps(
        _one(first, [_pod("w1", "a-1")]), first, room, NOW, drain=drain, last_drain=None
    )
    s2 = expiry_steps(
        _one(second, [_pod("w2", "a-2")]), second, room, NOW, drain=drain, last_drain=None
    )
    [d] = [c for c in s1.commands if isinstance(c, Drain)]
    assert (d.node, d.pods, d.grace_period_s, d.cause) == ("a-1", (("ml", "w1"),), 45, Cause.EXPIRY)
    assert s1.wake == NOW + timedelta(seconds=2)
    assert not [c for c in s2.commands if isinstance(c, Drain)]


@pytest.mark.parametrize(
    ("last", "drained", "wake_s"),
    [
        ((-1, 1, 1), False, 1),  # refused 1 s ago, first retry after 2 s
        ((-2, 1, 1), True, 4),  # the pause is over; the next one doubles
        ((-3, 2, 1), False, 1),  # second refusal: 4 s pause
        ((-1, 3, 2), True, 2),  # a pod left since: progress, drained again at once
    ],
)
def test_a_drain_is_retried_after_its_pause_and_at_once_when_it_made_progress(
    last: tuple[float, int, int], drained: bool, wake_s: float
) -> None:
    node = _draining("a-1", started_s_ago=10, unschedulable=True)
    x = _one(node, [_pod("w", "a-1")])
    last_drain = (NOW + timedelta(seconds=last[0]), last[1], last[2])
    steps = expiry_steps(x, node, [], NOW, drain=DrainSettings(), last_drain=last_drain)
    assert bool([c for c in steps.commands if isinstance(c, Drain)]) is drained
    assert steps.wake == NOW + timedelta(seconds=wake_s)


def test_a_drain_in_progress_goes_on_without_looking_for_room_again() -> None:
    """The replacement's room was counted when the drain began; later passes evict the rest
    even if the room has been used by other pods since."""
    node = _draining("a-1", started_s_ago=10, unschedulable=True)
    steps = expiry_steps(
        _one(node, [_pod("w", "a-1")]), node, [], NOW, drain=DrainSettings(), last_drain=None
    )
    assert [type(c) for c in steps.commands] == [Drain]


def test_a_drained_node_is_deleted_from_its_pool() -> None:
    node = _draining("a-1", started_s_ago=10, unschedulable=True)
    steps = expiry_steps(_one(node), node, [], NOW, drain=DrainSettings(), last_drain=None)
    [delete] = steps.commands
    assert isinstance(delete, Delete)
    assert (delete.pool, delete.class_name, delete.nodes, delete.cause) == (
        "pool-a",
        "gpu",
        ("a-1",),
        Cause.EXPIRY,
    )


@pytest.mark.parametrize(("started_s_ago", "blocked"), [(59, False), (60, True), (600, True)])
def test_a_drain_stops_and_reports_a_pdb_once_the_class_pdb_timeout_has_passed(
    started_s_ago: float, blocked: bool
) -> None:
    """nodeDrainConfig.pdbTimeoutDuration: evictions a PodDisruptionBudget refuses are retried
    until the timeout, then the node is reported ``PodDisruptionBudget`` (never bypassed)."""
    node = _draining("a-1", started_s_ago=started_s_ago, unschedulable=True)
    drain = DrainSettings(pdb_timeout=timedelta(seconds=60))
    steps = expiry_steps(
        _one(node, [_pod("w", "a-1")]), node, [], NOW, drain=drain, last_drain=None
    )
    assert steps.blocked == ("PodDisruptionBudget" if blocked else None)
    assert bool([c for c in steps.commands if isinstance(c, Drain)]) is not blocked


def test_a_migrating_node_is_left_untouched_until_its_pods_fit_on_ready_nodes() -> None:
    """Unlike an expiring node, a node moved to a better rule is neither recorded nor
    cordoned while its pods have nowhere to go (it keeps serving)."""
    node = _node("a-1")
    x = _one(_node("a-1", ends_in_s=60), [_pod("w", "a-1")], Cause.MIGRATION)
    kw = {"drain": DrainSettings(), "last_drain": None, "reason": "", "early": False}
    assert replace_steps(x, node, [], NOW, **kw).commands == ()  # type: ignore[arg-type]
    steps = replace_steps(x, node, _room(_node("new-1")), NOW, **kw)  # type: ignore[arg-type]
    assert [(type(c), c.cause) for c in steps.commands] == [  # type: ignore[union-attr]
        (Replace, Cause.MIGRATION),
        (Cordon, Cause.MIGRATION),
        (Drain, Cause.MIGRATION),
    ]


def test_a_preempted_node_is_recorded_against_its_class_and_cordoned_once() -> None:
    """§5: kubelet's graceful shutdown empties a preempted spot node; ccc records the
    replacement (the class's ReplacingNode event and replacement count) and cordons it."""
    node = _node("s-1", spot=True, taints=(NOTICE_TAINT,))
    x = _one(node, [_pod("w", "s-1")])
    replace_cmd, cordon = preemption_steps(x, node)
    assert isinstance(replace_cmd, Replace) and isinstance(cordon, Cordon)
    assert (replace_cmd.class_name, replace_cmd.nodes, replace_cmd.cause) == (
        "gpu",
        ("s-1",),
        Cause.PREEMPTION,
    )
    assert (cordon.node, cordon.cause) == ("s-1", Cause.PREEMPTION)
    recorded = _node("s-1", spot=True, taints=(NOTICE_TAINT,), progress="preemption")
    assert [type(c) for c in preemption_steps(_one(recorded), recorded)] == [Cordon]
    assert preemption_steps(_one(recorded), None) == ()
    assert preemption_steps(_one(recorded), replace(recorded, unschedulable=True)) == ()


@pytest.mark.parametrize(
    ("busy", "calls", "deleted"),
    [
        (frozenset(), frozenset(), True),
        (frozenset({"pool-a"}), frozenset(), False),  # a Provision of this pass grows the pool
        (frozenset(), frozenset({"pool-a"}), False),  # a provider call on the pool is running
        (frozenset({"pool-b"}), frozenset(), True),  # another pool is busy: no matter
    ],
    ids=["idle-pool", "provisioned-this-pass", "call-running", "other-pool-busy"],
)
def test_a_drained_node_waits_for_its_pool_to_be_free_of_other_calls_before_its_delete(
    busy: frozenset[str], calls: frozenset[str], deleted: bool
) -> None:
    """One provider call per pool at a time: the Delete of an expired, drained node is not
    issued in a pass that also grows its pool (a replacement's Provision) or while a call on the
    pool runs (GKE refuses a second operation on a node pool); the next pass deletes it."""
    node = _draining("a-1", started_s_ago=10, unschedulable=True)
    classes = {"gpu": _flex()}
    ctx = DisruptionContext(
        now=NOW,
        snapshot=ClusterSnapshot(now=NOW, classes=classes, nodes=[node]),
        state=ControllerState(calls=calls),
        settings=Settings(),
        classes=classes,
        pools={},
        facts={},
        pending_classes=frozenset(),
        busy_pools=busy,
        leaving=(_one(node),),
    )
    [proposal] = expiry(ctx)
    assert bool([c for c in proposal.commands if isinstance(c, Delete)]) is deleted
