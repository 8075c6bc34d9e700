"""Scalable workloads and ServingGroups for the in-memory cluster (unit tests, ``ccc simulate``).

Kept apart from :mod:`ccc.controller.memcluster` so that module stays small. It plays the parts
of the API server and kube-controller-manager the ServingGroup controller relies on:

* **Deployments** with a pod template and ``replicas``: setting replicas (through
  :meth:`InMemoryWorkloads.set_replicas`, the ``/scale`` write) creates pods from the template or
  deletes surplus ones the way a ReplicaSet does (unscheduled pods first, then those the command
  marks with the lowest pod-deletion cost, ``ScaleTarget.delete_first``, then the newest).
  Pods that lose their node come back Pending by the in-memory cluster's own rule (their
  controller recreates them).
* **ServingGroups** as raw objects whose ``status`` the controller writes back
  (:meth:`InMemoryWorkloads.write_group_status`), so a restarted controller reads it.

It is a fake of the API server's scale subresource and the Deployment controller (nothing real
can run inside a unit test or ``ccc simulate``); the real ones are exercised end to end.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ccc.api.servinggroup import TargetRef
from ccc.controller.memcluster import InMemoryCluster
from ccc.controller.scale import accelerator_of_template, class_of_template
from policies.commands import ScaleTarget
from policies.serving_control import TargetView


@dataclass
class Deployment:
    """A Deployment: ``template`` is a Pod manifest (``metadata.labels`` and ``spec``)."""

    namespace: str
    name: str
    template: Mapping[str, Any]
    replicas: int = 0
    serial: int = 0
    #: every /scale write, in order (tests assert on the sequence)
    history: list[int] = field(default_factory=list)
    #: when each of those writes happened
    written_at: list[datetime] = field(default_factory=list)


class InMemoryWorkloads:
    """See the module docstring. Implements :class:`~ccc.controller.scale.Workloads`,
    :class:`~ccc.controller.serving.GroupSource` and
    :class:`~ccc.controller.serving.GroupStatusSink`."""

    def __init__(self, cluster: InMemoryCluster) -> None:
        self.cluster = cluster
        self.deployments: dict[tuple[str, str], Deployment] = {}
        self._groups: dict[tuple[str, str], dict[str, Any]] = {}
        self._handlers: list[Callable[[], None]] = []

    def subscribe(self, handler: Callable[[], None]) -> None:
        """Call ``handler`` when a group or a Deployment changes."""
        self._handlers.append(handler)

    def _changed(self) -> None:
        for h in list(self._handlers):
            h()

    # -- what users do ---------------------------------------------------------------------
    def add_deployment(
        self, namespace: str, name: str, template: Mapping[str, Any], replicas: int = 0
    ) -> Deployment:
        d = Deployment(namespace, name, copy.deepcopy(dict(template)))
        self.deployments[(namespace, name)] = d
        self._scale(d, replicas)
        return d

    def add_group(self, body: Mapping[str, Any]) -> None:
        """Create or replace a ServingGroup (its status is kept on replace)."""
        new = copy.deepcopy(dict(body))
        meta = new.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", f"uid-sg-{meta['name']}")
        key = (str(meta["namespace"]), str(meta["name"]))
        old = self._groups.get(key)
        meta["generation"] = int((old or {}).get("metadata", {}).get("generation") or 0) + 1
        if old is not None and "status" in old and "status" not in new:
            new["status"] = old["status"]
        self._groups[key] = new
        self._changed()

    def group(self, namespace: str, name: str) -> dict[str, Any]:
        return self._groups[(namespace, name)]

    def pods_of(self, namespace: str, name: str) -> list[Any]:
        return [
            p
            for p in self.cluster.pods()
            if p.namespace == namespace and p.owner_kind == "ReplicaSet" and p.owner_name == name
        ]

    # -- GroupSource and GroupStatusSink ---------------------------------------------------
    def groups(self) -> Sequence[Mapping[str, Any]]:
        return list(self._groups.values())

    async def write_group_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> bool:
        old = self._groups.get((namespace, name))
        if old is None or old.get("status") == status:
            return False
        old["status"] = copy.deepcopy(dict(status))
        return True

    # -- Workloads -------------------------------------------------------------------------
    async def read(self, namespace: str, ref: TargetRef) -> TargetView:
        d = self.deployments.get((namespace, ref.name))
        if ref.kind != "Deployment" or d is None:
            return TargetView(found=False, error=f"{ref.kind} {ref.name} not found")
        return TargetView(
            found=True,
            replicas=d.replicas,
            class_name=class_of_template({"spec": {"template": d.template}}),
            accelerator=accelerator_of_template({"spec": {"template": d.template}}),
            pods=tuple(self.pods_of(namespace, ref.name)),
        )

    async def set_replicas(self, command: ScaleTarget) -> None:
        d = self.deployments.get((command.namespace, command.name))
        if d is None:
            raise LookupError(f"{command.kind} {command.name} not found")
        d.history.append(command.replicas)
        d.written_at.append(self.cluster.clock.now())
        self._scale(d, command.replicas, frozenset(command.delete_first))
        self._changed()

    def _scale(self, d: Deployment, replicas: int, first: frozenset[str] = frozenset()) -> None:
        d.replicas = replicas
        pods = [p for p in self.pods_of(d.namespace, d.name) if not p.deleting]
        for _ in range(replicas - len(pods)):
            d.serial += 1
            manifest = copy.deepcopy(dict(d.template))
            meta = manifest.setdefault("metadata", {})
            meta["name"] = f"{d.name}-{d.serial}"
            meta["namespace"] = d.namespace
            meta["ownerReferences"] = [
                {
                    "kind": "ReplicaSet",
                    "name": d.name,
                    "controller": True,
                    "apiVersion": "apps/v1",
                    "uid": f"uid-rs-{d.name}",
                }
            ]
            manifest.setdefault("status", {"phase": "Pending"})
            self.cluster.add_pod(manifest)
        surplus = len(pods) - replicas
        if surplus > 0:
            # A ReplicaSet deletes unscheduled pods first, then the lowest deletion cost, then
            # the newest.
            order = sorted(pods, key=lambda p: _deletion_order(p, first))
            for p in order[:surplus]:
                self.cluster.delete_pod(p.namespace, p.name)


def _deletion_order(pod: Any, first: frozenset[str]) -> tuple[bool, bool, float]:
    created = pod.creation_timestamp.timestamp() if pod.creation_timestamp else 0.0
    return (pod.node_name is not None, pod.name not in first, -created)
