"""Node system configuration (kernel and kubelet settings) of a rule or of ``priorityDefaults``.

ccc passes these settings through to the node pools it creates; it checks their shapes and
ranges here but does not interpret them.
"""

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, create_model

from ccc.api.computeclass._base import ApiModel, CrossFieldRule, ListType, register_rules
from ccc.api.computeclass.linuxnode import HugepageConfig, LinuxNodeConfig

__all__ = ["HugepageConfig", "KubeletConfig", "LinuxNodeConfig", "NodeSystemConfig"]

DURATION = r"^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$"
PERCENT = r"^[0-9]+(\.[0-9]+)?%$"
UnsafeSysctl = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]$",
    ),
]


def seconds_range_rule(
    rule_id: str, field: str, *, most: int, message: str, least: int = 0
) -> CrossFieldRule[Any]:
    """The rule that the ``NNs`` duration ``field`` (camelCase) lies in ``[least, most]``
    seconds, as GKE's CEL ``duration(...)`` comparisons check it."""
    attr = "".join("_" + c.lower() if c.isupper() else c for c in field)
    bounds = f"duration(self.{field}) <= duration('{most}s')"
    if least:
        bounds = f"duration(self.{field}) >= duration('{least}s') && {bounds}"
    return CrossFieldRule(
        id=rule_id,
        cel=f"!has(self.{field}) || ({bounds})",
        message=message,
        check=lambda m: seconds_within(getattr(m, attr), least, most),
        field_path=f".{field}",
    )


def seconds_within(value: str | None, low: float, high: float) -> bool:
    """Whether a ``NNs`` duration lies in ``[low, high]`` seconds; unset or malformed values
    pass (the field's own format check reports those)."""
    if value is None or not re.fullmatch(r"[0-9]+(\.[0-9]{1,9})?s", value):
        return True
    try:
        seconds = Decimal(value[:-1])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return True
    return Decimal(low) <= seconds <= Decimal(high)


_QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi)$"
SECONDS = r"^[0-9]+(\.[0-9]{1,9})?s$"
"""A Kubernetes ``metav1.Duration`` in seconds only, as GKE writes them (``600s``)."""


def _eviction_model(name: str, doc: str, patterns: dict[str, str]) -> type[ApiModel]:
    """One per-signal eviction settings model; ``patterns`` maps each signal to its format."""
    fields: dict[str, Any] = {
        attr: (
            str | None,
            Field(None, max_length=32, pattern=pattern, description=f"{signal} value."),
        )
        for attr, (signal, pattern) in {
            "memory_available": ("memory.available", patterns["memory"]),
            "nodefs_available": ("nodefs.available", patterns["other"]),
            "imagefs_available": ("imagefs.available", patterns["other"]),
            "imagefs_inodes_free": ("imagefs.inodesFree", patterns["other"]),
            "nodefs_inodes_free": ("nodefs.inodesFree", patterns["other"]),
            "pid_available": ("pid.available", patterns["other"]),
        }.items()
    }
    model: type[ApiModel] = create_model(name, __base__=ApiModel, __doc__=doc, **fields)
    return model


EvictionSoft = _eviction_model(
    "EvictionSoft",
    "Kubelet soft eviction thresholds: memory as a quantity (500Mi), the others as percentages.",
    {"memory": _QUANTITY, "other": PERCENT},
)
EvictionSoftGracePeriod = _eviction_model(
    "EvictionSoftGracePeriod",
    "How long each soft eviction threshold must hold before pods are evicted (durations).",
    {"memory": DURATION, "other": DURATION},
)
EvictionMinimumReclaim = _eviction_model(
    "EvictionMinimumReclaim",
    "Minimum amount the kubelet reclaims per eviction signal (percentages).",
    {"memory": PERCENT, "other": PERCENT},
)


class CrashLoopBackOff(ApiModel):
    """Kubelet crash-loop back-off settings."""

    max_container_restart_period: str | None = Field(
        None, pattern=DURATION, description="Longest back-off between container restarts."
    )


class ReservedResourcesConfig(ApiModel):
    """Resources reserved for the system on each node."""

    cpu_reserved_millicore: int | None = Field(None, description="Reserved CPU in millicores.")
    memory_reserved_mib: int | None = Field(None, description="Reserved memory in MiB.")


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
    allowed_unsafe_sysctls: list[UnsafeSysctl] | None = Field(
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
    eviction_soft: EvictionSoft | None = Field(  # type: ignore[valid-type]
        None, description="Soft eviction thresholds."
    )
    eviction_soft_grace_period: EvictionSoftGracePeriod | None = Field(  # type: ignore[valid-type]
        None, description="Grace periods of the soft eviction thresholds."
    )
    eviction_minimum_reclaim: EvictionMinimumReclaim | None = Field(  # type: ignore[valid-type]
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
    container_log_max_workers: int | None = Field(
        None, ge=1, le=10, description="Workers that rotate container logs (1..10)."
    )
    container_log_monitor_interval: str | None = Field(
        None,
        max_length=32,
        pattern=SECONDS,
        description="How often container logs are checked for rotation, 3s..300s (e.g. 10s).",
    )
    crash_loop_back_off: CrashLoopBackOff | None = Field(
        None, description="Crash-loop back-off settings."
    )
    reserved_resources_config: ReservedResourcesConfig | None = Field(
        None, description="Resources reserved for the system."
    )


register_rules(
    KubeletConfig,
    [
        CrossFieldRule(
            id="image-gc-high-above-default-low",
            cel=(
                "!has(self.imageGcHighThresholdPercent) || has(self.imageGcLowThresholdPercent)"
                " || self.imageGcHighThresholdPercent > 80"
            ),
            message=(
                "imageGcHighThresholdPercent must be above 80, the default of"
                " imageGcLowThresholdPercent; raise it or set imageGcLowThresholdPercent too"
            ),
            check=lambda k: (
                k.image_gc_high_threshold_percent is None
                or k.image_gc_low_threshold_percent is not None
                or k.image_gc_high_threshold_percent > 80
            ),
            field_path=".imageGcHighThresholdPercent",
        ),
        seconds_range_rule(
            "container-log-monitor-interval-range",
            "containerLogMonitorInterval",
            least=3,
            most=300,
            message="containerLogMonitorInterval must be between 3s and 300s; set e.g. 10s",
        ),
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
