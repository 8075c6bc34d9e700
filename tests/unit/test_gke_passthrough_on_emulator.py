"""Every ComputeClass field the node pool API can take reaches GKE, and ccc learns where the
cluster lives, proven through the real google-cloud-container client (REST and gRPC) against
the loopback emulator (a fake of Google's API, unavoidable without an account; it stores the
request body the client serialised, so field names and encodings are the SDK's own)."""

from __future__ import annotations

from typing import Any

import pytest

from ccc.api.values import CapacityType
from policies.nodepool import build_node_pool_spec
from policies.tiers import compile_class
from policies.unacted import unacted_fields
from providers.base import ClusterLocator
from providers.gke import GKEProvider
from providers.gke.provider import cluster_location_of
from tests.builders import catalog, make_class, make_rule
from tests.emulator.fixtures import provider_for
from tests.emulator.server import RunningEmulator, running_emulator
from tests.emulator.state import GKEEmulatorState

ZONE = "us-central1-a"


KITCHEN_SINK_RULE: dict[str, Any] = make_rule(
    machine_type="a3-highgpu-1g",
    zones=[ZONE],
    minCpuPlatform="Intel Sapphire Rapids",
    acceleratorNetworkProfile="auto",
    gpuDirect="rdma",
    instanceMetadata={"team": "ml"},
    enableNestedVirtualization=True,
    performanceMonitoringUnit="STANDARD",
    maxRunDurationSeconds=86400,
    placement={"policyName": "compact-a3"},
    storage={
        "bootDiskKMSKey": "projects/p/locations/us-central1/keyRings/k/cryptoKeys/c",
        "secondaryBootDisks": [
            {"diskImageName": "llm-cache", "project": "images", "mode": "CONTAINER_IMAGE_CACHE"}
        ],
        "bootDiskType": "hyperdisk-balanced",
        "bootDiskSize": 200,
        "bootDiskProvisionedIops": 3000,
        "bootDiskProvisionedThroughput": 200,
        "bootDiskStoragePools": ["projects/p/zones/us-central1-a/storagePools/pool-1"],
        "localSsdEncryptionMode": "EPHEMERAL_KEY_ENCRYPTION",
    },
    nodeSystemConfig={
        "linuxNodeConfig": {
            "sysctls": {"net.core.somaxconn": 4096},
            "hugepageConfig": {"hugepage_size2m": 1024},
            "transparentHugepageEnabled": "TRANSPARENT_HUGEPAGE_ENABLED_NEVER",
        },
        "kubeletConfig": {
            "cpuManagerPolicy": "static",
            "podPidsLimit": 4096,
            "evictionSoft": {"memoryAvailable": "200Mi"},
            "topologyManager": {"policy": "best-effort", "scope": "pod"},
        },
    },
)
KITCHEN_SINK_SPEC: dict[str, Any] = {
    "nodePoolAutoCreation": {"enabled": True, "shieldedInstanceConfig": {"enableSecureBoot": True}},
    "networkConfig": {"subnetPriorities": [{"name": "subnet-a", "podRange": "pods-a"}]},
    "nodePoolConfig": {
        "serviceAccount": "nodes@p.iam.gserviceaccount.com",
        "imageType": "ubuntu_containerd",
        "confidentialNodeType": "TDX",
        "autoRepair": True,
        "autoUpgrade": True,
        "imageStreaming": {"enabled": True},
        "resourceManagerTags": [{"key": "tagKeys/1", "value": "tagValues/2"}],
        "gvnic": {"enabled": True},
        "loggingConfig": {"loggingVariantConfig": {"variant": "MAX_THROUGHPUT"}},
        "ipType": "private",
        "nodeVersion": "1.33.5-gke.1000000",
        "sandbox": {"type": "gvisor"},
        "workloadMetadata": "GKE_METADATA",
        "instanceMetadata": {"env": "prod"},
        "taintConfig": {"architectureTaintBehavior": "NONE"},
        "maintenanceExclusion": "UNTIL_END_OF_SUPPORT",
        "nodeDrainConfig": {
            "pdbTimeoutDuration": "5400s",
            "graceTerminationDuration": "90s",
            "respectPdbDuringNodePoolDeletion": True,
        },
        "networkTags": ["gpu-nodes"],
    },
}


def _kitchen_sink_spec() -> Any:
    cc = make_class(KITCHEN_SINK_RULE, auto_create=None, **KITCHEN_SINK_SPEC)
    tier = compile_class(cc, catalog()).tiers[0]
    return cc, build_node_pool_spec(
        cc, tier, tier.machines[0], ZONE, CapacityType.ON_DEMAND, node_count=1
    )


def test_the_kitchen_sink_class_sets_no_field_that_is_not_acted_on() -> None:
    cc, _ = _kitchen_sink_spec()
    assert unacted_fields(cc) == ()


async def test_every_pass_through_field_reaches_the_node_pool_api(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    _, spec = _kitchen_sink_spec()
    await provider.create_node_pool(spec)
    stored = emu.state.node_pools[spec.name]
    config = stored["config"]
    assert config["minCpuPlatform"] == "Intel Sapphire Rapids"
    assert config["metadata"] == {"env": "prod", "team": "ml"}
    assert config["advancedMachineFeatures"] == {
        "enableNestedVirtualization": True,
        "performanceMonitoringUnit": 2,  # STANDARD
    }
    assert config["gpuDirectConfig"] == {"gpuDirectStrategy": 2}  # RDMA
    assert config["bootDiskKmsKey"].endswith("/cryptoKeys/c")
    assert config["secondaryBootDisks"] == [
        {"diskImage": "projects/images/global/images/llm-cache", "mode": 1}
    ]
    assert config["bootDisk"] == {
        "diskType": "hyperdisk-balanced",
        "sizeGb": "200",
        "provisionedIops": "3000",
        "provisionedThroughput": "200",
    }
    assert "diskSizeGb" not in config and "diskType" not in config
    assert config["storagePools"] == ["projects/p/zones/us-central1-a/storagePools/pool-1"]
    assert config["localSsdEncryptionMode"] == 2  # EPHEMERAL_KEY_ENCRYPTION
    assert config["linuxNodeConfig"] == {
        "sysctls": {"net.core.somaxconn": "4096"},
        "hugepages": {"hugepageSize2m": 1024},
        "transparentHugepageEnabled": 3,  # NEVER
    }
    kubelet = config["kubeletConfig"]
    assert kubelet["cpuManagerPolicy"] == "static"
    assert kubelet["podPidsLimit"] == "4096"
    assert kubelet["evictionSoft"] == {"memoryAvailable": "200Mi"}
    assert kubelet["topologyManager"] == {"policy": "best-effort", "scope": "pod"}
    assert config["serviceAccount"] == "nodes@p.iam.gserviceaccount.com"
    assert config["imageType"] == "UBUNTU_CONTAINERD"
    assert config["confidentialNodes"] == {"enabled": True, "confidentialInstanceType": 3}
    assert config["gcfsConfig"] == {"enabled": True}
    assert config["resourceManagerTags"] == {"tags": {"tagKeys/1": "tagValues/2"}}
    assert config["gvnic"] == {"enabled": True}
    assert config["loggingConfig"] == {"variantConfig": {"variant": 2}}  # MAX_THROUGHPUT
    assert config["sandboxConfig"] == {"type": 1}  # GVISOR
    assert config["workloadMetadataConfig"] == {"mode": 2}  # GKE_METADATA
    assert config["taintConfig"] == {"architectureTaintBehavior": 1}  # NONE
    assert config["tags"] == ["gpu-nodes"]
    assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True}
    assert config["maxRunDuration"] == "86400s"
    assert stored["networkConfig"] == {
        "acceleratorNetworkProfile": "auto",
        "enablePrivateNodes": True,
        "subnetwork": "subnet-a",
        "podRange": "pods-a",
    }
    assert stored["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert stored["version"] == "1.33.5-gke.1000000"
    assert stored["nodeDrainConfig"] == {
        "pdbTimeoutDuration": "5400s",
        "graceTerminationDuration": "90s",
        "respectPdbDuringNodePoolDeletion": True,
    }
    assert stored["maintenancePolicy"] == {"exclusionUntilEndOfSupport": {}}
    assert stored["placementPolicy"]["policyName"] == "compact-a3"


async def test_the_cluster_location_comes_from_clusters_get(provider: GKEProvider) -> None:
    assert isinstance(provider, ClusterLocator)
    location = await provider.cluster_location()
    assert location.region == "us-central1"
    assert location.zones == ("us-central1-a", "us-central1-b", "us-central1-c")
    assert "GKE cluster" in location.source


@pytest.mark.parametrize(
    ("location", "locations", "region", "zones"),
    [
        (
            "us-central1",
            ["us-central1-a", "us-central1-f"],
            "us-central1",
            ("us-central1-a", "us-central1-f"),
        ),
        ("europe-west4-b", ["europe-west4-b"], "europe-west4", ("europe-west4-b",)),
        ("europe-west4-b", [], "europe-west4", ("europe-west4-b",)),
        ("asia-northeast1", [], "asia-northeast1", ()),
    ],
)
def test_a_regional_or_zonal_cluster_lives_in_one_region(
    location: str, locations: list[str], region: str, zones: tuple[str, ...]
) -> None:
    got = cluster_location_of(location, locations)
    assert (got.region, got.zones) == (region, zones)


async def test_a_zonal_emulated_cluster_reports_its_region() -> None:
    state = GKEEmulatorState(location="us-east5-a", zones=("us-east5-a", "us-east5-b"))
    with running_emulator(state) as emulator:
        p = provider_for(emulator)
        try:
            got = await p.cluster_location()
        finally:
            p.close()
    assert (got.region, got.zones) == ("us-east5", ("us-east5-a", "us-east5-b"))
