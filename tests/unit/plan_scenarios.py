"""The scenarios of the golden plans (test_plan_golden.py): each a class spec, pending pods, the
cluster's location, existing pools, reservations and blocked offerings, chosen to cover the
walk's semantics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ccc.api import labels as L
from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, NodePool, ReservationCapacity
from ccc.api.workload import PodRequest, Toleration, pod_request_from_spec
from policies.class_admission import AdmissionSettings
from policies.class_admission import tolerations as admitted_tolerations
from policies.naming import node_pool_name
from tests.builders import make_pool

CENTRAL = ClusterLocation(
    region="us-central1", zones=("us-central1-a", "us-central1-b", "us-central1-c")
)
EAST5 = ClusterLocation(region="us-east5", zones=("us-east5-a", "us-east5-b"))
A, B, C = "us-central1-a", "us-central1-b", "us-central1-c"


@dataclass
class Scenario:
    spec: dict[str, Any]
    pods: Sequence[PodRequest]
    cluster: ClusterLocation = CENTRAL
    pools: Sequence[NodePool] = ()
    reservations: Sequence[ReservationCapacity] | None = None
    blocked: Sequence[tuple[str, str, CapacityType, str]] = ()
    name: str = "c"
    extra: dict[str, Any] = field(default_factory=dict)


def _pods(
    count: int,
    *,
    gpus: int = 0,
    tpus: int = 0,
    cpu_m: int = 2000,
    gib: int = 8,
    key: str = L.CLASS_LABEL,
    name: str = "w",
    tolerations: tuple[Toleration, ...] = (),
    selector: dict[str, str] | None = None,
    group_size: int = 1,
) -> PodRequest:
    return PodRequest(
        name=name,
        count=count,
        cpu_m=cpu_m,
        memory_bytes=gib * 2**30,
        gpus=gpus,
        tpus=tpus,
        node_selector={key: "c", **(selector or {})},
        # as ccc's admission webhook admits them: the class toleration is added
        tolerations=(*ADMITTED, *tolerations),
        group_size=group_size,
    )


# as ccc's admission webhook admits a pod of class c (ccc's taint and GKE's)
ADMITTED = tuple(Toleration(**t) for t in admitted_tolerations("c", AdmissionSettings()))


KITCHEN_SINK_POOL_CONFIG = {
    "serviceAccount": "nodes@p.iam.gserviceaccount.com",
    "imageType": "cos_containerd",
    "nodeLabels": {"team": "ml"},
    "taints": [{"key": "example.com/dedicated", "value": "mlops", "effect": "NoSchedule"}],
    "autoRepair": True,
    "instanceMetadata": {"env": "prod", "owner": "platform"},
    "networkTags": ["gpu"],
}

SCENARIOS: dict[str, Scenario] = {
    # A reservation, flex-start, Spot and on-demand ladder with labels, taints and pass-through
    # settings; the reservation has room for 2 of 3 nodes, flex-start in zone b is backed off.
    "gpu-ladder": Scenario(
        spec={
            "nodePoolAutoCreation": {
                "enabled": True,
                "shieldedInstanceConfig": {"enableSecureBoot": True},
            },
            "nodePoolConfig": KITCHEN_SINK_POOL_CONFIG,
            "networkConfig": {"subnetPriorities": [{"name": "subnet-a", "podRange": "pods-a"}]},
            "priorityDefaults": {
                "nodeSystemConfig": {"kubeletConfig": {"cpuManagerPolicy": "static"}}
            },
            "priorities": [
                {
                    "machineType": "a3-highgpu-8g",
                    "gpu": {"type": "nvidia-h100-80gb", "count": 8, "driverVersion": "latest"},
                    "reservations": {
                        "affinity": "Specific",
                        "specific": [
                            {
                                "name": "h100-res",
                                "project": "shared",
                                "zones": [A],
                                "reservationBlock": {
                                    "name": "blk",
                                    "reservationSubBlock": {"name": "sub"},
                                },
                            }
                        ],
                    },
                    "instanceMetadata": {"owner": "ml-team"},
                },
                {
                    "machineType": "a3-highgpu-8g",
                    "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 3600}},
                    "capacityCheckWaitTimeSeconds": 300,
                    "location": {"zones": [A, B]},
                },
                {
                    "machineType": "a3-highgpu-8g",
                    "spot": True,
                    "maxRunDurationSeconds": 86400,
                    "location": {"zones": [A, B, C]},
                    "nodeLabels": {"tier": "spot"},
                    "taints": [{"key": "example.com/spot", "value": "yes", "effect": "NoSchedule"}],
                    "placement": {"policyName": "compact"},
                    "storage": {"bootDiskSize": 200, "bootDiskType": "pd-ssd", "localSSDCount": 2},
                    "minCpuPlatform": "Intel Sapphire Rapids",
                    "maxPodsPerNode": 32,
                },
                {"machineType": "a3-highgpu-8g", "spot": False},
            ],
        },
        pods=[
            _pods(3, gpus=8, cpu_m=48_000, gib=600, tolerations=(Toleration(operator="Exists"),))
        ],
        reservations=[
            ReservationCapacity(
                name="h100-res",
                project="shared",
                zone=A,
                machine_type="a3-highgpu-8g",
                count=4,
                in_use=2,
            )
        ],
        blocked=[("a3-highgpu-8g", B, CapacityType.FLEX_START, "GCE_STOCKOUT")],
    ),
    # GPU sharing, MIG, maxPodsPerNode and BALANCED; a 4-GPU group fits only a machine of one zone.
    "l4-sharing-balanced": Scenario(
        spec={
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {
                    "machineFamily": "g2",
                    "gpu": {
                        "type": "nvidia-l4",
                        "count": 1,
                        "gpuSharing": {
                            "sharingStrategy": "TIME_SHARING",
                            "maxSharedClientsPerGPU": 4,
                        },
                    },
                    "maxPodsPerNode": 16,
                    "spot": True,
                },
                {
                    "machineFamily": "g2",
                    "location": {"zones": [A, B, C], "locationPolicy": "BALANCED"},
                },
                {
                    "machineType": "a2-highgpu-2g",
                    "gpu": {
                        "type": "nvidia-tesla-a100",
                        "count": 2,
                        "gpuSharing": {"gpuPartitionSize": "1g.5gb"},
                    },
                },
            ],
        },
        pods=[
            _pods(10, gpus=1, cpu_m=500, gib=2, name="small"),
            _pods(2, gpus=4, cpu_m=8000, gib=32, name="big"),
        ],
    ),
    # Multi-host slices (one pool per slice; an existing slice pool's name is skipped), flex-start
    # limits, topology zones and a reservation-only TPU rule.
    "tpu-slices": Scenario(
        spec={
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {
                    "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "4x4"},
                    "flexStart": {"enabled": True},
                },
                {
                    "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "4x4"},
                    "spot": True,
                    "location": {"zones": ["us-east5-a", "us-east5-b"]},
                },
                {
                    "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"},
                    "flexStart": {"enabled": True},
                    "location": {"zones": ["us-east5-a", "us-east5-b"]},
                },
                {
                    "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"},
                    "reservations": {"affinity": "AnyThenFail"},
                },
            ],
        },
        pods=[_pods(8, tpus=4, cpu_m=4000, gib=64, group_size=4)],
        cluster=EAST5,
        pools=[
            make_pool(
                node_pool_name(
                    "c", 1, "ct6e-standard-4t", "us-east5-b", CapacityType.SPOT, slice_index=0
                ),
                machine_type="ct6e-standard-4t",
                zone="us-east5-b",
                nodes=4,
                capacity_type=CapacityType.SPOT,
                class_name="c",
                managed=True,
                key=L.CLASS_LABEL,
                labels={L.GKE_TPU_TOPOLOGY_LABEL: "4x4"},
            )
        ],
        reservations=[],
    ),
    # No nodePoolAutoCreation: nodepools rules, manual pools labelled for the class (with and
    # without the taint), ccc's own existing pool, and an AnyBestEffort rule.
    "no-auto-creation": Scenario(
        spec={
            "priorities": [
                {"nodepools": ["gone", "manual-a"]},
                {"machineType": "a3-highgpu-8g", "spot": True, "location": {"zones": [A, B]}},
                {"machineType": "g2-standard-8", "reservations": {"affinity": "AnyBestEffort"}},
                {"machineType": "g2-standard-4", "spot": True},
            ]
        },
        pods=[_pods(2, gpus=1, cpu_m=1000, gib=4, key=L.GKE_CLASS_LABEL)],
        pools=[
            make_pool("manual-a", machine_type="g2-standard-4", zone=A, nodes=1, class_name="c"),
            make_pool(
                "manual-h100", zone=B, nodes=2, capacity_type=CapacityType.SPOT, class_name="c"
            ),
            make_pool(
                "half", zone=A, capacity_type=CapacityType.SPOT, class_name="c", tainted=False
            ),
            make_pool(
                node_pool_name("c", 2, "g2-standard-8", C, CapacityType.ON_DEMAND),
                machine_type="g2-standard-8",
                zone=C,
                nodes=1,
                class_name="c",
                managed=True,
                key=L.CLASS_LABEL,
                labels={L.GKE_CLASS_LABEL: "c"},
            ),
        ],
        reservations=[
            ReservationCapacity(
                name="open",
                zone=C,
                machine_type="g2-standard-8",
                count=3,
                in_use=2,
                specific_only=False,
            )
        ],
    ),
    # Rules outside the region or unusable, fields not acted on, ScaleUpAnyway, and pods whose
    # selector or affinity rule out offerings.
    "problems-and-warnings": Scenario(
        spec={
            "nodePoolAutoCreation": {"enabled": True},
            "whenUnsatisfiable": "ScaleUpAnyway",
            "activeMigration": {"optimizeRulePriority": True},
            "nodePoolConfig": {"dra": {"networking": {"enabled": True}}},
            "priorities": [
                {
                    "machineType": "a3-highgpu-8g",
                    "location": {"zones": ["us-east4-a", "us-east4-b"]},
                },
                {
                    "machineType": "g2-standard-8",
                    "location": {"zones": [A, "us-east4-a", "antarctica1-a"], "zoneTypes": ["AI"]},
                },
                {"machineType": "n4-standard-8"},
                {"machineType": "a3-highgpu-8g", "gpu": {"type": "nvidia-l4", "count": 1}},
                {"tpu": {"type": "tpu-v6e-slice", "count": 3, "topology": "9x9"}},
                {"minCores": 8},
                {
                    "gpu": {"type": "nvidia-l4", "count": 1},
                    "spot": True,
                    "location": {"zones": [A, B]},
                },
                {
                    "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"},
                    "machineType": "ct6e-standard-1t",
                },
                {"machineFamily": "g2", "minCores": 500, "minMemoryGb": 9000},
                {"gpu": {"type": "nvidia-b200", "count": 8}},
                {"machineType": "ct6e-standard-1t"},
            ],
        },
        pods=[
            _pods(1, cpu_m=1000, gib=2, name="cpu", selector={L.ZONE_LABEL: B}),
            pod_request_from_spec(
                {
                    "nodeSelector": {L.CLASS_LABEL: "c"},
                    "containers": [{"resources": {"limits": {L.GPU_RESOURCE: 1}}}],
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {"key": L.GKE_SPOT_LABEL, "operator": "DoesNotExist"}
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                },
                name="gpu",
            ),
            _pods(1, gpus=16, name="huge"),
            _pods(1, gpus=1, gib=500, name="memory-hungry"),
            _pods(1, gpus=1, name="picky", selector={"example.com/team": "ml"}),
        ],
    ),
    # The first choice is Spot: its pool spec carries the Spot labels and the rule's settings;
    # the pods select the Spot label, so the on-demand rule is skipped for them.
    "spot-first": Scenario(
        spec={
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {
                    "machineType": "g2-standard-8",
                    "spot": True,
                    "gpu": {
                        "type": "nvidia-l4",
                        "count": 1,
                        "driverVersion": "autoinstall-disabled",
                        "gpuSharing": {"sharingStrategy": "MPS", "maxSharedClientsPerGPU": 2},
                    },
                    "nodeLabels": {"tier": "spot"},
                    "taints": [{"key": "example.com/spot", "value": "yes", "effect": "NoSchedule"}],
                    "placement": {"policyName": "compact"},
                    "storage": {"bootDiskSize": 200, "bootDiskType": "pd-ssd", "localSSDCount": 2},
                    "maxRunDurationSeconds": 86400,
                    "maxPodsPerNode": 32,
                    "minCpuPlatform": "Intel Sapphire Rapids",
                    "reservations": {"affinity": "None"},
                    "acceleratorNetworkProfile": "auto",
                    "gpuDirect": "rdma",
                    "performanceMonitoringUnit": "STANDARD",
                    "enableNestedVirtualization": False,
                },
                {"machineType": "g2-standard-8"},
            ],
            "priorityDefaults": {"enableNestedVirtualization": True},
        },
        pods=[
            _pods(
                3,
                gpus=1,
                cpu_m=1000,
                gib=4,
                selector={L.GKE_SPOT_LABEL: "true"},
                tolerations=(Toleration(key="example.com/spot", operator="Exists"),),
            )
        ],
    ),
    # The first choice is flex-start: 7 days of max run duration unless the rule says otherwise,
    # the flex-start label, and the TPU topology label of a single-host slice.
    "flex-start-first": Scenario(
        spec={
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {
                    "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"},
                    "flexStart": {"enabled": True},
                    "capacityCheckWaitTimeSeconds": 600,
                }
            ],
        },
        pods=[_pods(1, tpus=4, cpu_m=1000, gib=4, selector={L.GKE_FLEX_START_LABEL: "true"})],
        cluster=EAST5,
    ),
    # nodePoolAutoCreation disabled explicitly, with a gpu rule tried in the cluster's zones.
    "auto-creation-disabled": Scenario(
        spec={
            "nodePoolAutoCreation": {"enabled": False},
            "priorities": [{"gpu": {"type": "nvidia-l4", "count": 1}}],
        },
        pods=[_pods(1, gpus=1, cpu_m=1000, gib=4)],
    ),
    # Only nodepools rules and no nodePoolAutoCreation: nothing to create, so no warning; a pool
    # whose machine type the catalog lacks cannot be sized.
    "nodepools-only": Scenario(
        spec={"priorities": [{"nodepools": ["odd", "fine"]}], "whenUnsatisfiable": "DoNotScaleUp"},
        pods=[_pods(3, gpus=1, cpu_m=1000, gib=4, key=L.GKE_CLASS_LABEL)],
        pools=[
            make_pool("odd", machine_type="n4-standard-8", zone=A, class_name="c"),
            make_pool("fine", machine_type="g2-standard-8", zone=B, nodes=0, class_name="c"),
        ],
    ),
    # priorityScore tiers: equal scores are walked cheapest unit first (unknown prices last).
    "priority-score": Scenario(
        spec={
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {"machineType": "a3-highgpu-8g", "priorityScore": 10},
                {"gpu": {"type": "nvidia-l4", "count": 1}, "priorityScore": 50},
                {"machineFamily": "g2", "spot": True, "priorityScore": 50},
                {"machineType": "a2-highgpu-2g", "spot": True, "priorityScore": 50},
                {
                    "machineType": "a3-highgpu-8g",
                    "priorityScore": 10,
                    "reservations": {"affinity": "AnyThenFail"},
                },
            ],
        },
        pods=[_pods(1, gpus=1, cpu_m=1000, gib=4)],
        reservations=[],
    ),
    # Reservations by listing: a Specific one without zones (found in the region, and one listed
    # only elsewhere), and AnyBestEffort spread BALANCED over zones with partial cover.
    "reservation-listing": Scenario(
        spec={
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {
                    "machineType": "g2-standard-8",
                    "reservations": {"affinity": "Specific", "specific": [{"name": "ghost"}]},
                },
                {
                    "machineType": "g2-standard-8",
                    "reservations": {"affinity": "Specific", "specific": [{"name": "far"}]},
                },
                {
                    "machineType": "g2-standard-8",
                    "reservations": {"affinity": "Specific", "specific": [{"name": "near"}]},
                },
                {
                    "machineType": "g2-standard-8",
                    "reservations": {"affinity": "AnyBestEffort"},
                    "location": {"zones": [A, B], "locationPolicy": "BALANCED"},
                },
            ],
        },
        pods=[_pods(4, gpus=1, cpu_m=1000, gib=4)],
        reservations=[
            ReservationCapacity(
                name="far", zone="us-east4-a", machine_type="g2-standard-8", count=9, in_use=0
            ),
            ReservationCapacity(
                name="near", zone=B, machine_type="g2-standard-8", count=3, in_use=0
            ),
            ReservationCapacity(
                name="open",
                zone=B,
                machine_type="g2-standard-8",
                count=1,
                in_use=0,
                specific_only=False,
            ),
        ],
    ),
}
