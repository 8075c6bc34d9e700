"""Node system configuration (kernel and kubelet settings) of a rule or of ``priorityDefaults``.

ccc passes these settings through to the node pools it creates; it checks their shapes and
ranges here but does not interpret them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ccc.api.computeclass._base import ApiModel, CrossFieldRule, ListType, register_rules

DURATION = r"^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$"
PERCENT = r"^[0-9]+(\.[0-9]+)?%$"


class HugepageConfig(ApiModel):
    """Huge pages reserved on each node."""

    hugepage_size1g: int | None = Field(
        None, ge=1, alias="hugepage_size1g", description="Number of 1 GiB huge pages."
    )
    hugepage_size2m: int | None = Field(
        None, ge=1, alias="hugepage_size2m", description="Number of 2 MiB huge pages."
    )


class LinuxNodeConfig(ApiModel):
    """Linux kernel settings of each node."""

    sysctls: dict[str, int | str | bool] | None = Field(
        None,
        max_length=64,
        description=(
            "Kernel parameters by name, e.g. net.core.somaxconn: 4096. GKE checks names and"
            " ranges; ccc passes them through."
        ),
    )
    hugepage_config: HugepageConfig | None = Field(None, description="Huge pages to reserve.")
    transparent_hugepage_enabled: (
        Literal[
            "TRANSPARENT_HUGEPAGE_ENABLED_ALWAYS",
            "TRANSPARENT_HUGEPAGE_ENABLED_MADVISE",
            "TRANSPARENT_HUGEPAGE_ENABLED_NEVER",
            "TRANSPARENT_HUGEPAGE_ENABLED_UNSPECIFIED",
        ]
        | None
    ) = Field(None, description="Transparent huge page support for anonymous memory.")
    transparent_hugepage_defrag: (
        Literal[
            "TRANSPARENT_HUGEPAGE_DEFRAG_ALWAYS",
            "TRANSPARENT_HUGEPAGE_DEFRAG_DEFER",
            "TRANSPARENT_HUGEPAGE_DEFRAG_DEFER_WITH_MADVISE",
            "TRANSPARENT_HUGEPAGE_DEFRAG_MADVISE",
            "TRANSPARENT_HUGEPAGE_DEFRAG_NEVER",
            "TRANSPARENT_HUGEPAGE_DEFRAG_UNSPECIFIED",
        ]
        | None
    ) = Field(None, description="Transparent huge page defragmentation policy.")


class EvictionThresholds(ApiModel):
    """Per-signal kubelet soft eviction values (thresholds, grace periods or minimum reclaim)."""

    memory_available: str | None = Field(None, max_length=32, description="memory.available value.")
    nodefs_available: str | None = Field(None, max_length=32, description="nodefs.available value.")
    imagefs_available: str | None = Field(
        None, max_length=32, description="imagefs.available value."
    )
    imagefs_inodes_free: str | None = Field(
        None, max_length=32, description="imagefs.inodesFree value."
    )
    nodefs_inodes_free: str | None = Field(
        None, max_length=32, description="nodefs.inodesFree value."
    )
    pid_available: str | None = Field(None, max_length=32, description="pid.available value.")


class TopologyManager(ApiModel):
    """Kubelet Topology Manager settings."""

    policy: Literal["none", "best-effort", "restricted", "single-numa-node"] | None = Field(
        None, description="NUMA alignment policy."
    )
    scope: Literal["container", "pod"] | None = Field(None, description="Alignment scope.")


class MemoryManager(ApiModel):
    """Kubelet Memory Manager settings."""

    policy: Literal["None", "Static"] | None = Field(None, description="Memory Manager policy.")


class KubeletConfig(ApiModel):
    """Kubelet settings of each node."""

    cpu_cfs_quota: bool | None = Field(None, description="Enforce pod CPU limits (CFS quota).")
    cpu_cfs_quota_period: str | None = Field(
        None, max_length=16, pattern=r"^([1-9][0-9]*)m?s$", description="CFS quota period, 1ms..1s."
    )
    cpu_manager_policy: Literal["none", "static"] | None = Field(
        None, description="CPU Manager policy: none or static (exclusive CPUs)."
    )
    pod_pids_limit: int | None = Field(
        None, ge=1024, le=4194304, description="Maximum process ids per pod."
    )
    image_gc_low_threshold_percent: int | None = Field(
        None, ge=10, le=84, description="Disk usage percent image GC frees down to (default 80)."
    )
    image_gc_high_threshold_percent: int | None = Field(
        None, ge=11, le=85, description="Disk usage percent that triggers image GC (default 85)."
    )
    image_minimum_gc_age: str | None = Field(
        None,
        max_length=32,
        pattern=DURATION,
        description="Minimum age of an unused image before GC.",
    )
    image_maximum_gc_age: str | None = Field(
        None, max_length=32, pattern=DURATION, description="Maximum age of an unused image."
    )
    container_log_max_size: str | None = Field(
        None,
        max_length=16,
        pattern=r"^([0-9]+([.][0-9]+)?(Ki|Mi|Gi))+$",
        description="Container log size before rotation, 10Mi..500Mi.",
    )
    container_log_max_files: int | None = Field(
        None, ge=2, le=10, description="Rotated log files kept per container."
    )
    allowed_unsafe_sysctls: list[str] | None = Field(
        None,
        max_length=100,
        json_schema_extra=ListType.ATOMIC,
        description="Unsafe sysctls (or patterns ending in *) that pods may set.",
    )
    max_parallel_image_pulls: int | None = Field(
        None, ge=2, le=5, description="Image pulls in parallel."
    )
    single_process_oom_kill: bool | None = Field(
        None, alias="singleProcessOOMKill", description="OOM-kill processes individually."
    )
    eviction_soft: EvictionThresholds | None = Field(None, description="Soft eviction thresholds.")
    eviction_soft_grace_period: EvictionThresholds | None = Field(
        None, description="Grace periods of the soft eviction thresholds."
    )
    eviction_minimum_reclaim: EvictionThresholds | None = Field(
        None, description="Minimum reclaim per eviction signal."
    )
    eviction_max_pod_grace_period_seconds: int | None = Field(
        None, ge=0, le=300, description="Longest pod grace period on soft eviction."
    )
    topology_manager: TopologyManager | None = Field(None, description="Topology Manager.")
    memory_manager: MemoryManager | None = Field(None, description="Memory Manager.")
    shutdown_grace_period_seconds: Literal[0, 30, 120] | None = Field(
        None,
        description=(
            "Graceful node shutdown period on Spot preemption: 0, 30 or 120 seconds. Only for"
            " Spot rules."
        ),
    )
    shutdown_grace_period_critical_pods_seconds: int | None = Field(
        None,
        ge=0,
        le=120,
        description="Part of the shutdown period reserved for critical pods; at most the former.",
    )


register_rules(
    KubeletConfig,
    [
        CrossFieldRule(
            id="image-gc-low-below-high",
            cel=(
                "!has(self.imageGcHighThresholdPercent) || !has(self.imageGcLowThresholdPercent)"
                " || self.imageGcHighThresholdPercent > self.imageGcLowThresholdPercent"
            ),
            message=(
                "imageGcLowThresholdPercent must be lower than imageGcHighThresholdPercent;"
                " set a lower low threshold or a higher high one"
            ),
            check=lambda k: (
                k.image_gc_high_threshold_percent is None
                or k.image_gc_low_threshold_percent is None
                or k.image_gc_high_threshold_percent > k.image_gc_low_threshold_percent
            ),
            field_path=".imageGcLowThresholdPercent",
        ),
        CrossFieldRule(
            id="critical-shutdown-within-shutdown",
            cel=(
                "!has(self.shutdownGracePeriodCriticalPodsSeconds) ||"
                " (has(self.shutdownGracePeriodSeconds) &&"
                " self.shutdownGracePeriodCriticalPodsSeconds <= self.shutdownGracePeriodSeconds)"
            ),
            message=(
                "shutdownGracePeriodCriticalPodsSeconds must not exceed"
                " shutdownGracePeriodSeconds; set shutdownGracePeriodSeconds (0, 30 or 120) too"
            ),
            check=lambda k: (
                k.shutdown_grace_period_critical_pods_seconds is None
                or (
                    k.shutdown_grace_period_seconds is not None
                    and k.shutdown_grace_period_critical_pods_seconds
                    <= k.shutdown_grace_period_seconds
                )
            ),
            field_path=".shutdownGracePeriodCriticalPodsSeconds",
        ),
    ],
)


class NodeSystemConfig(ApiModel):
    """Kernel and kubelet settings of each node."""

    linux_node_config: LinuxNodeConfig | None = Field(None, description="Linux kernel settings.")
    kubelet_config: KubeletConfig | None = Field(None, description="Kubelet settings.")


def sets_shutdown_grace(config: NodeSystemConfig | None) -> bool:
    """Whether ``config`` sets ``kubeletConfig.shutdownGracePeriodSeconds``."""
    return (
        config is not None
        and config.kubelet_config is not None
        and config.kubelet_config.shutdown_grace_period_seconds is not None
    )
