"""Pure mapping of a pool's pass-through :class:`~ccc.api.node_settings.NodeSettings` onto
``container_v1``: every ComputeClass field the node pool API can take.

``NodeConfig``: ``minCpuPlatform``, ``storage`` (KMS key, secondary boot disks, storage pools,
provisioned IOPS/throughput through ``boot_disk``, local SSD encryption), ``nodeSystemConfig``
(``linux_node_config``, ``kubelet_config``), ``instanceMetadata`` (``metadata``),
``enableNestedVirtualization`` and ``performanceMonitoringUnit``
(``advanced_machine_features``), ``gpuDirect`` (``gpu_direct_config``),
``nodePoolAutoCreation.shieldedInstanceConfig`` and ``nodePoolConfig``'s ``serviceAccount``,
``imageType`` (+ ``customImageConfig``), ``confidentialNodeType``, ``imageStreaming``
(``gcfs_config``), ``resourceManagerTags``, ``gvnic``, ``loggingConfig``, ``sandbox`` (gVisor),
``workloadMetadata``, ``taintConfig`` and ``networkTags`` (``tags``).

``NodePool``: ``acceleratorNetworkProfile``, ``ipType`` (``enable_private_nodes``) and
``networkConfig.subnetPriorities[0]`` (``network_config``), ``autoRepair``/``autoUpgrade``
(``management``), ``nodeVersion`` (``version``), ``nodeDrainConfig`` and
``maintenanceExclusion`` (``maintenance_policy``).

Fields the API has no place for (DRA networking, TPU driver mode, microVM sandboxes, ...) are
reported to users by ``policies.unacted`` instead.
"""

from __future__ import annotations

import re
from typing import Any

from google.cloud import container_v1
from google.protobuf import duration_pb2

from ccc.api.computeclass import KubeletConfig, LinuxNodeConfig, NodePoolConfig, Storage
from ccc.api.node_settings import NodeSettings

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_EVICTION_FIELDS = (
    "memory_available",
    "nodefs_available",
    "nodefs_inodes_free",
    "imagefs_available",
    "imagefs_inodes_free",
    "pid_available",
)
#: CEL-validated kubelet fields copied one to one (same snake_case name in container_v1).
_KUBELET_SCALARS = (
    "cpu_cfs_quota",
    "cpu_cfs_quota_period",
    "cpu_manager_policy",
    "pod_pids_limit",
    "image_gc_low_threshold_percent",
    "image_gc_high_threshold_percent",
    "image_minimum_gc_age",
    "image_maximum_gc_age",
    "container_log_max_size",
    "container_log_max_files",
    "max_parallel_image_pulls",
    "single_process_oom_kill",
    "eviction_max_pod_grace_period_seconds",
    "shutdown_grace_period_seconds",
    "shutdown_grace_period_critical_pods_seconds",
)


def _enum(enum: Any, name: str) -> Any:
    """``enum[name]`` for a proto-plus enum (untyped in the SDK's stubs)."""
    return enum[name]


def go_duration(text: str) -> duration_pb2.Duration:
    """``1h30m`` / ``90s`` / ``1.5h`` (Go duration syntax, as in the CRD) as a Duration."""
    total = sum(float(n) * _UNIT_S[u] for n, u in _GO_DURATION.findall(text))
    seconds = int(total)
    return duration_pb2.Duration(seconds=seconds, nanos=round((total - seconds) * 1e9))


def _secondary_disk_image(name: str, project: str | None) -> str:
    # gcloud --secondary-boot-disk=disk-image=global/images/NAME (own project) or
    # projects/PROJECT/global/images/NAME (another project's image).
    return f"projects/{project}/global/images/{name}" if project else f"global/images/{name}"


def _storage(config: container_v1.NodeConfig, storage: Storage) -> None:
    if storage.boot_disk_kms_key:
        config.boot_disk_kms_key = storage.boot_disk_kms_key
    for disk in storage.secondary_boot_disks or []:
        secondary = container_v1.SecondaryBootDisk(
            disk_image=_secondary_disk_image(disk.disk_image_name, disk.project)
        )
        if disk.mode:
            secondary.mode = _enum(container_v1.SecondaryBootDisk.Mode, disk.mode)
        config.secondary_boot_disks.append(secondary)
    if storage.boot_disk_storage_pools:
        config.storage_pools = list(storage.boot_disk_storage_pools)
    if storage.boot_disk_provisioned_iops or storage.boot_disk_provisioned_throughput:
        boot = container_v1.BootDisk(
            disk_type=storage.boot_disk_type or "hyperdisk-balanced",
            size_gb=storage.boot_disk_size or 0,
            provisioned_iops=storage.boot_disk_provisioned_iops or 0,
            provisioned_throughput=storage.boot_disk_provisioned_throughput or 0,
        )
        config.boot_disk = boot
        # boot_disk replaces the legacy fields; GKE refuses both at once.
        config.disk_type = ""
        config.disk_size_gb = 0
    if storage.local_ssd_encryption_mode:
        config.local_ssd_encryption_mode = _enum(
            container_v1.NodeConfig.LocalSsdEncryptionMode, storage.local_ssd_encryption_mode
        )


def _linux(linux: LinuxNodeConfig) -> container_v1.LinuxNodeConfig:
    out = container_v1.LinuxNodeConfig()
    sysctls = linux.sysctls.model_dump(by_alias=True, exclude_none=True) if linux.sysctls else {}
    for key, value in sysctls.items():
        out.sysctls[key] = str(value).lower() if isinstance(value, bool) else str(value)
    if linux.hugepage_config is not None:
        hp = linux.hugepage_config
        out.hugepages = container_v1.LinuxNodeConfig.HugepagesConfig()
        if hp.hugepage_size2m is not None:
            out.hugepages.hugepage_size2m = hp.hugepage_size2m
        if hp.hugepage_size1g is not None:
            out.hugepages.hugepage_size1g = hp.hugepage_size1g
    if linux.transparent_hugepage_enabled:
        out.transparent_hugepage_enabled = _enum(
            container_v1.LinuxNodeConfig.TransparentHugepageEnabled,
            linux.transparent_hugepage_enabled,
        )
    if linux.transparent_hugepage_defrag:
        out.transparent_hugepage_defrag = _enum(
            container_v1.LinuxNodeConfig.TransparentHugepageDefrag,
            linux.transparent_hugepage_defrag,
        )
    return out


def _kubelet(kubelet: KubeletConfig) -> container_v1.NodeKubeletConfig:
    out = container_v1.NodeKubeletConfig()
    for name in _KUBELET_SCALARS:
        value = getattr(kubelet, name)
        if value is not None:
            setattr(out, name, value)
    if kubelet.allowed_unsafe_sysctls:
        out.allowed_unsafe_sysctls = list(kubelet.allowed_unsafe_sysctls)
    for name, message in (
        ("eviction_soft", container_v1.EvictionSignals),
        ("eviction_soft_grace_period", container_v1.EvictionGracePeriod),
        ("eviction_minimum_reclaim", container_v1.EvictionMinimumReclaim),
    ):
        thresholds = getattr(kubelet, name)
        if thresholds is not None:
            values = {f: getattr(thresholds, f) for f in _EVICTION_FIELDS}
            setattr(out, name, message(**{k: v for k, v in values.items() if v is not None}))
    if kubelet.topology_manager is not None:
        tm = kubelet.topology_manager
        out.topology_manager = container_v1.TopologyManager(
            policy=tm.policy or "", scope=tm.scope or ""
        )
    if kubelet.memory_manager is not None and kubelet.memory_manager.policy:
        out.memory_manager = container_v1.MemoryManager(policy=kubelet.memory_manager.policy)
    return out


def _pool_config(
    pool: container_v1.NodePool, config: container_v1.NodeConfig, npc: NodePoolConfig
) -> None:
    if npc.service_account:
        config.service_account = npc.service_account
    if npc.image_type:
        config.image_type = npc.image_type.upper()
    if npc.custom_image_config is not None:
        config.node_image_config = container_v1.CustomImageConfig(
            image=npc.custom_image_config.image_name,
            image_project=npc.custom_image_config.image_project_id or "",
        )
    kind = npc.confidential_node_type
    if kind and kind != "CONFIDENTIAL_INSTANCE_TYPE_UNSPECIFIED":
        config.confidential_nodes = container_v1.ConfidentialNodes(
            enabled=True,
            confidential_instance_type=_enum(
                container_v1.ConfidentialNodes.ConfidentialInstanceType, kind
            ),
        )
    if npc.image_streaming is not None:
        config.gcfs_config = container_v1.GcfsConfig(enabled=npc.image_streaming.enabled)
    if npc.resource_manager_tags:
        config.resource_manager_tags = container_v1.ResourceManagerTags(
            tags={t.key: t.value for t in npc.resource_manager_tags}
        )
    if npc.gvnic is not None:
        config.gvnic = container_v1.VirtualNIC(enabled=npc.gvnic.enabled)
    variant = (
        npc.logging_config.logging_variant_config.variant
        if npc.logging_config is not None and npc.logging_config.logging_variant_config
        else None
    )
    if variant:
        config.logging_config = container_v1.NodePoolLoggingConfig(
            variant_config=container_v1.LoggingVariantConfig(
                variant=_enum(container_v1.LoggingVariantConfig.Variant, variant)
            )
        )
    if npc.sandbox is not None and npc.sandbox.type == "gvisor":
        config.sandbox_config = container_v1.SandboxConfig(
            type_=container_v1.SandboxConfig.Type.GVISOR
        )
    if npc.workload_metadata:
        config.workload_metadata_config = container_v1.WorkloadMetadataConfig(
            mode=_enum(container_v1.WorkloadMetadataConfig.Mode, npc.workload_metadata)
        )
    behaviour = npc.taint_config.architecture_taint_behavior if npc.taint_config else None
    if behaviour:
        config.taint_config = container_v1.TaintConfig(
            architecture_taint_behavior=_enum(
                container_v1.TaintConfig.ArchitectureTaintBehavior, behaviour
            )
        )
    if npc.network_tags:
        config.tags = list(npc.network_tags)
    if npc.auto_repair is not None or npc.auto_upgrade is not None:
        current = pool.management if "management" in pool else container_v1.NodeManagement()
        if npc.auto_repair is not None:
            current.auto_repair = npc.auto_repair
        if npc.auto_upgrade is not None:
            current.auto_upgrade = npc.auto_upgrade
        pool.management = current
    if npc.node_version:
        pool.version = npc.node_version
    drain = npc.node_drain_config
    if drain is not None:
        dc = container_v1.NodePool.NodeDrainConfig()
        if drain.pdb_timeout_duration:
            dc.pdb_timeout_duration = go_duration(drain.pdb_timeout_duration)
        if drain.grace_termination_duration:
            dc.grace_termination_duration = go_duration(drain.grace_termination_duration)
        if drain.respect_pdb_during_node_pool_deletion is not None:
            dc.respect_pdb_during_node_pool_deletion = drain.respect_pdb_during_node_pool_deletion
        pool.node_drain_config = dc
    if npc.maintenance_exclusion == "UNTIL_END_OF_SUPPORT":
        pool.maintenance_policy = container_v1.NodePool.NodePoolMaintenancePolicy(
            exclusion_until_end_of_support=container_v1.NodePool.ExclusionUntilEndOfSupport()
        )


def apply_settings(pool: container_v1.NodePool, settings: NodeSettings) -> None:
    """Set every pass-through field of ``settings`` on ``pool`` (pure; mutates ``pool``)."""
    config = pool.config
    if settings.min_cpu_platform:
        config.min_cpu_platform = settings.min_cpu_platform
    if settings.storage is not None:
        _storage(config, settings.storage)
    nsc = settings.node_system_config
    if nsc is not None and nsc.linux_node_config is not None:
        config.linux_node_config = _linux(nsc.linux_node_config)
    if nsc is not None and nsc.kubelet_config is not None:
        config.kubelet_config = _kubelet(nsc.kubelet_config)
    if settings.instance_metadata:
        config.metadata = dict(settings.instance_metadata)
    amf: dict[str, Any] = {}
    if settings.enable_nested_virtualization is not None:
        amf["enable_nested_virtualization"] = settings.enable_nested_virtualization
    if settings.performance_monitoring_unit:
        amf["performance_monitoring_unit"] = _enum(
            container_v1.AdvancedMachineFeatures.PerformanceMonitoringUnit,
            settings.performance_monitoring_unit,
        )
    if amf:
        config.advanced_machine_features = container_v1.AdvancedMachineFeatures(**amf)
    if settings.gpu_direct == "rdma":
        config.gpu_direct_config = container_v1.GPUDirectConfig(
            gpu_direct_strategy=container_v1.GPUDirectConfig.GPUDirectStrategy.RDMA
        )
    sic = settings.shielded_instance_config
    if sic is not None:
        config.shielded_instance_config = container_v1.ShieldedInstanceConfig(
            enable_secure_boot=bool(sic.enable_secure_boot),
            enable_integrity_monitoring=bool(sic.enable_integrity_monitoring),
        )
    network = container_v1.NodeNetworkConfig()
    touched = False
    if settings.accelerator_network_profile:
        network.accelerator_network_profile = settings.accelerator_network_profile
        touched = True
    if settings.subnetwork:
        network.subnetwork = settings.subnetwork
        touched = True
    if settings.pod_range:
        network.pod_range = settings.pod_range
        touched = True
    npc = settings.node_pool_config
    if npc is not None and npc.ip_type:
        network.enable_private_nodes = npc.ip_type == "private"
        touched = True
    if touched:
        pool.network_config = network
    if npc is not None:
        _pool_config(pool, config, npc)
