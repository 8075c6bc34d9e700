"""Rules of policies/inflight.py: pending pods absorbed by free room are counted over every
node they land on."""

from __future__ import annotations

from policies.inflight import absorb
from policies.room import node_slots
from tests.builders import NOW, catalog, make_node, make_pods


def test_pods_absorbed_by_several_nodes_are_all_counted_on_existing_room() -> None:
    """Three 8-GPU pods, three empty 8-GPU nodes: all three pods are covered by free room."""
    slots = node_slots([make_node(f"n-{i}") for i in range(3)], {}, (), catalog(), now=NOW)
    absorbed = absorb([make_pods(3)], slots)
    assert (absorbed.on_existing, absorbed.on_expected, absorbed.remaining) == (3, 0, ())
