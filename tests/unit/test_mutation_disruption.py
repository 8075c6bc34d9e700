"""Behavioural tests that pin down rules of policies/disruption.py which no other unit test
checked (found by mutation testing, docs/testing.md): the default disruption budget."""

from __future__ import annotations

from typing import Any

import pytest

from ccc.api.computeclass import ComputeClass
from policies.commands import Cause
from policies.disruption import DisruptionContext, Proposal, disrupt
from policies.nodes import node_facts
from policies.settings import Settings
from policies.state import ControllerState
from policies.tiers import compile_class
from tests.builders import NOW, catalog
from tests.unit.test_policies_decide import POOL_B, _class, _node, _pool, _snapshot

#: ``activeMigration`` of the class (``None``: the proposals name a class that does not exist)
WITHOUT_A_BUDGET: dict[str, dict[str, Any] | None] = {
    "no activeMigration": {},
    "activeMigration without reconciliationPolicy": {
        "activeMigration": {"optimizeRulePriority": True}
    },
    "reconciliationPolicy without maxNodeDisruption": {
        "activeMigration": {"optimizeRulePriority": True, "reconciliationPolicy": {}}
    },
    "an unknown class": None,
}


def _ctx(cc: ComputeClass) -> DisruptionContext:
    nodes = [_node("a-1"), _node("a-2"), _node("b-1", POOL_B)]
    return DisruptionContext(
        now=NOW,
        snapshot=_snapshot(nodes=nodes, pools=[_pool(nodes=2), _pool(POOL_B, nodes=1)]),
        state=ControllerState(),
        settings=Settings(),
        classes={"gpu": cc},
        pools={},
        facts=node_facts(nodes, {"gpu": compile_class(cc, catalog())}),
        pending_classes=frozenset(),
    )


@pytest.mark.parametrize("spec", WITHOUT_A_BUDGET.values(), ids=WITHOUT_A_BUDGET.keys())
def test_without_max_node_disruption_budgeted_methods_disrupt_one_node_at_a_time(
    spec: dict[str, Any] | None,
) -> None:
    """reference/gke-computeclass.md §2.5: ``maxNodeDisruption`` ≥ 1; unset, one node of the
    class is disrupted at a time by budgeted methods (migration)."""
    cls = "gpu" if spec is not None else "gone"
    ctx = _ctx(_class(**(spec or {})))

    def two_migrations(_: DisruptionContext) -> list[Proposal]:
        return [
            Proposal(Cause.MIGRATION, cls, (node,), (), (), f"migrate {node}")
            for node in ("a-1", "a-2")
        ]

    accepted, rejected = disrupt(ctx, methods=[two_migrations])
    assert [p.nodes for p in accepted] == [("a-1",)]
    assert [(r.proposal.nodes, r.why) for r in rejected] == [(("a-2",), "MaxNodeDisruptionReached")]
