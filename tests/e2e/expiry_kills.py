"""``kill -9`` rounds during a flex-start replacement and drain: crash ``ccc run`` while it
replaces, cordons, drains and deletes expiring nodes, then check that a fresh controller
converges with no double drain, no lost or leaked node or pool, and no PodDisruptionBudget
violation.

One round, in its own ComputeClass, kwok cloud and pod namespace: a Deployment of ``replicas``
8-GPU pods (one per node) with a PDB of ``minAvailable: replicas - 1`` runs on flex-start nodes
whose ``nodeRecycling`` starts about 20 s after they are created. Flex-start capacity in the
zone holds only those nodes, so every replacement is walked past the stocked-out flex-start
offering to the class's on-demand rule (whose nodes do not expire: the round ends). A first
controller brings the pods up and is killed; then, ``kills`` times, a controller is started and,
once its caches are synced (``/readyz``) (the first of them also once the replacement has
begun), killed (``SIGKILL``) after a random 0-2.5 s, while a
sampler watches Ready replicas and the nodes' drain stamps. Kills stop early once every old node
is gone. Replacement nodes take ``REPLACEMENT_DELAY_S`` to come, so replacement and drain
last seconds, as on a cloud. A final controller must then bring the round to its end state:
every old node deleted, every replica Ready on one node each, no pool without nodes. Shared by
the end-to-end test and ``benchmarks/chaos.py`` (``expiry-kills``, many rounds).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    ControllerProcess,
    create_class,
    gpu_class,
    gpu_deployment,
    pod_ready,
    wait_ready_endpoint,
)
from tests.e2e.kill_rounds import remove_class_and_cloud
from tests.support.controlplane import ControlPlane
from tests.support.kube import eventually, temporary_namespace

MACHINE = "a3-highgpu-8g"
ZONE = "us-central1-a"
#: where a kill landed, read from the old nodes' annotations at the kill
PHASES = ("before", "replacing", "draining", "after")


@dataclass(slots=True)
class Watch:
    """What the sampler saw during the round."""

    min_ready: int | None = None
    #: node -> every ``ccc.dev/drain-started`` stamp it carried (more than one: drained twice)
    drain_stamps: dict[str, set[str]] = field(default_factory=dict)
    #: every Node of the class seen during the round
    nodes_seen: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ExpiryKillRound:
    """What one round found.

    Attributes:
        kills: controllers killed after the first (which only brings the pods up).
        killed_while_running: of those, still alive when killed (the others crashed).
        phases: kills per phase (``before`` any old node was marked for replacement,
            ``replacing`` before its drain, ``draining`` while a drained node still exists,
            ``after`` every old node was gone).
        converged_s: from the final controller's start to the end state; None if not reached.
        min_ready: fewest Ready replicas seen (a PDB violation is fewer than ``min_available``).
        double_drains: nodes whose drain was started twice, or replacement nodes drained.
        old_nodes: the flex-start nodes the round began with; ``old_left`` of them still exist.
        nodes: Nodes of the class at the end; ``nodes_seen`` during the whole round.
        pools: ``(name, node_count)`` of every pool of the round's cloud at the end.
    """

    seed: int
    replicas: int
    kills: int
    killed_while_running: int
    phases: dict[str, int]
    converged_s: float | None
    min_ready: int
    min_available: int
    double_drains: tuple[str, ...]
    old_nodes: tuple[str, ...]
    old_left: tuple[str, ...]
    nodes: int
    nodes_seen: int
    ready: int
    pools: tuple[tuple[str, int], ...]
    log_tail: str = ""

    @property
    def during(self) -> int:
        """Kills that landed during replacement or drain."""
        return self.phases.get("replacing", 0) + self.phases.get("draining", 0)

    @property
    def pdb_violations(self) -> int:
        return max(0, self.min_available - self.min_ready)

    @property
    def leaks(self) -> int:
        """Pools without nodes, Nodes no pool accounts for, nodes beyond one per replica, old
        nodes left, and nodes beyond one replacement per old node."""
        counted = sum(n for _, n in self.pools)
        return (
            sum(1 for _, n in self.pools if n == 0)
            + abs(self.nodes - counted)
            + max(0, self.nodes - self.replicas)
            + len(self.old_left)
            + max(0, self.nodes_seen - 2 * len(self.old_nodes))
        )

    @property
    def lost(self) -> int:
        """Replicas not Ready at the end."""
        return max(0, self.replicas - self.ready)

    @property
    def ok(self) -> bool:
        return (
            self.converged_s is not None
            and self.killed_while_running == self.kills
            and not self.double_drains
            and self.pdb_violations == 0
            and self.leaks == 0
            and self.lost == 0
        )


def expiring_class(name: str, *, lead_s: int = 580, max_run_s: int = 600) -> dict[str, Any]:
    """Flex-start first (recycled ``max_run_s - lead_s`` seconds after creation), on-demand
    second."""
    body = gpu_class(
        name,
        [ZONE],
        spot=False,
        extra_rules=[{"machineType": MACHINE, "spot": False, "location": {"zones": [ZONE]}}],
    )
    rule = body["spec"]["priorities"][0]
    rule["flexStart"] = {"enabled": True, "nodeRecycling": {"leadTimeSeconds": lead_s}}
    rule["maxRunDurationSeconds"] = max_run_s
    return body


async def _ready_count(core: client.CoreV1Api, ns: str) -> int:
    return sum(1 for p in (await core.list_namespaced_pod(ns)).items if pod_ready(p))


async def _class_nodes(core: client.CoreV1Api, cls: str) -> list[Any]:
    return list((await core.list_node(label_selector=f"{L.CLASS_LABEL}={cls}")).items)


def _phase(nodes: Sequence[Any], old: Sequence[str]) -> str:
    live = {n.metadata.name: n.metadata.annotations or {} for n in nodes}
    left = [live[name] for name in old if name in live]
    if not left:
        return "after"
    if any(L.DRAIN_STARTED_ANNOTATION in a for a in left):
        return "draining"
    if any(L.DISRUPTION_ANNOTATION in a for a in left):
        return "replacing"
    return "before"


#: How long the kwok cloud takes to bring a replacement node, once the round's pods run.
REPLACEMENT_DELAY_S = 4.0


async def _begun(core: client.CoreV1Api, cls: str, old: Sequence[str]) -> bool:
    return _phase(await _class_nodes(core, cls), old) != "before"


async def _sample(core: client.CoreV1Api, ns: str, cls: str, watch: Watch) -> None:
    while True:
        ready = await _ready_count(core, ns)
        watch.min_ready = ready if watch.min_ready is None else min(watch.min_ready, ready)
        for n in await _class_nodes(core, cls):
            watch.nodes_seen.add(n.metadata.name)
            stamp = (n.metadata.annotations or {}).get(L.DRAIN_STARTED_ANNOTATION)
            if stamp:
                watch.drain_stamps.setdefault(n.metadata.name, set()).add(stamp)
        await asyncio.sleep(0.2)


async def expiry_kill_round(
    api: Any,
    plane: ControlPlane,
    log_dir: Path,
    *,
    kills: int,
    seed: int,
    replicas: int = 2,
    converge_timeout_s: float = 180,
) -> ExpiryKillRound:
    """Run one round (module docstring) and return what it found; the round's class, pods,
    pools and Nodes are removed afterwards."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:6]
    cls, cloud_ns = f"expkill-{tag}", f"cloud-expkill-{tag}"
    cloud = KwokProvider(api, namespace=cloud_ns)
    await cloud.set_capacity(MACHINE, ZONE, CapacityType.FLEX_START, replicas)
    await create_class(api, expiring_class(cls))
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    policy = client.PolicyV1Api(api)
    extra = ("--consolidation-delay", "5")

    def controller(name: str) -> ControllerProcess:
        return ControllerProcess(
            plane, log_dir, kwok_namespace=cloud_ns, extra=extra, name=f"{cls}-{name}"
        ).start()

    try:
        async with temporary_namespace(api, "expkill", ready_for_pods=True) as ns:
            await apps.create_namespaced_deployment(ns, gpu_deployment("vllm", cls, replicas))
            budget = {"minAvailable": replicas - 1, "selector": {"matchLabels": {"app": "vllm"}}}
            await policy.create_namespaced_pod_disruption_budget(
                ns, {"metadata": {"name": "vllm"}, "spec": budget}
            )
            first = controller("first")
            try:
                await eventually(
                    f"{replicas} replicas Ready",
                    lambda: _at_least(core, ns, replicas),
                    timeout_s=120,
                )
            except TimeoutError:
                raise AssertionError(first.tail()) from None
            first.kill9()
            # Replacement nodes take a few seconds to come (kwok's are instant otherwise): the
            # replace-and-drain window is then seconds long, as on a cloud, and the kills land in
            # it rather than after it.
            await cloud.set_provisioning_delay(REPLACEMENT_DELAY_S)
            old = tuple(sorted(n.metadata.name for n in await _class_nodes(core, cls)))
            watch = Watch()
            sampler = asyncio.create_task(_sample(core, ns, cls, watch))
            phases: Counter[str] = Counter()
            alive = done = 0
            try:
                for i in range(kills):
                    proc = controller(str(i))
                    await wait_ready_endpoint(proc)
                    if i == 0:
                        # The kills are about replacement and drain: let the first controller
                        # begin them (on a loaded machine its first pass may come later than
                        # the random delay), so no round is spent before anything happens.
                        with contextlib.suppress(TimeoutError):
                            await eventually(
                                "the replacement begun",
                                lambda: _begun(core, cls, old),
                                timeout_s=90,
                            )
                    await asyncio.sleep(rng.uniform(0.0, 2.5))
                    alive += proc.alive
                    proc.kill9()
                    done += 1
                    phase = _phase(await _class_nodes(core, cls), old)
                    phases[phase] += 1
                    if phase == "after":
                        break
                final = controller("final")
                began = time.monotonic()
                converged_s: float | None = None
                try:
                    await eventually(
                        "the round's end state",
                        lambda: _converged(core, cloud, ns, cls, old, replicas),
                        timeout_s=converge_timeout_s,
                    )
                    converged_s = time.monotonic() - began
                    await asyncio.sleep(2)  # one more resync: nothing may change now
                except TimeoutError:
                    pass
                finally:
                    final.stop()
            finally:
                sampler.cancel()
            nodes = await _class_nodes(core, cls)
            names = {n.metadata.name for n in nodes}
            pools = await cloud.list_node_pools()
            doubles = tuple(
                sorted(
                    n for n, stamps in watch.drain_stamps.items() if len(stamps) > 1 or n not in old
                )
            )
            return ExpiryKillRound(
                seed=seed,
                replicas=replicas,
                kills=done,
                killed_while_running=alive,
                phases=dict(phases),
                converged_s=converged_s,
                min_ready=watch.min_ready if watch.min_ready is not None else 0,
                min_available=replicas - 1,
                double_drains=doubles,
                old_nodes=old,
                old_left=tuple(n for n in old if n in names),
                nodes=len(nodes),
                nodes_seen=len(watch.nodes_seen | names | set(old)),
                ready=await _ready_count(core, ns),
                pools=tuple((str(p.name), p.node_count) for p in pools),
                log_tail=final.tail() if converged_s is None else "",
            )
    finally:
        await remove_class_and_cloud(api, cls, cloud)


async def _at_least(core: client.CoreV1Api, ns: str, n: int) -> bool:
    return await _ready_count(core, ns) >= n


async def _converged(
    core: client.CoreV1Api,
    cloud: KwokProvider,
    ns: str,
    cls: str,
    old: Sequence[str],
    replicas: int,
) -> bool:
    nodes = {n.metadata.name for n in await _class_nodes(core, cls)}
    if nodes & set(old) or len(nodes) != replicas:
        return False
    pools = await cloud.list_node_pools()
    if any(p.node_count == 0 for p in pools) or sum(p.node_count for p in pools) != replicas:
        return False
    return await _ready_count(core, ns) == replicas
