"""Fields ccc accepts but does not act on: said out loud, never silently dropped.

Every field of the ComputeClass spec is classified here (a unit test walks the pydantic models
and fails when a field is missing, so a new field cannot slip through):

* ``walk``: the decision core acts on it (machine types, zones, capacity types, ...);
* ``pool``: passed to the node pool ccc creates (GKE provider: ``container_v1`` fields);
* ``info``: needs no action (``description``);
* anything else is a :class:`Unacted` reason: :func:`unacted_fields` reports every such field a
  class sets, for ``ccc validate``, ``ccc plan`` and the ``FieldsNotActedOn`` status condition.

A field "sets" something when its value is not ``None``, ``False``, ``0`` or empty: a switch
left off, or a threshold or count of zero, asks for nothing ccc would have to do. Paths are
camelCase with ``[i]`` indices (``spec.priorities[2].location.zoneTypes``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from ccc.api.computeclass import ComputeClass

Handling = Literal["walk", "pool", "info"]

_LIFECYCLE = (
    "ccc does not replace nodes before their end or move workloads yet (lifecycle is not "
    "implemented): "
)


@dataclass(frozen=True, slots=True)
class Unacted:
    """Why ccc does not act on a field."""

    reason: str


@dataclass(frozen=True, slots=True)
class FieldNotice:
    """One field a class sets that ccc accepts but does not act on."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


_RULE: dict[str, Handling | Unacted] = {
    "machineFamily": "walk",
    "machineType": "walk",
    "minCores": "walk",
    "minMemoryGb": "walk",
    "spot": "walk",
    "gpu.type": "walk",
    "gpu.count": "walk",
    "gpu.driverVersion": "pool",
    "gpu.gpuSharing": "walk",
    "gpu.topology": Unacted(
        "GPU slice topologies (A4X / GB200) are not created by ccc; nodes are created without "
        "the topology"
    ),
    "tpu": "walk",
    "reservations": "walk",
    "flexStart.enabled": "walk",
    "flexStart.nodeRecycling": "walk",
    "maxRunDurationSeconds": "pool",
    "capacityCheckWaitTimeSeconds": "walk",
    "maxPodsPerNode": "walk",
    "location.zones": "walk",
    "location.locationPolicy": "walk",
    "location.zoneTypes": Unacted(
        "zone types (STANDARD, AI, CLUSTER_DEFAULT) are not known to ccc; zones come from "
        "location.zones or the cluster's zones"
    ),
    "placement": "pool",
    "storage": "pool",
    "nodepools": "walk",
    "nodeSystemConfig": "pool",
    "podFamily": Unacted("Autopilot pod-based billing families apply only on GKE Autopilot"),
    "minCpuPlatform": "pool",
    "nodeLabels": "walk",
    "taints": "walk",
    "priorityScore": "walk",
    "acceleratorNetworkProfile": "pool",
    "gpuDirect": "pool",
    "minimumCapacity": Unacted("ccc does not keep idle nodes provisioned (minimum capacity)"),
    "instanceMetadata": "pool",
    "allocationStrategy": Unacted(
        "ccc picks the smallest machine type that fits; the allocation strategy is not applied"
    ),
    "enableNestedVirtualization": "pool",
    "hostMaintenancePolicy": Unacted(
        "the node pool API has no host maintenance policy; nodes get the default"
    ),
    "performanceMonitoringUnit": "pool",
}

_SPEC: dict[str, Handling | Unacted] = {
    "priorities": "walk",
    "priorityDefaults.location.zones": "walk",
    "priorityDefaults.location.locationPolicy": "walk",
    "priorityDefaults.location.zoneTypes": _RULE["location.zoneTypes"],
    "priorityDefaults.nodeSystemConfig": "pool",
    "priorityDefaults.enableNestedVirtualization": "pool",
    "priorityDefaults.hostMaintenancePolicy": _RULE["hostMaintenancePolicy"],
    "whenUnsatisfiable": "walk",
    "nodePoolAutoCreation.enabled": "walk",
    "nodePoolAutoCreation.dynamicMaxPodsPerNode": Unacted(
        "ccc uses maxPodsPerNode or the machine default; it does not pick max pods per node"
    ),
    "nodePoolAutoCreation.dynamicBootDiskSize": Unacted(
        "ccc uses storage.bootDiskSize or GKE's default; it does not size boot disks"
    ),
    "nodePoolAutoCreation.shieldedInstanceConfig": "pool",
    "activeMigration": Unacted(
        _LIFECYCLE + "workloads stay on lower rules' nodes when a higher rule becomes obtainable"
    ),
    "autoscalingPolicy.consolidationDelayMinutes": "walk",
    "autoscalingPolicy.consolidationThreshold": Unacted(
        "ccc removes only empty nodes; utilisation thresholds are not applied"
    ),
    "autoscalingPolicy.gpuConsolidationThreshold": Unacted(
        "ccc removes only empty nodes; utilisation thresholds are not applied"
    ),
    "autopilot": Unacted("Autopilot node management applies only on GKE Autopilot"),
    "nodePoolConfig.nodeLabels": "walk",
    "nodePoolConfig.taints": "walk",
    "nodePoolConfig.serviceAccount": "pool",
    "nodePoolConfig.imageType": "pool",
    "nodePoolConfig.customImageConfig": "pool",
    "nodePoolConfig.workloadType": Unacted(
        "workload types need node pool groups (GCE multi-MIG), which ccc does not create"
    ),
    "nodePoolConfig.confidentialNodeType": "pool",
    "nodePoolConfig.autoRepair": "pool",
    "nodePoolConfig.autoUpgrade": "pool",
    "nodePoolConfig.imageStreaming": "pool",
    "nodePoolConfig.resourceManagerTags": "pool",
    "nodePoolConfig.gvnic": "pool",
    "nodePoolConfig.loggingConfig": "pool",
    "nodePoolConfig.dra": Unacted(
        "the node pool API (container_v1) has no DRA networking setting; nodes get the default"
    ),
    "nodePoolConfig.ipType": "pool",
    "nodePoolConfig.nodeVersion": "pool",
    "nodePoolConfig.tpu": Unacted(
        "the node pool API (container_v1) has no TPU driver mode; nodes use the device plugin"
    ),
    "nodePoolConfig.sandbox": "pool",
    "nodePoolConfig.workloadMetadata": "pool",
    "nodePoolConfig.instanceMetadata": "pool",
    "nodePoolConfig.taintConfig": "pool",
    "nodePoolConfig.maintenanceExclusion": "pool",
    "nodePoolConfig.nodeDrainConfig": "pool",
    "nodePoolConfig.networkTags": "pool",
    "nodePoolGroup": Unacted("node pool groups (GCE multi-MIG) are not created by ccc"),
    "description": "info",
    "minimumCapacity": _RULE["minimumCapacity"],
    "allocationStrategyDefaults": _RULE["allocationStrategy"],
    "networkConfig": "pool",
    "buffers": Unacted("ccc keeps no spare capacity buffers"),
}

#: ``nodePoolConfig.sandbox.type`` values the node pool API takes (only gVisor).
_SANDBOX_TYPES = ("gvisor",)


def handling(spec_path: str) -> Handling | Unacted | None:
    """How ccc treats a field, by its path relative to ``spec`` without indices
    (``priorities.gpu.count``, ``nodePoolConfig.imageType``); ``None`` when unclassified.
    The longest registered prefix wins."""
    if spec_path.startswith("priorities."):
        table, path = _RULE, spec_path.removeprefix("priorities.")
    else:
        table, path = _SPEC, spec_path
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        hit = table.get(".".join(parts[:n]))
        if hit is not None:
            return hit
    return None


def _sets_something(value: object) -> bool:
    return value is not None and value is not False and value not in (0, "", [], {})


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """(display path, path without indices, value) of every set field below ``value``."""
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            child = getattr(value, name)
            if not _sets_something(child):
                continue
            alias = info.alias or name
            yield from _leaves(child, f"{path}.{alias}" if path else alias)
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, path, value


def _strip(path: str) -> str:
    out, depth = [], 0
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def unacted_fields(cc: ComputeClass) -> tuple[FieldNotice, ...]:
    """Every field ``cc`` sets that ccc accepts but does not act on, with the reason.

    One notice per registered field (the deepest registered path), not per leaf below it.
    """
    seen: dict[str, FieldNotice] = {}
    for display, _, value in _leaves(cc.spec, ""):
        plain = _strip(display)
        how = handling(plain)
        if plain == "nodePoolConfig.sandbox.type" and value not in _SANDBOX_TYPES:
            how = Unacted(f"the node pool API takes only gVisor sandboxes, not {value}")
        if not isinstance(how, Unacted):
            continue
        key = _registered_prefix(display)
        seen.setdefault(key, FieldNotice(f"spec.{key}", f"accepted but not acted on: {how.reason}"))
    return tuple(seen.values())


def _registered_prefix(display: str) -> str:
    """The display path cut at the deepest registered field (keeps indices)."""
    plain_parts = _strip(display).split(".")
    disp_parts = display.split(".")
    for n in range(len(plain_parts), 0, -1):
        candidate = ".".join(plain_parts[:n])
        rel = candidate.removeprefix("priorities.") if candidate.startswith("priorities.") else None
        table = _RULE if rel is not None else _SPEC
        if (rel if rel is not None else candidate) in table:
            cut = disp_parts[:n]
            cut[-1] = cut[-1].split("[", 1)[0]  # a list field itself: spec.buffers
            return ".".join(cut)
    return display


def classification() -> Mapping[str, Mapping[str, Handling | Unacted]]:
    """The registry (for tests and docs): rule fields and spec fields."""
    return {"priorities[]": _RULE, "spec": _SPEC}


def markdown_rows() -> list[str]:
    """``| `path` | reason |`` rows of every field ccc does not act on (docs table)."""
    rows = []
    for group, table in classification().items():
        for path, how in table.items():
            if isinstance(how, Unacted):
                where = f"spec.priorities[].{path}" if group == "priorities[]" else f"spec.{path}"
                rows.append(f"| `{where}` | {how.reason} |")
    return rows
