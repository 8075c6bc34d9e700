"""Builders for test inputs, in the style of karpenter's ``test.NodePool()``: defaults that
make a valid object, keyword overrides for what a test is about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.workload import PodRequest, Toleration

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
H100 = {"type": "nvidia-h100-80gb", "count": 8}


def catalog() -> Catalog:
    return load_builtin_catalog()


def make_rule(
    machine_type: str | None = "a3-highgpu-8g",
    *,
    zones: Sequence[str] | None = ("us-central1-a", "us-central1-b"),
    spot: bool | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A priority rule as YAML would give it (camelCase keys)."""
    rule: dict[str, Any] = {}
    if machine_type is not None:
        rule["machineType"] = machine_type
    if spot is not None:
        rule["spot"] = spot
    if zones is not None:
        rule["location"] = {"zones": list(zones)}
    rule.update(fields)
    return rule


def make_class(
    *rules: Mapping[str, Any],
    name: str = "gpu",
    api_version: str = "ccc.dev/v1alpha1",
    auto_create: bool | None = True,
    **spec: Any,
) -> ComputeClass:
    """A class of ``rules``. ``auto_create`` sets ``nodePoolAutoCreation.enabled`` (``None``
    leaves it unset, GKE's default: disabled); most tests are about creating pools."""
    body: dict[str, Any] = {"priorities": [dict(r) for r in rules]}
    if auto_create is not None:
        body["nodePoolAutoCreation"] = {"enabled": auto_create}
    body.update(spec)
    return ComputeClass.model_validate(
        {
            "apiVersion": api_version,
            "kind": "ComputeClass",
            "metadata": {"name": name},
            "spec": body,
        }
    )


def make_pods(
    count: int = 1,
    *,
    class_name: str = "gpu",
    gpus: int = 8,
    tpus: int = 0,
    cpu_m: int = 8000,
    memory_gib: int = 64,
    selector: Mapping[str, str] | None = None,
    name: str = "vllm",
    tolerate_all: bool = True,
) -> PodRequest:
    sel = {L.CLASS_LABEL: class_name}
    sel.update(selector or {})
    return PodRequest(
        name=name,
        count=count,
        cpu_m=cpu_m,
        memory_bytes=memory_gib * 2**30,
        gpus=gpus,
        tpus=tpus,
        node_selector=sel,
        tolerations=(Toleration(operator="Exists"),) if tolerate_all else (),
    )
