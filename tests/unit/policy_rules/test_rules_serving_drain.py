"""Rules of policies/serving_drain.py: which drains wait for a ServingGroup's surge, and which
replicas of an expiring node are replaced by the group's own surge rather than by new room.

The recycling of expiring flex-start nodes is GKE's (gke-computeclass.md §4); holding the drain
for the surge and counting a replica and its surge as one demand are ccc's (design 026).
"""

from __future__ import annotations

from ccc.api.cluster import PodInfo
from policies.commands import Drain
from policies.snapshot import ServingCovers
from tests.unit.test_policies_decide import _node, _of, _pod, _pool, _provisioned_nodes, _run
from tests.unit.test_policies_decide import _snapshot as _decide_snapshot
from tests.unit.test_policies_lifecycle import _flex_class
from tests.unit.test_policies_serving_drain import _covers, _marked, _replica


def _expiring_alone(pods: list[PodInfo], covers: ServingCovers | None) -> int:
    """Nodes the walk asks for when the marked expiring node a-1 is the class's only node."""
    snap = _decide_snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[_marked()],  # type: ignore[list-item]
        pools=[_pool(nodes=1)],
        pods=pods,
        serving=covers,
    )
    return _provisioned_nodes(_run(snap))


def test_an_expiring_node_without_pods_is_drained_at_once_while_serving_groups_are_watched() -> (
    None
):
    """No replica runs on it, so no group's surge is waited for (and nothing needs room)."""
    snap = _decide_snapshot(
        classes=[_flex_class()],  # type: ignore[list-item]
        nodes=[_marked(), _node("a-2")],  # type: ignore[list-item]
        pools=[_pool(nodes=2)],
        pods=[],
        serving=_covers(),
    )
    decision = _run(snap)
    assert [c.node for c in _of(Drain, decision)] == ["a-1"]  # type: ignore[attr-defined]
    assert not decision.blocked


def test_each_pending_surge_replica_stands_for_one_leaving_replica_only() -> None:
    """Three replicas leave, two surge replicas are pending: two pairs and one replica that
    still needs a node of its own, so three nodes in all (not two, not four)."""
    leaving = [_replica(f"p{i}", "a-1") for i in range(3)]
    surge = [_replica("s1", None), _replica("s2", None)]
    assert _expiring_alone([*leaving, *surge], _covers()) == 3


def test_pods_of_no_serving_group_are_never_paired_with_other_pending_pods() -> None:
    """A plain pod leaving and a plain pending pod of the same shape are two demands."""
    plain_leaving = _pod("web", node="a-1")
    plain_pending = _pod("batch")
    assert _expiring_alone([plain_leaving, plain_pending], _covers()) == 2


def test_a_covered_groups_replicas_need_no_room_but_a_plain_pod_beside_them_does() -> None:
    """The group's Ready capacity covers a-1, so its replica needs no node; the plain pod that
    comes first on the node still needs one."""
    pods = [_pod("web", node="a-1"), _replica("p", "a-1")]
    assert _expiring_alone(pods, _covers(frozenset({"a-1"}))) == 1


def test_without_a_serving_group_controller_a_replica_and_its_pending_surge_are_one_demand() -> (
    None
):
    assert _expiring_alone([_replica("p", "a-1"), _replica("surge", None)], None) == 1
