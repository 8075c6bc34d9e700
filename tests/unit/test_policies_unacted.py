"""Accepted but not acted on = said out loud (fields that ccc neither passes to the node pool nor
acts on get a warning; reference gke-computeclass.md §2 lists every field)."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from ccc.api.computeclass import ComputeClassSpec, PriorityRule
from ccc.controller.status_report import class_status
from policies.obtainability import ObtainabilityMemory
from policies.tiers import compile_class
from policies.unacted import Unacted, classification, handling, unacted_fields
from policies.warnings import class_warnings, validation_warnings
from tests.builders import H100, catalog, make_class, make_rule


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for arg in (annotation, *typing.get_args(annotation)):
        for inner in (arg, *typing.get_args(arg)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        sub = _model_of(info.annotation)
        if sub is not None and handling(path) is None:
            out.extend(_field_paths(sub, path + "."))
        else:
            out.append(path)
    return out


def test_every_spec_field_is_classified_so_none_can_be_silently_dropped() -> None:
    paths = _field_paths(ComputeClassSpec) + _field_paths(PriorityRule, "priorities.")
    missing = [p for p in paths if handling(p) is None]
    assert not missing, f"classify these fields in policies/unacted.py: {missing}"
    assert "priorities.location.zoneTypes" in paths


@pytest.mark.parametrize(
    ("rule", "spec", "path"),
    [
        (
            {"location": {"zones": ["us-central1-a"], "zoneTypes": ["AI"]}},
            {},
            "spec.priorities[0].location.zoneTypes",
        ),
        ({"allocationStrategy": "lowest-cost"}, {}, "spec.priorities[0].allocationStrategy"),
        ({"minimumCapacity": {"targetNodeCount": 2}}, {}, "spec.priorities[0].minimumCapacity"),
        ({}, {"activeMigration": {"optimizeRulePriority": True}}, "spec.activeMigration"),
        (
            {},
            {"nodePoolConfig": {"dra": {"networking": {"enabled": True}}}},
            "spec.nodePoolConfig.dra",
        ),
        (
            {},
            {"nodePoolConfig": {"tpu": {"driverMode": "DynamicResourceAllocation"}}},
            "spec.nodePoolConfig.tpu",
        ),
        (
            {},
            {"autoscalingPolicy": {"consolidationThreshold": 50}},
            "spec.autoscalingPolicy.consolidationThreshold",
        ),
        ({}, {"buffers": [{"limits": {"cpu": 8}}]}, "spec.buffers"),
        (
            {},
            {"nodePoolAutoCreation": {"enabled": True, "dynamicMaxPodsPerNode": True}},
            "spec.nodePoolAutoCreation.dynamicMaxPodsPerNode",
        ),
    ],
)
def test_each_field_ccc_does_not_act_on_is_reported_with_its_path_and_reason(
    rule: dict[str, Any], spec: dict[str, Any], path: str
) -> None:
    cc = make_class(make_rule(gpu=H100, **rule), **spec)
    notices = unacted_fields(cc)
    assert [n.path for n in notices] == [path]
    assert notices[0].message.startswith("accepted but not acted on: ")


@pytest.mark.parametrize(
    ("rule", "spec"),
    [
        ({"acceleratorNetworkProfile": "auto", "gpuDirect": "rdma"}, {}),
        ({"minCpuPlatform": "Intel Sapphire Rapids"}, {}),
        ({}, {"nodePoolConfig": {"imageType": "cos_containerd"}}),
        ({}, {"activeMigration": {"optimizeRulePriority": False}}),  # a switch left off
        # replaced before its end by node lifecycle (gke-computeclass.md §4, nodeRecycling)
        ({"flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 60}}}, {}),
        ({}, {"autoscalingPolicy": {"consolidationThreshold": 0}}),  # zero asks for nothing
        ({}, {"description": "free text"}),
        ({"maxPodsPerNode": 32, "gpu": dict(H100, driverVersion="latest")}, {}),
        # flex-start nodes are replaced at deadline - leadTimeSeconds (policies/lifecycle.py)
        ({"flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 60}}}, {}),
    ],
)
def test_fields_ccc_acts_on_or_passes_through_are_not_reported(
    rule: dict[str, Any], spec: dict[str, Any]
) -> None:
    r = make_rule(**rule) if "gpu" in rule else make_rule(gpu=H100, **rule)
    assert unacted_fields(make_class(r, **spec)) == ()


def test_a_microvm_sandbox_is_reported_because_the_pool_api_takes_only_gvisor() -> None:
    cc = make_class(
        make_rule(gpu=H100, enableNestedVirtualization=True),
        nodePoolConfig={"sandbox": {"type": "microvm"}},
    )
    (notice,) = unacted_fields(cc)
    assert notice.path == "spec.nodePoolConfig.sandbox" and "microvm" in notice.message


def test_the_registry_has_a_rule_table_and_a_spec_table() -> None:
    assert set(classification()) == {"priorities[]", "spec"}


def test_the_registry_names_a_reason_for_every_unacted_field() -> None:
    for table in classification().values():
        for path, how in table.items():
            assert how in ("walk", "pool", "info") or (
                isinstance(how, Unacted) and len(how.reason) > 20
            ), path


def test_warnings_list_region_creation_best_effort_and_unacted_fields_in_order() -> None:
    cc = make_class(
        make_rule(gpu=H100, spot=True, location={"zones": ["us-central1-a"], "zoneTypes": ["AI"]}),
        make_rule(gpu=H100, reservations={"affinity": "AnyBestEffort"}),
        make_rule(gpu=H100, zones=["us-east4-a"]),
        auto_create=None,
    )
    compiled = compile_class(cc, catalog())
    warnings = class_warnings(cc, compiled)
    assert [w.split(":")[0] for w in warnings] == [
        "spec.priorities[2].location.zones",
        "spec.nodePoolAutoCreation",
        "spec.priorities[1].reservations.affinity",
        "spec.priorities[0].location.zoneTypes",
    ]
    assert validation_warnings(cc, catalog()) == warnings


def test_the_class_status_carries_outside_cluster_unacted_and_creation_conditions() -> None:
    body = {
        "apiVersion": "ccc.dev/v1alpha1",
        "kind": "ComputeClass",
        "metadata": {"name": "gpu", "generation": 3},
        "spec": {
            "priorities": [
                make_rule(gpu=H100, location={"zones": ["us-central1-a"], "zoneTypes": ["AI"]}),
                make_rule(gpu=H100, zones=["us-east4-a"]),
            ]
        },
    }
    cc = make_class(*body["spec"]["priorities"], auto_create=None)  # type: ignore[index]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    status = class_status(body, cc, (), compile_class(cc, catalog()), ObtainabilityMemory(), now)
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["RulesOutsideCluster"]["status"] == "True"
    assert "spec.priorities[1].location.zones" in conds["RulesOutsideCluster"]["message"]
    assert conds["FieldsNotActedOn"]["status"] == "True"
    assert "spec.priorities[0].location.zoneTypes" in conds["FieldsNotActedOn"]["message"]
    assert conds["NodePoolCreationDisabled"]["status"] == "True"
    clean = make_class(make_rule(gpu=H100))
    ok = class_status(body, clean, (), compile_class(clean, catalog()), ObtainabilityMemory(), now)
    ok_conds = {c["type"]: c["status"] for c in ok["conditions"]}
    assert ok_conds["RulesOutsideCluster"] == "False"
    assert ok_conds["FieldsNotActedOn"] == "False"
    assert ok_conds["NodePoolCreationDisabled"] == "False"
