"""Property: active migration never takes a PodDisruptionBudget's covered pods below
``minAvailable``, and never disrupts more than ``maxNodeDisruption`` nodes of the class at once
(the loop over the in-memory cluster; its PDB-checking eviction is a fake of the API server's,
see tests/unit/test_migration_loop.py). GKE: gke-computeclass.md §3.5 (migration respects
PDBs), lifecycle-and-serving.md A2 (budget)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ccc.api import labels as L
from ccc.controller.memcluster import PodDisruptionBudget
from tests.support.memloop import Loop
from tests.unit.test_migration_loop import (
    _on_demand_while_spot_is_out,
    _rules_of_running,
    _spot_then_on_demand,
)


async def _migrate_once(replicas: int, min_available: int, budget: int) -> tuple[int, int, bool]:
    am = {"optimizeRulePriority": True, "reconciliationPolicy": {"maxNodeDisruption": budget}}
    loop = Loop.create(classes=[_spot_then_on_demand(activeMigration=am)], boot_delay_s=20.0)
    loop.cluster.add_pdb(
        PodDisruptionBudget("ml", "vllm", {"app": "vllm"}, min_available=min_available)
    )
    await _on_demand_while_spot_is_out(loop, replicas, spot_back_s=200.0)
    lowest, most = replicas, 0

    def watch(_: Any) -> None:
        nonlocal lowest, most
        lowest = min(lowest, len(loop.running()))
        disrupted = [
            n
            for n in loop.cluster.nodes()
            if n.labels.get(L.CLASS_LABEL) == "gpu"
            and (n.unschedulable or L.DISRUPTION_ANNOTATION in n.annotations)
        ]
        most = max(most, len(disrupted))

    await loop.run_to(loop.clock.now() + timedelta(seconds=1200), on_instant=watch)
    moved = len(loop.running()) == replicas and set(_rules_of_running(loop)) == {"0"}
    await loop.stop()
    return lowest, most, moved


@settings(max_examples=4, deadline=None)
@given(
    replicas=st.integers(min_value=2, max_value=5),
    slack=st.integers(min_value=1, max_value=2),
    budget=st.integers(min_value=1, max_value=3),
)
def test_ready_pods_never_drop_below_min_available_and_the_budget_holds_during_migration(
    replicas: int, slack: int, budget: int
) -> None:
    min_available = max(0, replicas - slack)
    lowest, most, moved = asyncio.run(_migrate_once(replicas, min_available, budget))
    assert lowest >= min_available
    assert most <= budget
    assert moved
