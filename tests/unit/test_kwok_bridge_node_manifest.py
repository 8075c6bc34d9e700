"""The Nodes the KWOK bridge makes for the GKE emulator's pools look like GKE's.

Pure: :func:`tests.emulator.kwok_bridge.node_manifest` on pool JSON as the emulator stores it
(camelCase, int64 as strings, enums as ints), no cluster.
"""

from __future__ import annotations

from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from tests.emulator.kwok_bridge import BRIDGE_LABEL, KWOK_NODE_ANNOTATION, node_manifest
from tests.emulator.state import PoolEvent

CATALOG = load_builtin_catalog()
ZONE = "us-central1-b"


def _event(pool: dict[str, Any], name: str = "pool-a") -> PoolEvent:
    return PoolEvent("created", name, ZONE, 1, {"name": name, **pool}, ("gke-c-pool-a-03e8",))


def _node(pool: dict[str, Any]) -> dict[str, Any]:
    return node_manifest(
        _event(pool), "gke-c-pool-a-03e8", project="p", cluster="c", catalog=CATALOG
    )


def test_a_spot_gpu_pool_gets_gke_labels_its_own_labels_taints_and_gpu_capacity() -> None:
    node = _node(
        {
            "config": {
                "machineType": "a3-highgpu-8g",
                "spot": True,
                "labels": {L.CLASS_LABEL: "llm", L.NODE_POOL_LABEL: "pool-a"},
                "taints": [{"key": L.CLASS_LABEL, "value": "llm", "effect": 1}],
                "accelerators": [{"acceleratorCount": "8", "acceleratorType": "nvidia-h100-80gb"}],
            }
        }
    )
    labels = node["metadata"]["labels"]
    assert labels[L.CLASS_LABEL] == "llm"
    assert labels[L.GKE_NODE_POOL_LABEL] == "pool-a"
    assert labels[L.ZONE_LABEL] == ZONE
    assert labels[L.REGION_LABEL] == "us-central1"
    assert labels[L.MACHINE_TYPE_LABEL] == "a3-highgpu-8g"
    assert labels[L.GKE_SPOT_LABEL] == "true"
    assert labels[L.GKE_ACCELERATOR_LABEL] == "nvidia-h100-80gb"
    assert labels[BRIDGE_LABEL] == "c"
    assert node["metadata"]["annotations"] == {KWOK_NODE_ANNOTATION: "fake"}
    assert node["spec"]["providerID"] == f"gce://p/{ZONE}/gke-c-pool-a-03e8"
    assert node["spec"]["taints"] == [
        {"key": L.CLASS_LABEL, "value": "llm", "effect": "NoSchedule"},
        {"key": L.GPU_RESOURCE, "value": "present", "effect": "NoSchedule"},
    ]
    machine = CATALOG.machine_type("a3-highgpu-8g")
    assert machine is not None
    capacity = node["status"]["capacity"]
    assert capacity[L.GPU_RESOURCE] == "8"
    assert capacity["cpu"] == str(machine.vcpus)
    allocatable = node["status"]["allocatable"]
    assert allocatable[L.GPU_RESOURCE] == "8"
    assert allocatable["cpu"].endswith("m") and int(allocatable["cpu"][:-1]) < machine.vcpus * 1000


@pytest.mark.parametrize(
    ("config", "absent"),
    [
        ({"machineType": "n2-standard-8"}, L.GKE_SPOT_LABEL),
        ({"machineType": "n2-standard-8"}, L.GKE_ACCELERATOR_LABEL),
        ({"machineType": "a3-highgpu-8g", "flexStart": True}, L.GKE_SPOT_LABEL),
    ],
)
def test_labels_gke_would_not_set_are_absent(config: dict[str, Any], absent: str) -> None:
    assert absent not in _node({"config": config})["metadata"]["labels"]


def test_a_gpu_machine_without_accelerator_config_takes_its_gpus_from_the_catalog() -> None:
    node = _node({"config": {"machineType": "g2-standard-8"}})
    assert node["status"]["capacity"][L.GPU_RESOURCE] == "1"
    assert node["metadata"]["labels"][L.GKE_ACCELERATOR_LABEL] == "nvidia-l4"


def test_gpu_time_sharing_multiplies_the_advertised_gpus() -> None:
    accelerator = {
        "acceleratorCount": "1",
        "acceleratorType": "nvidia-l4",
        "gpuSharingConfig": {"gpuSharingStrategy": 1, "maxSharedClientsPerGpu": 4},
    }
    node = _node({"config": {"machineType": "g2-standard-8", "accelerators": [accelerator]}})
    assert node["status"]["capacity"][L.GPU_RESOURCE] == "4"


def test_a_multi_host_tpu_pool_gets_tpu_labels_topology_and_capacity() -> None:
    node = _node(
        {
            "config": {"machineType": "ct5lp-hightpu-4t"},
            "placementPolicy": {"type": 1, "tpuTopology": "2x4"},
            "maxPodsConstraint": {"maxPodsPerNode": "32"},
        }
    )
    labels = node["metadata"]["labels"]
    assert labels[L.GKE_TPU_ACCELERATOR_LABEL] == "tpu-v5-lite-podslice"
    assert labels[L.GKE_TPU_TOPOLOGY_LABEL] == "2x4"
    assert node["status"]["capacity"][L.TPU_RESOURCE] == "4"
    assert node["status"]["capacity"]["pods"] == "32"
    assert {"key": L.TPU_RESOURCE, "value": "present", "effect": "NoSchedule"} in node["spec"][
        "taints"
    ]
