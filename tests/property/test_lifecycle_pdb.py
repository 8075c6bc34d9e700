"""Property: draining an expiring flex-start node never takes a PodDisruptionBudget's covered
pods below ``minAvailable`` (the loop over the in-memory cluster; its PDB-checking eviction is a
fake of the API server's, see tests/unit/test_lifecycle_loop.py)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from ccc.api import labels as L
from ccc.controller.memcluster import PodDisruptionBudget
from tests.support.memloop import Loop, gpu_pod
from tests.unit.test_lifecycle_loop import _flex_class


async def _drain_once(replicas: int, min_available: int, gpus: int) -> tuple[int, int]:
    loop = Loop.create(classes=[_flex_class()], boot_delay_s=20.0)
    await loop.start()
    for i in range(replicas):
        loop.cluster.add_pod(gpu_pod(f"vllm-{i}", gpus=gpus))
    pdb = PodDisruptionBudget("ml", "vllm", {"app": "vllm"}, min_available=min_available)
    loop.cluster.add_pdb(pdb)
    await loop.until("all Running", lambda: len(loop.running()) == replicas)
    old = {n.name for n in loop.cluster.nodes() if n.labels.get(L.CLASS_LABEL) == "gpu"}
    lowest = [replicas]
    loop.cluster.subscribe(lambda *_: lowest.append(len(loop.running())))
    await loop.until(
        "the first nodes are gone",
        lambda: not old & {n.name for n in loop.cluster.nodes()},
        timeout_s=7200,
    )
    await loop.until("all Running again", lambda: len(loop.running()) == replicas)
    await loop.stop()
    return min(lowest), len(loop.running())


@settings(max_examples=3, deadline=None)
@given(
    replicas=st.integers(min_value=2, max_value=6),
    slack=st.integers(min_value=1, max_value=2),
    gpus=st.sampled_from([1, 2, 4]),
)
def test_ready_pods_never_drop_below_the_pdb_min_available_during_a_drain(
    replicas: int, slack: int, gpus: int
) -> None:
    min_available = max(0, replicas - slack)
    lowest, after = asyncio.run(_drain_once(replicas, min_available, gpus))
    assert lowest >= min_available
    assert after == replicas


async def _restarts_during_replacement(restarts: list[float]) -> tuple[int, int, int, int]:
    """Crash the controller at ``restarts`` (seconds after recycling starts) and restart it."""
    loop = Loop.create(classes=[_flex_class()], boot_delay_s=20.0)
    await loop.start()
    for i in range(4):
        loop.cluster.add_pod(gpu_pod(f"vllm-{i}", gpus=2))
    loop.cluster.add_pdb(PodDisruptionBudget("ml", "vllm", {"app": "vllm"}, min_available=3))
    await loop.until("all Running", lambda: len(loop.running()) == 4)
    [old] = [n.name for n in loop.cluster.nodes() if n.labels.get(L.CLASS_LABEL) == "gpu"]
    lowest = [4]
    loop.cluster.subscribe(lambda *_: lowest.append(len(loop.running())))
    await loop.advance(3000.0)  # 50 min: 10 s before the node enters its 10 min lead time
    elapsed = 0.0
    for at in sorted(restarts):
        await loop.advance(at - elapsed)
        elapsed = at
        await loop.stop()
        await loop.start()
    await loop.until(
        "the old node is gone", lambda: old not in {n.name for n in loop.cluster.nodes()}
    )
    await loop.until("all Running again", lambda: len(loop.running()) == 4)
    replaces = sum(1 for r in loop.reports for c in r.commands if type(c).__name__ == "Replace")
    pools = len(await loop.cloud.list_node_pools())
    nodes = len([n for n in loop.cluster.nodes() if n.labels.get(L.CLASS_LABEL) == "gpu"])
    await loop.stop()
    return min(lowest), replaces, pools, nodes


@settings(max_examples=3, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=80.0), min_size=3, max_size=8))
def test_restarts_at_random_points_of_a_replacement_converge_without_a_double_replace(
    restarts: list[float],
) -> None:
    lowest, replaces, pools, nodes = asyncio.run(_restarts_during_replacement(restarts))
    assert lowest >= 3, "the PDB held across restarts"
    assert replaces == 1, "the node was recorded as being replaced once"
    assert (pools, nodes) == (1, 1), "no lost or leaked pool or node"
