"""Active migration (``activeMigration.optimizeRulePriority``) through the controller's whole
loop over the in-memory cluster, the simulated cloud and a virtual clock.

The API server, kube-scheduler and the ReplicaSet controller are stood in for by
:mod:`ccc.controller.memcluster` and :mod:`ccc.controller.memnodes` (fakes: none can run inside
a unit test; the real ones are exercised in tests/e2e/test_controller_migration.py). Everything
else is production code. GKE rules encoded: gke-computeclass.md §2.5 and §3.5,
/work/shared/reference/lifecycle-and-serving.md A2 (high-priority migration) and A4 (status).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ccc.api import labels as L
from ccc.api.values import CapacityType, OfferingKey
from ccc.controller.memcluster import PodDisruptionBudget
from policies.commands import Cause, Cordon, Delete, Drain, Provision, Replace
from tests.support.memloop import ZONES, Loop, gpu_class, gpu_pod

SPOT = [
    OfferingKey(machine_type="a3-highgpu-8g", zone=z, capacity_type=CapacityType.SPOT)
    for z in ZONES
]


def _spot_then_on_demand(**spec: Any) -> dict[str, Any]:
    on_demand = {"machineType": "a3-highgpu-8g", "location": {"zones": list(ZONES)}}
    return gpu_class(extra_rules=[on_demand], **spec)


def _commands(loop: Loop, kind: type[Any]) -> list[Any]:
    return [c for r in loop.reports for c in r.commands if isinstance(c, kind)]


def _rules_of_running(loop: Loop) -> list[str]:
    nodes = {n.name: n for n in loop.cluster.nodes()}
    return sorted(nodes[p.node_name].labels[L.RULE_INDEX_LABEL] for p in loop.running())


async def _on_demand_while_spot_is_out(loop: Loop, pods: int, spot_back_s: float) -> None:
    for offering in SPOT:
        loop.cloud.stockout(offering, end=spot_back_s)
    await loop.start()
    for i in range(pods):
        loop.cluster.add_pod(gpu_pod(f"vllm-{i}"))
    await loop.until("pods Running", lambda: len(loop.running()) == pods)
    assert _rules_of_running(loop) == ["1"] * pods


async def test_pods_move_back_to_spot_once_it_returns_and_the_on_demand_nodes_go() -> None:
    loop = Loop.create(
        classes=[_spot_then_on_demand(activeMigration={"optimizeRulePriority": True})]
    )
    await _on_demand_while_spot_is_out(loop, 2, spot_back_s=300.0)
    await loop.until(
        "every pod Running on spot",
        lambda: len(loop.running()) == 2 and _rules_of_running(loop) == ["0", "0"],
    )
    await loop.until(
        "the on-demand nodes deleted",
        lambda: not [n for n in loop.cluster.nodes() if n.labels.get(L.RULE_INDEX_LABEL) == "1"],
    )
    replaced = _commands(loop, Replace)
    assert {c.cause for c in replaced} == {Cause.MIGRATION}
    assert all(
        p.attempt.rule == 0 for p in _commands(loop, Provision) if p.cause is Cause.MIGRATION
    )
    migration = loop.status()["migration"]["optimizeRulePriority"]
    assert (migration["migratingNodes"], migration["blockedNodes"]) == (0, [])
    await loop.stop()


async def test_a_class_without_optimize_rule_priority_never_migrates() -> None:
    loop = Loop.create(classes=[_spot_then_on_demand()])
    await _on_demand_while_spot_is_out(loop, 2, spot_back_s=60.0)
    await loop.advance(900.0)
    assert _rules_of_running(loop) == ["1", "1"]
    assert not _commands(loop, Replace)
    assert "migration" not in loop.status()
    await loop.stop()


async def test_no_more_than_max_node_disruption_old_nodes_are_cordoned_at_once() -> None:
    # A PDB and a boot delay keep drains open across passes, so the budget is what limits them.
    loop = Loop.create(
        classes=[
            _spot_then_on_demand(
                activeMigration={
                    "optimizeRulePriority": True,
                    "reconciliationPolicy": {"maxNodeDisruption": 2},
                }
            )
        ],
        boot_delay_s=20.0,
    )
    loop.cluster.add_pdb(PodDisruptionBudget("ml", "vllm", {"app": "vllm"}, min_available=3))
    await _on_demand_while_spot_is_out(loop, 4, spot_back_s=300.0)
    most = 0
    blocked: set[str] = set()

    def watch(_: Any) -> None:
        nonlocal most
        old = [
            n
            for n in loop.cluster.nodes()
            if n.labels.get(L.RULE_INDEX_LABEL) == "1" and n.unschedulable
        ]
        most = max(most, len(old))
        status = loop.status().get("migration", {}).get("optimizeRulePriority", {})
        blocked.update(b["reason"] for b in status.get("blockedNodes", []))

    await loop.run_to(loop.clock.now() + timedelta(seconds=900), on_instant=watch)
    assert len(loop.running()) == 4 and _rules_of_running(loop) == ["0"] * 4
    assert most == 2
    assert "MaxNodeDisruptionReached" in blocked
    await loop.stop()


async def test_a_pdb_keeps_ready_replicas_at_min_available_during_the_migration() -> None:
    loop = Loop.create(
        classes=[
            _spot_then_on_demand(
                activeMigration={
                    "optimizeRulePriority": True,
                    "reconciliationPolicy": {"maxNodeDisruption": 3},
                }
            )
        ]
    )
    loop.cluster.add_pdb(PodDisruptionBudget("ml", "vllm", {"app": "vllm"}, min_available=2))
    await _on_demand_while_spot_is_out(loop, 3, spot_back_s=300.0)
    lowest = 3

    def watch() -> bool:
        nonlocal lowest
        lowest = min(lowest, len(loop.running()))
        return len(loop.running()) == 3 and _rules_of_running(loop) == ["0"] * 3

    await loop.until("every pod Running on spot", watch)
    assert lowest >= 2
    assert _commands(loop, Drain) and _commands(loop, Cordon) and _commands(loop, Delete)
    await loop.stop()
