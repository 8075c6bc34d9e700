"""Execute the node verbs: :class:`~policies.commands.Replace`, :class:`~policies.commands.Cordon`
and :class:`~policies.commands.Drain` (``Delete`` of nodes is a provider call, see
:mod:`ccc.controller.execute`).

Progress is written where a restarted leader reads it back: annotations on the node being
replaced (``ccc.dev/disruption``, ``ccc.dev/disruption-since``, ``ccc.dev/drain-started``;
:class:`policies.nodes.NodeProgress`). Pods leave through the Eviction API only: an eviction a
PodDisruptionBudget refuses (HTTP 429) is left for the next Drain the decide step issues (with
backoff); it is never retried as a delete. Every write is idempotent, so a Drain re-issued after
a crash evicts what is left and nothing twice.

Two :class:`NodeWriter` implementations: :class:`KubeNodeWriter` (the API server) and the
in-memory cluster's (:mod:`ccc.controller.memnodes`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import structlog

from ccc.api import labels as L
from ccc.api.apicall import ApiCall
from ccc.controller.kube import KubeApiError, request_json
from ccc.controller.metrics import Metrics
from ccc.controller.waiting import cancel_and_wait
from policies.commands import Command, Cordon, Drain, Replace
from providers.clock import Clock

log = structlog.get_logger("ccc.controller")

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    ApiCall("", "nodes", "patch", "cordon and annotate nodes being replaced or drained"),
    ApiCall("", "pods/eviction", "create", "drains evict pods (PodDisruptionBudgets apply)"),
)


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@runtime_checkable
class NodeWriter(Protocol):
    """Writes the controller makes to nodes and pods (never raises for a missing object)."""

    async def annotate_node(self, name: str, annotations: Mapping[str, str]) -> None:
        """Merge ``annotations`` into the node's (an existing key is overwritten)."""
        ...

    async def cordon(self, name: str) -> None:
        """Mark the node unschedulable."""
        ...

    async def evict(self, namespace: str, name: str, *, grace_period_s: int | None) -> bool:
        """Evict the pod through the Eviction API. False when a PodDisruptionBudget refused it
        (429); True when it was evicted or is gone."""
        ...


class KubeNodeWriter:
    """:class:`NodeWriter` over the API server."""

    def __init__(self, api: Any) -> None:
        self._api = api

    async def annotate_node(self, name: str, annotations: Mapping[str, str]) -> None:
        await self._patch(name, {"metadata": {"annotations": dict(annotations)}})

    async def cordon(self, name: str) -> None:
        await self._patch(name, {"spec": {"unschedulable": True}})

    async def _patch(self, name: str, body: Mapping[str, Any]) -> None:
        try:
            await request_json(
                self._api,
                "PATCH",
                f"/api/v1/nodes/{name}",
                body=body,
                content_type="application/merge-patch+json",
            )
        except KubeApiError as exc:
            if exc.status != 404:
                raise

    async def evict(self, namespace: str, name: str, *, grace_period_s: int | None) -> bool:
        body: dict[str, Any] = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        if grace_period_s is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_period_s}
        try:
            await request_json(
                self._api,
                "POST",
                f"/api/v1/namespaces/{namespace}/pods/{name}/eviction",
                body=body,
            )
        except KubeApiError as exc:
            if exc.status == 404:
                return True
            if exc.status == 429:
                return False
            raise
        return True


class NodeExecutor:
    """Runs the node verbs of a pass as tasks (the pass does not wait for them)."""

    def __init__(self, writer: NodeWriter, clock: Clock, metrics: Metrics) -> None:
        self.writer = writer
        self.clock = clock
        self.metrics = metrics
        #: node -> pods being evicted now (a drain is not started twice at once)
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self, commands: Iterable[Command], annotations: Mapping[str, Mapping[str, str]]
    ) -> int:
        """Start the node verbs among ``commands``; ``annotations`` are the nodes' current ones
        (progress already recorded is not written again). Returns how many were started."""
        started = 0
        now = self.clock.now()
        for c in commands:
            if isinstance(c, Replace):
                for node in c.nodes:
                    if L.DISRUPTION_ANNOTATION in annotations.get(node, {}):
                        continue
                    marks = {
                        L.DISRUPTION_ANNOTATION: c.cause.value,
                        L.DISRUPTION_SINCE_ANNOTATION: _stamp(now),
                    }
                    self._spawn(self._annotate(node, marks, c.reason), f"replace-{node}")
                    started += 1
            elif isinstance(c, Cordon):
                self._spawn(self._cordon(c), f"cordon-{c.node}")
                started += 1
            elif isinstance(c, Drain):
                running = self._draining.get(c.node)
                if running is not None and not running.done():
                    continue
                first = L.DRAIN_STARTED_ANNOTATION not in annotations.get(c.node, {})
                task = self._spawn(self._drain(c, first, now), f"drain-{c.node}")
                self._draining[c.node] = task
                started += 1
        return started

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _annotate(self, node: str, marks: Mapping[str, str], reason: str) -> None:
        try:
            await self.writer.annotate_node(node, marks)
            log.info(
                "node.replacing", node=node, cause=marks[L.DISRUPTION_ANNOTATION], reason=reason
            )
        except Exception as exc:
            log.warning("node.annotate_failed", node=node, error=str(exc)[:300])

    async def _cordon(self, c: Cordon) -> None:
        try:
            await self.writer.cordon(c.node)
            log.info("node.cordoned", node=c.node, cause=c.cause.value, reason=c.reason)
        except Exception as exc:
            log.warning("node.cordon_failed", node=c.node, error=str(exc)[:300])

    async def _drain(self, c: Drain, first: bool, now: datetime) -> None:
        try:
            if first:
                await self.writer.annotate_node(c.node, {L.DRAIN_STARTED_ANNOTATION: _stamp(now)})
                log.info("node.drain_started", node=c.node, cause=c.cause.value, reason=c.reason)
            refused: list[str] = []
            evicted = 0
            for namespace, name in c.pods:
                ok = await self.writer.evict(namespace, name, grace_period_s=c.grace_period_s)
                if ok:
                    evicted += 1
                else:
                    refused.append(f"{namespace}/{name}")
            self.metrics.evictions.labels(result="evicted").inc(evicted)
            self.metrics.evictions.labels(result="pdb_refused").inc(len(refused))
            if refused:
                log.info(
                    "node.drain_blocked",
                    node=c.node,
                    refused=refused[:10],
                    by="PodDisruptionBudget",
                )
        except Exception as exc:
            log.warning("node.drain_failed", node=c.node, error=str(exc)[:300])
        finally:
            self._draining.pop(c.node, None)

    async def cancel_all(self) -> None:
        """Cancel running writes (leadership lost: the next leader reads the annotations)."""
        await cancel_and_wait(self._tasks)
