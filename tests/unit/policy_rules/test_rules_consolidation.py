"""Rules of ``policies/consolidation.py``: which empty nodes and pools of managed pools are removed
(docs/controller.md, "Scale-down")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccc.api.values import NodePool
from policies.consolidation import DEFAULT_CONSOLIDATION_DELAY, NodeUsage, plan_scale_down
from tests.builders import NOW, make_pool

LONG_EMPTY = NOW - 2 * DEFAULT_CONSOLIDATION_DELAY


def _managed(name: str, *, nodes: int = 1, cls: str = "gpu") -> NodePool:
    return make_pool(name, nodes=nodes, class_name=cls, managed=True)


@pytest.mark.parametrize(
    "first",
    [
        make_pool("a-manual", nodes=1),  # a pool ccc did not create
        _managed("a-busy", cls="busy"),  # a pool of a class with pending pods
    ],
    ids=["unmanaged", "pending-class"],
)
def test_a_pool_left_alone_does_not_stop_the_scale_down_of_the_pools_after_it(
    first: NodePool,
) -> None:
    nodes = [
        NodeUsage("a-1", str(first.name), 0, LONG_EMPTY),
        NodeUsage("b-1", "b-idle", 0, LONG_EMPTY),
    ]
    got = plan_scale_down(
        [first, _managed("b-idle")],
        nodes,
        now=NOW,
        delays={},
        pending_classes=frozenset({"busy"}),
    )
    assert [(d.pool, d.delete_pool, d.nodes) for d in got] == [("b-idle", True, ("b-1",))]


def test_a_pool_without_nodes_is_deleted_by_name_for_its_class() -> None:
    """The removal names the pool and its class (the class's ``ScaledDown`` Event and the
    scale-down metric are per class)."""
    [gone] = plan_scale_down(
        [_managed("b-idle", nodes=0, cls="gpu")], [], now=NOW, delays={"gpu": timedelta(0)}
    )
    assert (gone.pool, gone.class_name, gone.delete_pool, gone.nodes) == ("b-idle", "gpu", True, ())
