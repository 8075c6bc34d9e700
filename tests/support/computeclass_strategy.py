"""A hypothesis strategy of ComputeClass documents aimed at the edges of GKE's validation.

Each generated class mixes fields with values on both sides of GKE's limits (ranges, enums,
formats) and combinations that GKE's cross-field rules forbid (Autopilot with nodepools, TDX
with the wrong GPU, flex-start with Spot, ...), so that comparing two validators on them finds
the places where they disagree. Values come from small pools rather than random text: random
strings would almost always fail the same trivial check on both sides.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Doc = dict[str, Any]


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Doc]:
    """A mapping holding any subset of ``fields``."""
    return st.fixed_dictionaries({}, optional=fields)


def _some(
    most: int,
    *,
    least: int = 0,
    weights: dict[str, int] | None = None,
    **fields: st.SearchStrategy[Any],
) -> st.SearchStrategy[Doc]:
    """A mapping holding ``least``..``most`` of ``fields`` (heavier ``weights`` are picked more
    often): few fields per object, so a combination rule is not hidden behind an unrelated
    error in the same object."""
    names = [name for name in sorted(fields) for _ in range((weights or {}).get(name, 1))]
    return st.lists(st.sampled_from(names), min_size=least, max_size=most, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({name: fields[name] for name in chosen})
    )


def _pick(valid: list[Any], edge: list[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``valid`` values, sometimes one just past a limit (``edge``)."""
    return st.sampled_from(valid * 8 + edge)


_FAMILIES = st.sampled_from(["n4", "c3", "c4", "a3", "a4", "a4x", "g4", "n2d", "ek"])
_MACHINE_TYPES = st.sampled_from(
    [
        "n4-standard-8",
        "a3-highgpu-8g",
        "a3-highgpu-1g",
        "a4-highgpu-8g",
        "c3-standard-8",
        "c4-standard-8",
        "g4-standard-48",
        "g4-standard-96",
        "n2d-standard-4",
        "ek-standard-8",
        "e4a-standard-4",
    ]
)
_ZONES = st.lists(st.sampled_from(["us-central1-a", "us-central1-b", "europe-west4-a"]), max_size=2)
_ZONE_TYPES = st.lists(st.sampled_from(["STANDARD", "AI", "CLUSTER_DEFAULT", "MOON"]), max_size=3)
_LOCATION = _optional(
    zones=_ZONES,
    locationPolicy=_pick(["ANY", "BALANCED"], ["RANDOM"]),
    zoneTypes=_ZONE_TYPES,
)
_GPU = _some(
    3,
    type=st.sampled_from(
        ["nvidia-l4", "nvidia-h100-80gb", "nvidia-b200", "nvidia-gb200", "nvidia-rtx-pro-6000"]
    ),
    count=_pick([0, 1, 8], [-1]),
    driverVersion=_pick(["default", "latest", "autoinstall-disabled"], ["newest"]),
    topology=st.just("1x72"),
    gpuSharing=_optional(
        sharingStrategy=_pick(["MPS", "TIME_SHARING"], ["MIG"]),
        maxSharedClientsPerGPU=_pick([0, 2], [-1]),
        gpuPartitionSize=st.just("1g.10gb"),
    ),
)
_TPU = _optional(
    type=st.sampled_from(["tpu-v5-lite-podslice", "tpu-v6e-slice"]),
    count=_pick([4, 8], [-1]),
    topology=st.sampled_from(["2x4", "2x2x4"]),
)
_RESERVATIONS = st.fixed_dictionaries(
    {"affinity": _pick(["Specific", "AnyBestEffort", "None", "AnyThenFail"], ["Some"])},
    optional={
        "specific": st.lists(
            st.fixed_dictionaries(
                {"name": st.just("res-1")},
                optional={
                    "project": st.just("shared-project"),
                    "zones": _ZONES,
                    "reservationBlock": st.fixed_dictionaries({"name": st.just("block-1")}),
                },
            ),
            max_size=2,
        )
    },
)
_KUBELET = _some(
    3,
    shutdownGracePeriodSeconds=_pick([0, 30, 120], [31]),
    shutdownGracePeriodCriticalPodsSeconds=_pick([0, 30], [121]),
    imageGcHighThresholdPercent=st.sampled_from([70, 81, 85, 86]),
    imageGcLowThresholdPercent=st.sampled_from([9, 10, 84, 85]),
    containerLogMonitorInterval=_pick(["10s", "300s"], ["1s", "301s", "1m"]),
    containerLogMaxWorkers=_pick([1, 10], [0, 11]),
    cpuManagerPolicy=_pick(["none", "static"], ["dynamic"]),
    podPidsLimit=_pick([1024, 4194304], [1023, 4194305]),
    evictionSoft=_optional(
        memoryAvailable=_pick(["500Mi", "1.5Gi"], ["10%"]),
        nodefsAvailable=_pick(["10%"], ["500Mi"]),
    ),
)
_SYSCTLS = _optional(
    **{
        "net.core.somaxconn": _pick([128, 4096], [127]),
        "vm.overcommit_memory": _pick([0, 1], [3]),
        "net.ipv4.tcp_congestion_control": _pick(["bbr"], ["bad!", "verylongname"]),
        "kernel.shmmax": _pick(["1024"], ["1k"]),
        "kernel.dmesg_restrict": st.booleans(),
        "vm.swapiness": st.just(10),  # a typo: unknown field
    }
)
_SWAP = _optional(
    enabled=st.booleans(),
    bootDiskProfile=_optional(swapSizeGib=_pick([1, 8], [0]), swapSizePercent=_pick([1, 50], [51])),
    ephemeralLocalSsdProfile=_optional(swapSizePercent=_pick([1, 80], [81])),
    dedicatedLocalSsdProfile=_optional(diskCount=_pick([1], [0])),
)
_NODE_SYSTEM = _optional(
    kubeletConfig=_KUBELET,
    linuxNodeConfig=_optional(
        sysctls=_SYSCTLS,
        swapConfig=_SWAP,
        timeZone=st.just("Europe/Paris"),
        hugepageConfig=_optional(hugepage_size2m=_pick([1024], [0])),
    ),
)
_METADATA = st.dictionaries(
    st.sampled_from(["team", "cost_center", "bad key", "startup-script", "kube-env"]),
    st.sampled_from(["x", "y" * 40]),
    max_size=2,
)
_TAINTS = st.lists(
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(["example.com/team", "dedicated", "bad key"]),
            "effect": _pick(["NoSchedule", "NoExecute"], ["Sometimes"]),
        },
        optional={"value": st.sampled_from(["a", "ab", "abc", "A-b"])},
    ),
    max_size=2,
)
_STORAGE = _some(
    3,
    bootDiskSize=_pick([10, 200], [9]),
    bootDiskType=_pick(["pd-balanced", "hyperdisk-balanced"], ["pd-extreme"]),
    localSSDCount=_pick([1], [0]),
    bootDiskProvisionedIops=_pick([3000], [1999]),
    bootDiskProvisionedThroughput=_pick([140], [2401]),
    bootDiskKMSKey=st.sampled_from(
        [
            "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            "keys/k",
            "x/projects/p/locations/l/keyRings/r/cryptoKeys/k",
        ]
    ),
)
_ANY_RULE = _some(
    4,
    machineFamily=_FAMILIES,
    machineType=_MACHINE_TYPES,
    minCores=_pick([0, 8], [-1]),
    minMemoryGb=_pick([0, 32], [-1]),
    spot=st.booleans(),
    gpu=_GPU,
    tpu=_TPU,
    reservations=_RESERVATIONS,
    flexStart=_optional(
        enabled=st.booleans(),
        nodeRecycling=st.fixed_dictionaries({"leadTimeSeconds": _pick([1, 604800], [0, 604801])}),
    ),
    maxRunDurationSeconds=_pick([3600], [0]),
    capacityCheckWaitTimeSeconds=_pick([1, 600, 86400], [0, 86401]),
    maxPodsPerNode=_pick([8, 110, 256], [7, 257]),
    location=_LOCATION,
    placement=st.fixed_dictionaries({"policyName": _pick(["compact-1"], [""])}),
    storage=_STORAGE,
    nodepools=st.lists(st.sampled_from(["pool-a", "pool-b"]), max_size=2),
    nodeSystemConfig=_NODE_SYSTEM,
    podFamily=_pick(["general-purpose", "general-purpose-arm"], ["compute"]),
    priorityScore=_pick([1, 5, 1000], [0, 1001]),
    acceleratorNetworkProfile=_pick(["auto", "auto-x", "net-1"], ["Manual", "1abc"]),
    gpuDirect=_pick(["rdma"], ["tcpx"]),
    minimumCapacity=_optional(targetNodeCount=st.sampled_from([0, 2])),
    instanceMetadata=_METADATA,
    taints=_TAINTS,
    allocationStrategy=_pick(["lowest-cost", "fleet-efficiency"], ["cheapest"]),
    enableNestedVirtualization=st.booleans(),
    minCpuPlatform=_pick(["Intel Sapphire Rapids", "AMD Genoa"], ["Intel 486"]),
)
_SHAPES = st.one_of(
    st.fixed_dictionaries({"machineType": _MACHINE_TYPES}),
    st.fixed_dictionaries({"machineFamily": _FAMILIES}),
    st.fixed_dictionaries({"gpu": _GPU}),
    st.fixed_dictionaries({"tpu": _TPU}),
    st.fixed_dictionaries({"machineFamily": _FAMILIES, "minCores": _pick([8], [-1])}),
)
_KNOBS = _some(
    3,
    least=2,
    weights={"spot": 3, "flexStart": 3, "capacityCheckWaitTimeSeconds": 2, "reservations": 2},
    spot=_pick([True], [False]),
    flexStart=st.fixed_dictionaries(
        {"enabled": _pick([True], [False])},
        optional={"nodeRecycling": st.fixed_dictionaries({"leadTimeSeconds": st.just(3600)})},
    ),
    capacityCheckWaitTimeSeconds=_pick([600], [0]),
    reservations=_RESERVATIONS,
    location=_LOCATION,
    minimumCapacity=_optional(targetNodeCount=_pick([2], [-1])),
    gpuDirect=_pick(["rdma"], ["tcpx"]),
    acceleratorNetworkProfile=_pick(["auto"], ["Manual"]),
    priorityScore=_pick([1, 5], [0]),
    nodeSystemConfig=_NODE_SYSTEM,
    placement=st.fixed_dictionaries({"policyName": st.just("compact-1")}),
    nodepools=st.just(["pool-a"]),
    podFamily=st.just("general-purpose"),
)
_RULE = st.one_of(
    _ANY_RULE,
    st.builds(lambda shape, knobs: {**shape, **knobs}, _SHAPES, _KNOBS),
    st.builds(
        lambda pools, more: {"nodepools": pools, **more},
        st.lists(st.sampled_from(["pool-a", "pool-b"]), max_size=2),
        _some(
            1,
            priorityScore=_pick([3], [0]),
            allocationStrategy=st.just("lowest-cost"),
            spot=st.just(True),
        ),
    ),
    st.builds(
        lambda more: {"podFamily": "general-purpose", **more},
        _some(1, spot=st.booleans(), machineFamily=_FAMILIES, priorityScore=st.just(2)),
    ),
)
_NODE_POOL_CONFIG = _some(
    3,
    imageType=st.sampled_from(["cos_containerd", "ubuntu_containerd", "custom_containerd"]),
    customImageConfig=_optional(imageName=st.just("img"), imageProjectId=st.just("images")),
    confidentialNodeType=st.sampled_from(["SEV", "SEV_SNP", "TDX"]),
    workloadType=st.sampled_from(["HIGH_AVAILABILITY", "HIGH_THROUGHPUT"]),
    loggingConfig=_optional(
        loggingVariantConfig=_optional(variant=_pick(["DEFAULT", "MAX_THROUGHPUT"], ["FAST"]))
    ),
    instanceMetadata=_METADATA,
    nodeDrainConfig=_optional(
        pdbTimeoutDuration=_pick(["0s", "3600s"], ["604801s", "1h"]),
        graceTerminationDuration=_pick(["60s"], ["86401s"]),
    ),
    gvnic=_optional(enabled=st.booleans()),
)
_SPEC_FIELDS = _some(
    2,
    autopilot=_optional(enabled=st.booleans()),
    nodePoolAutoCreation=_optional(enabled=st.booleans()),
    whenUnsatisfiable=_pick(["ScaleUpAnyway", "DoNotScaleUp"], ["Wait"]),
    nodePoolConfig=_NODE_POOL_CONFIG,
    nodePoolGroup=st.fixed_dictionaries({"name": _pick(["group-1"], [""])}),
    priorityDefaults=_optional(location=_LOCATION, nodeSystemConfig=_NODE_SYSTEM),
    minimumCapacity=_optional(targetNodeCount=st.sampled_from([0, 3])),
    autoscalingPolicy=_optional(
        consolidationDelayMinutes=_pick([1, 1440], [0, 1441]),
        consolidationThreshold=_pick([0, 100], [101]),
    ),
    activeMigration=_optional(optimizeRulePriority=st.booleans()),
)


_SPEC = st.builds(
    lambda rules, fields: {"priorities": rules, **fields},
    st.lists(_RULE, min_size=1, max_size=3),
    _SPEC_FIELDS,
)


def compute_classes(api_version: str = "cloud.google.com/v1") -> st.SearchStrategy[Doc]:
    """ComputeClass documents (valid or not) with a fixed, valid name."""
    return st.builds(
        lambda spec: {
            "apiVersion": api_version,
            "kind": "ComputeClass",
            "metadata": {"name": "generated"},
            "spec": spec,
        },
        _SPEC,
    )
