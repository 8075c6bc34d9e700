"""Leaving signals seen by the caches, turned into an immediate pass.

A spot preemption must be answered within a second, so these changes skip the batching window
(:meth:`Signals.node_changed` and :meth:`Signals.pod_changed` return True):

* a node gains a terminating taint (``cloud.google.com/impending-node-termination``,
  ``node.cloudprovider.kubernetes.io/shutdown``);
* a spot node turns NotReady;
* a spot node is deleted by someone other than ccc (the node is gone, so the signal is kept
  as a :class:`~policies.snapshot.ProviderNotice` naming its offering for one preemption
  backoff; the decide step marks the offering ``PREEMPTED`` from it);
* a pod fails with ``DisruptionTarget`` / ``TerminationByKubelet`` (kubelet's graceful node
  shutdown): a notice for its node.

Every time comes from the injected clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.values import CapacityType, OfferingKey
from policies.nodes import is_spot
from policies.room import terminating
from policies.snapshot import ProviderNotice
from providers.clock import Clock


def _class_of(node: NodeInfo) -> str | None:
    return node.labels.get(L.CLASS_LABEL) or node.labels.get(L.GKE_CLASS_LABEL)


class Signals:
    """Notices kept across passes, and when they were first seen (latency metrics)."""

    def __init__(self, clock: Clock, *, keep_s: float) -> None:
        self.clock = clock
        self.keep = timedelta(seconds=keep_s)
        self._notices: dict[str, ProviderNotice] = {}
        #: node -> when its leaving signal was first observed
        self.first_seen: dict[str, datetime] = {}
        #: nodes ccc itself deletes (their deletion is no preemption) -> their pool
        self.deleting: dict[str, str] = {}
        #: nodes whose signal's first replacement request was measured
        self.measured: set[str] = set()

    def _seen(self, node: str) -> None:
        self.first_seen.setdefault(node, self.clock.now())

    def node_changed(self, event: str, old: NodeInfo | None, new: NodeInfo | None) -> bool:
        """Record what a node change signals; True when the loop must pass at once."""
        if event == "DELETED" and old is not None:
            if old.name in self.deleting or not is_spot(old.labels) or _class_of(old) is None:
                self.deleting.pop(old.name, None)
                return False
            self._notice(old)
            return True
        if new is None or _class_of(new) is None:
            return False
        if terminating(new) and (old is None or not terminating(old)):
            self._seen(new.name)
            return True
        if is_spot(new.labels) and not new.ready and old is not None and old.ready:
            self._seen(new.name)
            return True
        return False

    def deletes(self, pool: str, nodes: Iterable[str]) -> None:
        """ccc asked the provider to remove ``nodes`` of ``pool``: their deletion will be no
        preemption."""
        self.deleting.update(dict.fromkeys(nodes, pool))

    def delete_failed(self, pool: str, nodes: Iterable[str] = ()) -> None:
        """A delete in ``pool`` failed (of ``nodes``; none named: the whole pool): those nodes
        stay, so a later deletion of one of them is someone else's again (a preemption), and
        the names are not kept for ever."""
        named = set(nodes)
        for name in [n for n, p in self.deleting.items() if p == pool]:
            if not named or name in named:
                del self.deleting[name]

    @staticmethod
    def pod_shut_down(old: PodInfo | None, new: PodInfo | None) -> str | None:
        """The node of a pod that kubelet's graceful shutdown just ended, if any."""
        if new is None or not new.shutdown_by_kubelet or not new.node_name:
            return None
        if old is not None and old.shutdown_by_kubelet:
            return None
        return new.node_name

    def node_shut_down(self, node: NodeInfo | None) -> bool:
        """Kubelet's graceful shutdown ended a pod of ``node``; True to pass at once."""
        if node is None or not is_spot(node.labels) or _class_of(node) is None:
            return False
        self._notice(node)
        return True

    def _notice(self, node: NodeInfo) -> None:
        now = self.clock.now()
        self._seen(node.name)
        machine = node.labels.get(L.MACHINE_TYPE_LABEL)
        zone = node.labels.get(L.ZONE_LABEL)
        offering = (
            OfferingKey(machine_type=machine, zone=zone, capacity_type=CapacityType.SPOT)
            if machine and zone
            else None
        )
        self._notices[node.name] = ProviderNotice(
            node=node.name, kind="preemption", at=now, offering=offering, class_name=_class_of(node)
        )

    def notices(self) -> tuple[ProviderNotice, ...]:
        """Notices younger than the preemption backoff (older ones are dropped)."""
        now = self.clock.now()
        self._notices = {k: n for k, n in self._notices.items() if now - n.at < self.keep}
        horizon = now - self.keep
        self.first_seen = {k: t for k, t in self.first_seen.items() if t > horizon}
        self.measured &= set(self.first_seen)
        return tuple(self._notices.values())


class LeavingTimes:
    """When each node's leaving signal (a terminating taint, NotReady, deletion) was first
    observed, for a loop that times its own answer to it (the ServingGroup loop's
    signal-to-scale latency). Entries older than ``keep_s`` are dropped unanswered."""

    def __init__(self, clock: Clock, *, keep_s: float = 600.0) -> None:
        self.clock = clock
        self.keep = timedelta(seconds=keep_s)
        self._seen: dict[str, datetime] = {}

    def node_changed(self, event: str, old: NodeInfo | None, new: NodeInfo | None) -> bool:
        """Record a leaving signal in this change; True when it is one."""
        node = new or old
        if node is None:
            return False
        if event == "DELETED":
            leaving = True
        elif new is not None and terminating(new):
            leaving = old is None or not terminating(old)
        else:
            leaving = new is not None and new.ready is False and old is not None and bool(old.ready)
        if leaving:
            now = self.clock.now()
            self._forget_before(now - self.keep)
            self._seen.setdefault(node.name, now)
        return leaving

    def _forget_before(self, horizon: datetime) -> None:
        self._seen = {k: t for k, t in self._seen.items() if t > horizon}

    def answer(self, nodes: Iterable[str], now: datetime) -> float | None:
        """Seconds from the oldest unanswered signal of ``nodes`` to ``now`` (None without
        one); those signals count as answered from now on."""
        self._forget_before(now - self.keep)
        seen = [self._seen.pop(n) for n in set(nodes) if n in self._seen]
        return max(0.0, (now - min(seen)).total_seconds()) if seen else None
