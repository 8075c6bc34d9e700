"""Rules of spot preemption in node lifecycle (policies/lifecycle.py) as fast table tests:
the offering marks a preempted node leaves in the obtainability memory and the pods that replace
its own (reference/gke-computeclass.md §5 "Spot VMs on GKE"; /work/shared/reference/
lifecycle-and-serving.md A3). The flex-start and drain rules are in test_rules_lifecycle.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from policies.commands import Cause, MarkUnavailable
from policies.lifecycle import (
    PREEMPTED,
    Leaving,
    preemption_marks,
    replacement_groups,
    with_marks,
)
from policies.obtainability import ObtainabilityMemory, Unavailability
from policies.snapshot import ClusterSnapshot, ProviderNotice
from policies.state import ControllerState
from tests.builders import NOW, make_pod_info
from tests.unit.policy_rules.lifecycle_builders import (
    NOTICE_TAINT,
    SPOT,
    _flex,
    _leaving,
    _node,
    _pod,
)

# -- spot preemption marks (§5) ----------------------------------------------------------------


def _marks(
    leaving: Sequence[Leaving],
    nodes: Sequence[NodeInfo],
    *,
    memory: dict[str, ObtainabilityMemory] | None = None,
    notices: Sequence[ProviderNotice] = (),
    backoff_s: float = 60.0,
) -> list[MarkUnavailable]:
    return preemption_marks(
        leaving,
        {n.name: n for n in nodes},
        notices,
        memory or {},
        NOW,
        backoff_s=backoff_s,
    )


def _previous(reason: str, failures: int, *, ended_s_ago: float) -> dict[str, ObtainabilityMemory]:
    until = NOW - timedelta(seconds=ended_s_ago)
    entry = Unavailability(SPOT, reason, "", failures, until - timedelta(minutes=1), until)
    return {"gpu": ObtainabilityMemory(entries={SPOT: entry})}


def test_a_preempted_spot_node_marks_its_offering_for_its_class_with_a_short_backoff() -> None:
    nodes = [_node("s-1", spot=True, taints=(NOTICE_TAINT,))]
    [mark] = _marks(_leaving(nodes), nodes)
    assert (mark.class_name, mark.entry.key, mark.entry.reason) == ("gpu", SPOT, PREEMPTED)
    assert (mark.entry.failures, mark.entry.since, mark.entry.until) == (
        1,
        NOW,
        NOW + timedelta(seconds=60),
    )
    assert (mark.backoff_s, mark.cause) == (60.0, Cause.PREEMPTION)


@pytest.mark.parametrize(
    ("reason", "failures", "backoff_s"),
    [
        (PREEMPTED, 1, 120.0),  # doubling on a repeat
        (PREEMPTED, 3, 480.0),
        (PREEMPTED, 12, 3600.0),  # capped at an hour
        ("GCE_STOCKOUT", 3, 60.0),  # a stockout's count is not a preemption's
    ],
)
def test_a_repeated_preemption_doubles_the_backoff_up_to_an_hour(
    reason: str, failures: int, backoff_s: float
) -> None:
    nodes = [_node("s-1", spot=True, taints=(NOTICE_TAINT,))]
    memory = _previous(reason, failures, ended_s_ago=1)
    [mark] = _marks(_leaving(nodes), nodes, memory=memory)
    assert mark.backoff_s == backoff_s
    assert mark.entry.until == NOW + timedelta(seconds=backoff_s)


def test_an_offering_still_backing_off_is_not_marked_again_but_other_classes_are() -> None:
    nodes = [
        _node("s-1", spot=True, taints=(NOTICE_TAINT,)),
        _node("t-1", spot=True, taints=(NOTICE_TAINT,), cls="other"),
    ]
    leaving = _leaving(nodes, classes=[_flex(), _flex(name="other")])
    memory = _previous(PREEMPTED, 1, ended_s_ago=-5)  # gpu's mark ends in 5 s
    assert [m.class_name for m in _marks(leaving, nodes, memory=memory)] == ["other"]


def test_a_storm_on_one_offering_marks_it_once_per_class() -> None:
    nodes = [
        _node("s-1", spot=True, taints=(NOTICE_TAINT,)),
        _node("s-2", spot=True, taints=(NOTICE_TAINT,)),
        _node("t-1", spot=True, taints=(NOTICE_TAINT,), cls="other"),
    ]
    leaving = _leaving(nodes, classes=[_flex(), _flex(name="other")])
    assert sorted(m.class_name for m in _marks(leaving, nodes)) == ["gpu", "other"]


def test_a_preempted_node_whose_labels_do_not_name_its_offering_marks_nothing() -> None:
    """Without the instance-type or the zone label there is no offering to skip; the node is
    still replaced."""
    for missing in (L.MACHINE_TYPE_LABEL, L.ZONE_LABEL):
        node = _node("s-1", spot=True, taints=(NOTICE_TAINT,))
        node = replace(node, labels={k: v for k, v in node.labels.items() if k != missing})
        leaving = _leaving([node])
        assert [x.cause for x in leaving] == [Cause.PREEMPTION]
        assert _marks(leaving, [node]) == []


def test_an_expiring_node_marks_no_offering() -> None:
    nodes = [_node("a-1", ends_in_s=60)]
    assert _marks(_leaving(nodes), nodes) == []


def test_a_provider_preemption_notice_of_a_node_already_gone_marks_its_offering() -> None:
    notices = [
        ProviderNotice(node="gone", kind="preemption", at=NOW, offering=SPOT, class_name="gpu"),
        ProviderNotice(node="old", kind="expiry", at=NOW, offering=SPOT, class_name="x"),
        ProviderNotice(node="anon", kind="preemption", at=NOW, offering=SPOT),
        ProviderNotice(node="unknown", kind="preemption", at=NOW, class_name="y"),
    ]
    [mark] = _marks([], [], notices=notices)
    assert (mark.class_name, mark.entry.key) == ("gpu", SPOT)


def test_marks_are_applied_to_the_memory_the_walk_of_the_same_pass_uses() -> None:
    nodes = [_node("s-1", spot=True, taints=(NOTICE_TAINT,))]
    [mark] = _marks(_leaving(nodes), nodes)
    other = SPOT.model_copy(update={"zone": "us-central1-b"})
    kept = Unavailability(other, "GCE_STOCKOUT", "", 1, NOW, NOW + timedelta(minutes=5))
    memory = {"gpu": ObtainabilityMemory(entries={other: kept})}
    with_marks(memory, [mark], lambda cls: ObtainabilityMemory())
    assert memory["gpu"].entries == {other: kept, SPOT: mark.entry}
    # a class not judged yet this pass starts from what the state remembers of it
    state = ControllerState(memory={"gpu": ObtainabilityMemory(entries={other: kept})})
    fresh: dict[str, ObtainabilityMemory] = {}
    with_marks(fresh, [mark], state.memory_of)
    assert fresh["gpu"].entries == {other: kept, SPOT: mark.entry}


# -- replacement groups ------------------------------------------------------------------------


def test_recreated_pods_of_a_class_after_its_preemption_notice_replace_preempted_pods() -> None:
    """The workload controller recreated the pods of a node that is already gone: they are
    provisioned as preemption replacements, pods created before the notice are not."""
    notices = [
        ProviderNotice(
            node="gone", kind="preemption", at=NOW - timedelta(minutes=2), class_name="gpu"
        ),
        ProviderNotice(
            node="gone2", kind="preemption", at=NOW - timedelta(minutes=1), class_name="gpu"
        ),
        ProviderNotice(node="old", kind="expiry", at=NOW - timedelta(hours=2), class_name="other"),
    ]
    new = make_pod_info("new", age=timedelta(minutes=2))  # created at the first notice
    old = replace(make_pod_info("old", age=timedelta(minutes=3)), cpu_m=4000)
    other = make_pod_info("other", cls="other", age=timedelta(seconds=30))
    running = replace(make_pod_info("run", node="a-1", age=timedelta(seconds=10)), cpu_m=2000)
    snap = ClusterSnapshot(now=NOW, classes={}, pods=[new, old, other, running], notices=notices)
    groups = replacement_groups([], snap)
    assert groups == {new.request().group_id(): Cause.PREEMPTION}
    assert old.request().group_id() != new.request().group_id()


def test_the_pods_of_leaving_nodes_are_replacements_with_the_nodes_cause() -> None:
    pods = [_pod("w", "a-1")]
    leaving = _leaving([_node("a-1", ends_in_s=60)], pods)
    snap = ClusterSnapshot(now=NOW, classes={}, pods=pods)
    assert replacement_groups(leaving, snap) == {pods[0].request().group_id(): Cause.EXPIRY}
