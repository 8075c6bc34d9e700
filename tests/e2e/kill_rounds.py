"""``kill -9`` rounds: crash ``ccc run`` at random points across provisioning, then check that a
fresh controller converges with no duplicate and no leaked pool or node.

One round, in its own ComputeClass, kwok cloud and pod namespace: for each kill, one 8-GPU pod
is created, a controller is started and, once its caches are synced (``/readyz``), killed
(``SIGKILL``) after a random 0–2.5 s, while creates take ``provisioning_delay_s`` and zone a
holds only ``zone_a_nodes`` nodes (so kills also land in the fallback to zone b). Counting from
readiness, not from the start, keeps the kills inside provisioning however slowly the process
starts on a loaded machine. A final controller must then bring every pod to Running
with exactly one node per pod, in pools the class allows. Shared by the end-to-end test and
``benchmarks/chaos.py`` (which runs many rounds).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType
from policies.naming import node_pool_name
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    CREATED_CLASSES,
    KWOK_CLOUDS,
    ControllerProcess,
    create_class,
    create_pods,
    gpu_class,
    gpu_pod,
    pods_running,
    wait_ready_endpoint,
)
from tests.support.controlplane import ControlPlane
from tests.support.kube import eventually, temporary_namespace

MACHINE = "a3-highgpu-8g"
ZONES = ("us-central1-a", "us-central1-b", "us-central1-c")


@dataclass(frozen=True, slots=True)
class KillRound:
    """What one round found.

    Attributes:
        seed: of the kill delays.
        kills: controllers killed; ``killed_while_running`` of them were still alive when
            killed (the others had exited on their own: a crash to report).
        converged_s: from the final controller's start to all pods Running; None if they were
            not within the timeout.
        acted: kills of a controller that had changed the cloud (created or grew a pool) by
            the time it was killed.
        last_events: how many killed controllers had logged which event last (where the kills
            landed: ``caches.synced``, ``leader.started``, ``provisioning.requested``...).
        pods: pods of the round (one per kill).
        pools: ``(name, zones, node_count)`` of every pool in the round's cloud.
        unexpected_pools: pools whose name the class does not lead to (duplicates).
        empty_pools: pools left with no node (leaks).
        nodes: Nodes of the class in the cluster.
        log_tail: the final controller's last log lines (for failures).
    """

    seed: int
    kills: int
    killed_while_running: int
    converged_s: float | None
    acted: int
    last_events: dict[str, int]
    pods: int
    pools: tuple[tuple[str, tuple[str, ...], int], ...]
    unexpected_pools: tuple[str, ...]
    empty_pools: tuple[str, ...]
    nodes: int
    log_tail: str = ""

    @property
    def duplicates(self) -> int:
        """Pools that should not exist plus nodes requested beyond one per pod."""
        requested = sum(count for _, _, count in self.pools)
        return len(self.unexpected_pools) + max(0, requested - self.pods)

    @property
    def leaks(self) -> int:
        """Empty pools plus Nodes that no pool accounts for."""
        requested = sum(count for _, _, count in self.pools)
        return len(self.empty_pools) + max(0, self.nodes - requested)

    @property
    def ok(self) -> bool:
        return (
            self.converged_s is not None
            and self.killed_while_running == self.kills
            and self.duplicates == 0
            and self.leaks == 0
            and self.nodes == self.pods
        )


async def kill_round(
    api: Any,
    plane: ControlPlane,
    log_dir: Path,
    *,
    kills: int,
    seed: int,
    zone_a_nodes: int = 3,
    provisioning_delay_s: float = 0.7,
    converge_timeout_s: float = 180,
    extra: Sequence[str] = (),
    clean_up: bool = True,
) -> KillRound:
    """Run one round (module docstring) and return what it found; the round's class, pods,
    pools and Nodes are removed afterwards unless ``clean_up`` is false."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:6]
    cls, cloud_ns = f"kill-{tag}", f"cloud-kill-{tag}"
    cloud = KwokProvider(api, namespace=cloud_ns)
    await cloud.set_capacity(MACHINE, ZONES[0], CapacityType.SPOT, zone_a_nodes)
    await cloud.set_provisioning_delay(provisioning_delay_s)
    await create_class(api, gpu_class(cls, ZONES))
    core = client.CoreV1Api(api)
    try:
        async with temporary_namespace(api, "kill", ready_for_pods=True) as ns:
            alive = acted = 0
            last_events: Counter[str] = Counter()
            for i in range(kills):
                await create_pods(api, ns, [gpu_pod(f"train-{i}", cls)])
                before = await _cloud_nodes(cloud)
                proc = ControllerProcess(
                    plane,
                    log_dir,
                    kwok_namespace=cloud_ns,
                    extra=extra,
                    name=f"{cls}-{i}",
                ).start()
                await wait_ready_endpoint(proc)
                await asyncio.sleep(rng.uniform(0.0, 2.5))
                alive += proc.alive
                proc.kill9()
                acted += await _cloud_nodes(cloud) != before
                events = [e.get("event") for e in proc.log_lines() if "informer" not in str(e)]
                last_events[str(events[-1]) if events else "none"] += 1
            final = ControllerProcess(
                plane, log_dir, kwok_namespace=cloud_ns, extra=extra, name=f"{cls}-final"
            ).start()
            began = time.monotonic()
            converged_s: float | None = None
            try:
                await eventually(
                    f"{kills} pods Running",
                    lambda: pods_running(api, ns, kills),
                    timeout_s=converge_timeout_s,
                )
                converged_s = time.monotonic() - began
                # One more resync: nothing may be created once everything runs.
                await asyncio.sleep(2)
            except TimeoutError:
                pass
            finally:
                final.stop()
            pools = await cloud.list_node_pools()
            nodes = await core.list_node(label_selector=f"{L.CLASS_LABEL}={cls}")
            allowed = {node_pool_name(cls, 0, MACHINE, z, CapacityType.SPOT) for z in ZONES}
            return KillRound(
                seed=seed,
                kills=kills,
                killed_while_running=alive,
                converged_s=converged_s,
                acted=acted,
                last_events=dict(last_events),
                pods=kills,
                pools=tuple((str(p.name), tuple(p.zones), p.node_count) for p in pools),
                unexpected_pools=tuple(str(p.name) for p in pools if str(p.name) not in allowed),
                empty_pools=tuple(str(p.name) for p in pools if p.node_count == 0),
                nodes=len(nodes.items),
                log_tail=final.tail() if converged_s is None else "",
            )
    finally:
        if clean_up:
            await remove_class_and_cloud(api, cls, cloud)


async def _cloud_nodes(cloud: KwokProvider) -> int:
    return sum(p.node_count for p in await cloud.list_node_pools())


async def remove_class_and_cloud(api: Any, cls: str, cloud: KwokProvider) -> None:
    """Delete the kwok cloud's pools (and so their Nodes), its namespace, and the class."""
    for pool in await cloud.list_node_pools():
        await cloud.delete_node_pool(pool.name)
    await client.CustomObjectsApi(api).delete_cluster_custom_object(
        L.GROUP, L.VERSION, "computeclasses", cls
    )
    await client.CoreV1Api(api).delete_namespace(cloud.namespace)
    for made, name in ((CREATED_CLASSES, cls), (KWOK_CLOUDS, cloud.namespace)):
        while name in made:
            made.remove(name)
