"""``ccc simulate --serving-group FILE``: the ServingGroup and its variants' workloads, read and
checked, as the demand of a run (:class:`ccc.simulate.serving.ServingGroupDemand`).

The file (or directory) holds one ServingGroup and the Deployments its variants name (the same
input as ``ccc plan`` of a ServingGroup; ComputeClasses in it are ignored: the classes are the
command's arguments). Each variant's pod template is admitted as ccc's admission webhook would
admit its pods (the class toleration), so the in-memory scheduler binds them as the real one
would.

``onDemandCost`` prices the group's capacity on its first variant's class: the cheapest
on-demand offering per unit of capacity (a node holds as many of the variant's replicas as fit;
each serves ``capacityPerReplica``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ccc.api.catalog import Catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.errors import ConfigError
from ccc.api.manifest import load_documents
from ccc.api.servinggroup.resource import KIND
from ccc.api.workload import pod_requests_from_manifest
from ccc.cli.plan_serving import ServingPlanError, load_inputs
from ccc.simulate.metrics import OnDemandReference
from ccc.simulate.on_demand import cheapest_on_demand, pods_per_node
from ccc.simulate.serving import ServingDemandError, ServingGroupDemand, serving_demand
from policies.class_admission import AdmissionSettings, admit, apply_patch
from policies.tiers import compile_class


class ServingInputError(ConfigError):
    """The ServingGroup input cannot be simulated (the message lists every problem)."""


def load_serving_demand(
    path: Path,
    classes: Mapping[str, ComputeClass],
    catalog: Catalog,
    *,
    default_zones: Sequence[str] | None,
) -> tuple[ServingGroupDemand, OnDemandReference | None]:
    """The group in ``path`` as a demand, and the reference ``onDemandCost`` is priced on.

    Raises:
        ServingInputError: the file has no single valid group, a variant names a workload that
            is missing or not simulated, or a variant's template selects a class that is not
            among ``classes``.
    """
    try:
        inputs = load_inputs([path])
    except ServingPlanError as exc:
        raise ServingInputError(
            "\n".join(f"--serving-group {path}: {x}" for x in exc.lines)
        ) from exc
    group = inputs.group
    admitted: dict[tuple[str, str], Mapping[str, Any]] = {}
    problems: list[str] = []
    for key, body in inputs.workloads.items():
        try:
            admitted[key] = _admitted(body, group.namespace, classes)
        except ConfigError as exc:
            problems.append(f"--serving-group {path}: {key[0]}/{key[1]}: {exc}")
    try:
        demand = serving_demand(_raw_group(path, group.name), admitted)
    except ServingDemandError as exc:
        problems += [f"--serving-group {path}: {line}" for line in str(exc).splitlines()]
        demand = None
    if problems or demand is None:
        raise ServingInputError("\n".join(problems))
    first = group.spec.variants[0]
    body = admitted[(first.target_ref.kind, first.target_ref.name)]
    pods = pod_requests_from_manifest({**body, "spec": {**body["spec"], "replicas": 1}})
    if not pods or pods[0].compute_class not in classes:
        return demand, None
    pod = pods[0]
    compiled = compile_class(classes[pod.compute_class or ""], catalog, default_zones=default_zones)
    per_node = pods_per_node(pod)
    reference = cheapest_on_demand(
        compiled, catalog.price, lambda machine: per_node(machine) * first.capacity_per_replica
    )
    return demand, reference


def _raw_group(path: Path, name: str) -> Mapping[str, Any]:
    for doc in load_documents(path):
        if doc.kind == KIND and doc.name == name:
            return dict(doc.body)
    raise ServingInputError(f"--serving-group {path}: ServingGroup {name} not found")


def _admitted(
    body: Mapping[str, Any], namespace: str, classes: Mapping[str, ComputeClass]
) -> Mapping[str, Any]:
    """``body`` with its pod template as admission leaves its pods.

    Raises:
        ConfigError: the template selects a class that is not given.
    """
    out = copy.deepcopy(dict(body))
    spec = out.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("template"), dict):
        return out
    template: dict[str, Any] = spec["template"]
    pod = {
        "metadata": {**(template.get("metadata") or {}), "namespace": namespace},
        "spec": template.get("spec") or {},
    }
    result = admit(
        pod, namespace_labels={}, known_classes=set(classes), settings=AdmissionSettings()
    )
    if result.outcome == "class_missing":
        raise ConfigError(
            "its pod template selects a ComputeClass that is not among the classes given "
            f"({', '.join(sorted(classes))}); add the class's file to the command",
            path="spec.template.spec.nodeSelector",
        )
    if result.patch:
        spec["template"] = {**template, "spec": apply_patch(pod, result.patch)["spec"]}
    return out


__all__ = ["ServingInputError", "load_serving_demand"]
