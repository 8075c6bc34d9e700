"""Scale-down of named nodes in the simulated cloud."""

from __future__ import annotations

from ccc.api.values import CapacityType, NodePoolName, NodePoolSpec
from providers.simulated import SimulatedCloud


def _spec(n: int) -> NodePoolSpec:
    return NodePoolSpec(
        name=NodePoolName("p1"),
        class_name="c",
        rule_index=0,
        machine_type="g2-standard-8",
        zone="us-central1-a",
        capacity_type=CapacityType.SPOT,
        node_count=n,
    )


async def test_delete_nodes_removes_exactly_the_named_nodes_and_ignores_unknown_ones() -> None:
    cloud = SimulatedCloud()
    await cloud.create_node_pool(_spec(3))
    names = sorted(n.name for n in cloud.nodes())
    pool = await cloud.delete_nodes("p1", [names[0], "not-a-node"])
    assert pool.node_count == 2
    assert sorted(n.name for n in cloud.nodes()) == names[1:]
