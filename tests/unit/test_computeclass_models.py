"""The ComputeClass models: the naming contract other code relies on, defaults, round trips."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ccc.api.computeclass import (
    ComputeClass,
    ComputeClassSpec,
    ComputeClassStatus,
    FlexStart,
    GpuSpec,
    PriorityRule,
    Reservations,
    SpecificReservation,
    Storage,
    UnavailableOffering,
)
from ccc.api.values import CapacityType


def _class(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ccc.dev/v1alpha1",
        "kind": "ComputeClass",
        "metadata": {"name": "demo"},
        "spec": spec,
        **extra,
    }


def test_camel_case_manifest_fields_become_snake_case_attributes() -> None:
    cc = ComputeClass.model_validate(
        _class(
            {
                "whenUnsatisfiable": "ScaleUpAnyway",
                "nodePoolAutoCreation": {"enabled": True},
                "priorities": [
                    {
                        "machineFamily": "n4",
                        "minCores": 8,
                        "minMemoryGb": 32,
                        "storage": {
                            "bootDiskKMSKey": "projects/p/locations/l/keyRings/r/cryptoKeys/k"
                        },
                    },
                    {
                        "machineType": "g2-standard-8",
                        "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 60}},
                        "capacityCheckWaitTimeSeconds": 600,
                        "gpu": {"type": "nvidia-l4", "count": 1, "driverVersion": "latest"},
                    },
                ],
            }
        )
    )
    first, second = cc.spec.priorities
    assert (first.machine_family, first.min_cores, first.min_memory_gb) == ("n4", 8, 32)
    assert first.storage is not None and first.storage.boot_disk_kms_key is not None
    assert second.flex_start is not None and second.flex_start.node_recycling is not None
    assert second.flex_start.node_recycling.lead_time_seconds == 60
    assert second.capacity_check_wait_time_seconds == 600
    assert second.gpu == GpuSpec(type="nvidia-l4", count=1, driver_version="latest")
    assert cc.spec.when_unsatisfiable == "ScaleUpAnyway"
    assert cc.spec.node_pool_auto_creation is not None and cc.spec.node_pool_auto_creation.enabled


def test_irregular_aliases_are_kept_on_output() -> None:
    storage = Storage(
        boot_disk_kms_key="projects/p/locations/l/keyRings/r/cryptoKeys/k", local_ssd_count=2
    )
    rule = PriorityRule(machine_family="n4", min_memory_gb=16, storage=storage)
    dumped = rule.model_dump(exclude_none=True)
    assert dumped == {
        "machineFamily": "n4",
        "minMemoryGb": 16,
        "storage": {
            "bootDiskKMSKey": "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            "localSSDCount": 2,
        },
    }


def test_models_accept_python_names_as_well_as_wire_names() -> None:
    by_name = PriorityRule.model_validate(
        {"machine_type": "a3-highgpu-8g", "max_pods_per_node": 32}
    )
    by_alias = PriorityRule.model_validate({"machineType": "a3-highgpu-8g", "maxPodsPerNode": 32})
    assert by_name == by_alias


def test_defaults_match_the_gke_crd() -> None:
    spec = ComputeClassSpec()
    assert spec.priorities == []
    assert spec.when_unsatisfiable == "DoNotScaleUp"
    assert spec.node_pool_auto_creation is None  # absent means disabled (except Autopilot)
    assert FlexStart().enabled is False


def test_a_manifest_round_trips_through_the_models() -> None:
    manifest = _class(
        {
            "priorities": [
                {
                    "machineType": "a3-ultragpu-8g",
                    "reservations": {
                        "affinity": "Specific",
                        "specific": [
                            {
                                "name": "r",
                                "project": "shared",
                                "reservationBlock": {
                                    "name": "b",
                                    "reservationSubBlock": {"name": "s"},
                                },
                                "zones": ["us-central1-a"],
                            }
                        ],
                    },
                },
                {"nodepools": ["pool-a", "pool-b"]},
            ],
            "whenUnsatisfiable": "DoNotScaleUp",
        }
    )
    cc = ComputeClass.model_validate(manifest)
    assert cc.model_dump(mode="json", exclude_none=True) == manifest


def test_nodepools_rules_are_recognised() -> None:
    assert PriorityRule(nodepools=["a"]).is_nodepools_rule
    assert not PriorityRule(machine_family="n4").is_nodepools_rule


def test_both_api_versions_are_accepted_and_others_are_not() -> None:
    for version in ("ccc.dev/v1alpha1", "cloud.google.com/v1"):
        assert (
            ComputeClass.model_validate({**_class({}), "apiVersion": version}).api_version
            == version
        )
    with pytest.raises(ValidationError):
        ComputeClass.model_validate({**_class({}), "apiVersion": "cloud.google.com/v1beta1"})


def test_object_metadata_from_the_api_server_is_accepted() -> None:
    cc = ComputeClass.model_validate(
        {
            **_class({}),
            "metadata": {
                "name": "demo",
                "uid": "0b5c",
                "resourceVersion": "42",
                "generation": 3,
                "creationTimestamp": "2026-01-02T03:04:05Z",
                "labels": {"team": "ml"},
                "annotations": {"a": "b"},
                "managedFields": [
                    {
                        "manager": "kubectl",
                        "operation": "Apply",
                        "apiVersion": "ccc.dev/v1alpha1",
                        "time": "2026-01-02T03:04:05Z",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:spec": {}},
                    }
                ],
            },
        }
    )
    assert cc.metadata.generation == 3
    assert cc.metadata.resource_version == "42"
    assert cc.metadata.creation_timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_status_carries_the_obtainability_memory() -> None:
    status = ComputeClassStatus.model_validate(
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Compiled",
                    "lastTransitionTime": "2026-01-02T03:04:05Z",
                    "observedGeneration": 1,
                }
            ],
            "unavailableOfferings": [
                {
                    "machineType": "a3-highgpu-8g",
                    "zone": "us-central1-a",
                    "capacityType": "spot",
                    "reason": "ZONE_RESOURCE_POOL_EXHAUSTED",
                    "failures": 2,
                    "since": "2026-01-02T03:00:00Z",
                    "until": "2026-01-02T03:06:00Z",
                }
            ],
        }
    )
    [offering] = status.unavailable_offerings or []
    assert offering.capacity_type is CapacityType.SPOT
    assert offering.until - offering.since == datetime(2026, 1, 1, 0, 6) - datetime(2026, 1, 1)
    dumped = status.model_dump(mode="json", exclude_none=True)
    assert dumped["unavailableOfferings"][0]["capacityType"] == "spot"
    assert dumped["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_an_unavailable_offering_can_be_built_from_python_values() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    offering = UnavailableOffering(
        machine_type="ct6e-standard-4t",
        zone="us-east5-b",
        capacity_type=CapacityType.FLEX_START,
        reason="QUOTA_EXCEEDED",
        message="",
        failures=1,
        since=now,
        until=now,
    )
    assert offering.model_dump(mode="json")["capacityType"] == "flex-start"


@pytest.mark.parametrize(
    ("field", "value"),
    [("spot", "yes"), ("min_cores", "8"), ("max_pods_per_node", 8.5), ("nodepools", "pool-a")],
)
def test_values_of_the_wrong_type_are_rejected_not_coerced(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        PriorityRule.model_validate({field: value})


def test_unknown_fields_are_errors() -> None:
    with pytest.raises(ValidationError, match="bootDisk"):
        Storage.model_validate({"bootDisk": {"type": "pd-balanced"}})


def test_cross_field_rules_run_when_models_are_built_in_python() -> None:
    with pytest.raises(ValidationError, match="not both"):
        PriorityRule(machine_family="n2", machine_type="n2-standard-8")
    with pytest.raises(ValidationError, match="affinity Specific needs"):
        Reservations(affinity="Specific")
    assert Reservations(affinity="Specific", specific=[SpecificReservation(name="r")]).specific
