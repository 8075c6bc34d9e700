"""Builders of the ServingGroup end-to-end tests: ComputeClasses of one rule each and
ServingGroups of a few variants, as the tests' manifests (plain dicts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ccc.api import labels as L


def h100_rule(zone: str) -> dict[str, Any]:
    """One H100 per node (``a3-highgpu-1g``) in ``zone``, on demand."""
    return {
        "machineType": "a3-highgpu-1g",
        "gpu": {"type": "nvidia-h100-80gb", "count": 1},
        "location": {"zones": [zone]},
    }


def classes_of(tag: str, **rules: dict[str, Any]) -> list[dict[str, Any]]:
    """One ComputeClass ``<key>-<tag>`` of one rule per keyword, creating its node pools."""
    return [
        {
            "apiVersion": L.API_VERSION,
            "kind": "ComputeClass",
            "metadata": {"name": f"{kind}-{tag}"},
            "spec": {"nodePoolAutoCreation": {"enabled": True}, "priorities": [rule]},
        }
        for kind, rule in rules.items()
    ]


def variant(
    name: str,
    per_replica: float,
    *,
    target: str | None = None,
    kind: str = "Deployment",
    api_version: str = "apps/v1",
) -> dict[str, Any]:
    """A variant served by the workload ``target`` (default: ``name``) of ``kind``."""
    ref = {"apiVersion": api_version, "kind": kind, "name": target or name}
    return {"name": name, "targetRef": ref, "capacityPerReplica": per_replica}


def serving_group(
    variants: Sequence[dict[str, Any]],
    *,
    capacity: int,
    name: str = "llama",
    stabilization_s: int | None = None,
    obtain_timeout_s: int = 60,
) -> dict[str, Any]:
    """A ServingGroup of ``capacity`` requests/s over ``variants`` (in preference order); a
    ``rebalance`` block only when ``stabilization_s`` is given."""
    spec: dict[str, Any] = {
        "capacity": capacity,
        "capacityUnit": "requests/s",
        "variants": list(variants),
    }
    if stabilization_s is not None:
        spec["rebalance"] = {
            "obtainTimeoutSeconds": obtain_timeout_s,
            "stabilizationSeconds": stabilization_s,
        }
    return {
        "apiVersion": f"{L.GROUP}/{L.VERSION}",
        "kind": "ServingGroup",
        "metadata": {"name": name},
        "spec": spec,
    }
