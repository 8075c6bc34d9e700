"""ServingGroup demand in a simulation: what a group wants and what its variants serve.

A :class:`ServingGroupDemand` creates the group's variant Deployments (with no replicas: the
ServingGroup controller sets them through ``/scale``, as it does in ``ccc run``) and the group
itself in the loop's in-memory workloads (:mod:`ccc.controller.memworkloads`). The loop runs the
production ServingGroup controller over them (:class:`ccc.simulate.driver.VirtualLoop`).

* **Demand** is ``spec.capacity`` (a ``demand`` event of a scenario sets it, as ``kubectl
  scale`` or an HPA would).
* **Served** is the Ready capacity: for every variant, its pods Running on a Ready node (the
  in-memory scheduler binds only to Ready nodes) times the variant's ``capacityPerReplica``.
  Kept current from the cluster's pod changes, so a run costs O(changes).
* :meth:`ServingGroupDemand.capacity_by_variant` is the Ready capacity per variant
  (``GROUP/VARIANT``), recorded in the timeline.

Only Deployment variants are simulated (the in-memory workloads have no LeaderWorkerSet);
:func:`serving_demand` refuses others with a message that says so.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ccc.api.servinggroup import ServingGroup
from ccc.api.servinggroup.manifest import parse_serving_group
from ccc.controller.memworkloads import InMemoryWorkloads

if TYPE_CHECKING:
    from ccc.simulate.driver import VirtualLoop

#: The workload kinds a simulated ServingGroup's variants may name.
SIMULATED_KINDS = ("Deployment",)


class ServingDemandError(ValueError):
    """A group that cannot be simulated (the message says which variant and why)."""


@dataclass
class ServingGroupDemand:
    """One ServingGroup and its variants' pod templates (see the module docstring).

    Attributes:
        body: the ServingGroup manifest (``status`` is dropped: a run starts from nothing).
        templates: pod template (``metadata`` and ``spec``) per variant Deployment name.
    """

    body: Mapping[str, Any]
    templates: Mapping[str, Mapping[str, Any]]
    kind: str = "servingGroup"
    name: str = ""
    namespace: str = "default"
    _capacity: int = 0
    #: Deployment name -> (variant name, capacity per replica)
    _per_replica: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: pod key -> variant name, for pods Running on a Ready node
    _ready: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        group = parse_serving_group(self.body)
        self.name, self.namespace = group.name, group.namespace
        self._capacity = group.spec.capacity
        self._per_replica = {
            v.target_ref.name: (v.name, v.capacity_per_replica) for v in group.spec.variants
        }

    @property
    def group(self) -> ServingGroup:
        return parse_serving_group(self.body)

    def create(self, loop: VirtualLoop) -> None:
        workloads = _workloads(loop)
        for deployment in self._per_replica:
            workloads.add_deployment(self.namespace, deployment, self.templates[deployment])
        body = copy.deepcopy(dict(self.body))
        body.pop("status", None)
        body.setdefault("metadata", {})["namespace"] = self.namespace
        workloads.add_group(body)

    def scale(self, loop: VirtualLoop, amount: int) -> None:
        workloads = _workloads(loop)
        body = copy.deepcopy(workloads.group(self.namespace, self.name))
        body["spec"]["capacity"] = amount
        workloads.add_group(body)
        self._capacity = amount

    def demand(self) -> float:
        return float(self._capacity)

    def served(self) -> float:
        return sum(self.capacity_by_variant().values())

    def capacity_by_variant(self) -> dict[str, float]:
        """Ready capacity per ``GROUP/VARIANT`` (every variant, 0 included)."""
        out = {f"{self.name}/{v}": 0.0 for v, _ in self._per_replica.values()}
        per = {v: c for v, c in self._per_replica.values()}
        for variant in self._ready.values():
            out[f"{self.name}/{variant}"] += per[variant]
        return out

    def on_change(self, kind: str, event: str, old: Any, new: Any) -> None:
        if kind != "Pod":
            return
        pod = new if new is not None else old
        if pod.namespace != self.namespace or pod.owner_kind != "ReplicaSet":
            return
        found = self._per_replica.get(pod.owner_name or "")
        if found is None:
            return
        if event != "DELETED" and new.phase == "Running" and new.node_name:
            self._ready[pod.key] = found[0]
        else:
            self._ready.pop(pod.key, None)


def _workloads(loop: VirtualLoop) -> InMemoryWorkloads:
    if loop.workloads is None:
        raise RuntimeError("the loop has no in-memory workloads")
    return loop.workloads


def serving_demand(
    group_body: Mapping[str, Any], workloads: Mapping[tuple[str, str], Mapping[str, Any]]
) -> ServingGroupDemand:
    """The demand of a ServingGroup whose variants name the given workloads.

    Args:
        group_body: the ServingGroup manifest.
        workloads: workload manifests by ``(kind, name)``.

    Raises:
        ServingDemandError: a variant names a kind that is not simulated, or a workload that is
            not given (or has no pod template).
    """
    group = parse_serving_group(group_body)
    templates: dict[str, Mapping[str, Any]] = {}
    problems: list[str] = []
    for v in group.spec.variants:
        ref = v.target_ref
        where = f"ServingGroup/{group.name}: spec.variants[{v.name}].targetRef"
        if ref.kind not in SIMULATED_KINDS:
            problems.append(
                f"{where}: {ref.kind} variants are not simulated (only "
                f"{', '.join(SIMULATED_KINDS)}); point the variant at a Deployment with the "
                "same pod template"
            )
            continue
        body = workloads.get((ref.kind, ref.name))
        template = ((body or {}).get("spec") or {}).get("template")
        if not isinstance(template, Mapping):
            problems.append(
                f"{where}: no {ref.kind} {ref.name!r} with a pod template in the files given; "
                "add its manifest to the --serving-group file"
            )
            continue
        templates[ref.name] = template
    if problems:
        raise ServingDemandError("\n".join(problems))
    return ServingGroupDemand(body=group_body, templates=templates)


__all__ = ["SIMULATED_KINDS", "ServingDemandError", "ServingGroupDemand", "serving_demand"]
