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
