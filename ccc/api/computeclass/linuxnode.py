"""Linux settings of each node (``nodeSystemConfig.linuxNodeConfig``): sysctls, huge pages,
swap, time, ``/etc`` additions, I/O schedulers and kernel overrides.

The shapes, names and ranges are GKE's (the ``cloud.google.com/v1`` CRD,
reference/gke-computeclass.md §2.2): sysctls are a fixed set of names, each with its type and
range, so a typo or an out-of-range value is refused here rather than when GKE creates the node
pool. ccc passes these settings through to the node pools it creates and does not interpret them.
"""

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, create_model

from ccc.api.computeclass._base import ApiModel, CrossFieldRule, register_rules

# name -> (type, minimum, maximum); strings: (str, pattern, max length); booleans: (bool,).
_INT = int
_SYSCTLS: dict[str, tuple[Any, ...]] = {
    "fs.aio-max-nr": (_INT, 65536, 4194304),
    "fs.file-max": (_INT, 104857, 67108864),
    "fs.inotify.max_user_instances": (_INT, 8192, 1048576),
    "fs.inotify.max_user_watches": (_INT, 8192, 1048576),
    "fs.nr_open": (_INT, 1048576, 2147483584),
    "kernel.core_pattern": (str, r"^/[a-zA-Z0-9/._%-]+$", 128),
    "kernel.dmesg_restrict": (bool,),
    "kernel.keys.maxbytes": (_INT, 20000, 2097152),
    "kernel.keys.maxkeys": (_INT, 200, 1048576),
    "kernel.kptr_restrict": (_INT, 0, 2),
    "kernel.perf_event_paranoid": (_INT, -1, 3),
    "kernel.sched_rt_runtime_us": (_INT, -1, 1000000),
    "kernel.shmall": (str, r"^([0-9]+)$", 20),
    "kernel.shmmax": (str, r"^([0-9]+)$", 20),
    "kernel.shmmni": (_INT, 4096, 32768),
    "kernel.softlockup_panic": (bool,),
    "kernel.sysrq": (_INT, 0, 511),
    "kernel.yama.ptrace_scope": (_INT, 0, 3),
    "net.core.busy_poll": (_INT, 0, 2147483647),
    "net.core.busy_read": (_INT, 0, 2147483647),
    "net.core.netdev_max_backlog": (_INT, 1, 2147483647),
    "net.core.optmem_max": (_INT, 1, 2147483647),
    "net.core.rmem_default": (_INT, 2304, 2147483647),
    "net.core.rmem_max": (_INT, 2304, 2147483647),
    "net.core.somaxconn": (_INT, 128, 2147483647),
    "net.core.wmem_default": (_INT, 4608, 2147483647),
    "net.core.wmem_max": (_INT, 4608, 2147483647),
    "net.ipv4.neigh.default.gc_thresh1": (_INT, 0, 262144),
    "net.ipv4.neigh.default.gc_thresh2": (_INT, 512, 524288),
    "net.ipv4.neigh.default.gc_thresh3": (_INT, 1024, 1048576),
    "net.ipv4.tcp_congestion_control": (str, r"^[a-zA-Z0-9_]+$", 10),
    "net.ipv4.tcp_ecn": (_INT, 0, 2),
    "net.ipv4.tcp_max_orphans": (_INT, 16384, 262144),
    "net.ipv4.tcp_max_tw_buckets": (_INT, 4096, 2147483647),
    "net.ipv4.tcp_mtu_probing": (_INT, 0, 2),
    "net.ipv4.tcp_rmem": (str, None, None),
    "net.ipv4.tcp_syn_retries": (_INT, 1, 127),
    "net.ipv4.tcp_tw_reuse": (_INT, 0, 2),
    "net.ipv4.tcp_wmem": (str, None, None),
    "net.ipv6.conf.all.disable_ipv6": (bool,),
    "net.ipv6.conf.default.disable_ipv6": (bool,),
    "net.ipv6.conf.default.forwarding": (bool,),
    "net.netfilter.nf_conntrack_acct": (bool,),
    "net.netfilter.nf_conntrack_buckets": (_INT, 65536, 524288),
    "net.netfilter.nf_conntrack_max": (_INT, 65536, 4194304),
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait": (_INT, 60, 3600),
    "net.netfilter.nf_conntrack_tcp_timeout_established": (_INT, 600, 86400),
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait": (_INT, 1, 600),
    "vm.dirty_background_bytes": (_INT, 0, 68719476736),
    "vm.dirty_background_ratio": (_INT, 1, 100),
    "vm.dirty_bytes": (_INT, 0, 68719476736),
    "vm.dirty_expire_centisecs": (_INT, 0, 6000),
    "vm.dirty_ratio": (_INT, 1, 100),
    "vm.dirty_writeback_centisecs": (_INT, 0, 1000),
    "vm.max_map_count": (_INT, 65536, 2147483647),
    "vm.min_free_kbytes": (_INT, 67584, 1048576),
    "vm.overcommit_memory": (Literal[0, 1, 2],),
    "vm.overcommit_ratio": (_INT, 0, 100),
    "vm.swappiness": (_INT, 0, 200),
    "vm.vfs_cache_pressure": (_INT, 0, 100),
    "vm.watermark_scale_factor": (_INT, 10, 3000),
}
MAX_ETC_ENTRIES = 256
"""ccc's bound on /etc additions (GKE sets none; the CRD's CEL cost estimate needs one)."""
SYSCTL_NAMES: tuple[str, ...] = tuple(_SYSCTLS)
"""The kernel parameters GKE lets a class set."""


def _sysctl_field(name: str, spec: tuple[Any, ...]) -> tuple[Any, Any]:
    kind = spec[0]
    if kind is _INT:
        _, low, high = spec
        field = Field(None, alias=name, ge=low, le=high, description=f"{name} ({low}..{high}).")
        return int | None, field
    if kind is str:
        _, pattern, max_length = spec
        field = Field(
            None, alias=name, pattern=pattern, max_length=max_length, description=f"{name}."
        )
        return str | None, field
    return kind | None, Field(None, alias=name, description=f"{name}.")


Sysctls: type[ApiModel] = create_model(  # type: ignore[call-overload]
    "Sysctls",
    __base__=ApiModel,
    __doc__="Kernel parameters of each node, by name (only the names GKE supports).",
    **{
        name.replace(".", "_").replace("-", "_"): _sysctl_field(name, spec)
        for name, spec in _SYSCTLS.items()
    },
)


class HugepageConfig(ApiModel):
    """Huge pages reserved on each node."""

    hugepage_size1g: int | None = Field(
        None, ge=1, alias="hugepage_size1g", description="Number of 1 GiB huge pages."
    )
    hugepage_size2m: int | None = Field(
        None, ge=1, alias="hugepage_size2m", description="Number of 2 MiB huge pages."
    )


class SwapSize(ApiModel):
    """Size of swap on a disk, in GiB or as a percentage of the disk (one of them)."""

    swap_size_gib: int | None = Field(None, ge=1, description="Swap size in GiB.")
    swap_size_percent: int | None = Field(
        None, ge=1, le=50, description="Swap size as a percentage of the disk (1..50)."
    )


class EphemeralSwapSize(ApiModel):
    """Size of swap on the ephemeral local SSD, in GiB or as a percentage (one of them)."""

    swap_size_gib: int | None = Field(None, ge=1, description="Swap size in GiB.")
    swap_size_percent: int | None = Field(
        None, ge=1, le=80, description="Swap size as a percentage of the local SSD (1..80)."
    )


def _one_swap_size(profile: str) -> CrossFieldRule[Any]:
    return CrossFieldRule(
        id=f"{profile}-swap-size-one-of",
        cel="(has(self.swapSizeGib) ? 1 : 0) + (has(self.swapSizePercent) ? 1 : 0) <= 1",
        message=f"{profile} swap: set either swapSizeGib or swapSizePercent, not both",
        check=lambda s: s.swap_size_gib is None or s.swap_size_percent is None,
    )


register_rules(SwapSize, [_one_swap_size("boot-disk")])
register_rules(EphemeralSwapSize, [_one_swap_size("ephemeral-local-ssd")])


class DedicatedLocalSsdSwap(ApiModel):
    """Local NVMe SSDs attached only for swap."""

    disk_count: int | None = Field(None, ge=1, description="Number of local SSDs for swap.")


class SwapEncryption(ApiModel):
    """Encryption of the swap space (on unless disabled)."""

    disabled: bool | None = Field(None, description="true: do not encrypt swap.")


class SwapConfig(ApiModel):
    """Swap memory of each node: on the boot disk, the ephemeral local SSD, or dedicated SSDs."""

    enabled: bool | None = Field(None, description="Enable swap (default false).")
    encryption_config: SwapEncryption | None = Field(
        None, description="Swap encryption (on by default)."
    )
    boot_disk_profile: SwapSize | None = Field(None, description="Swap on the boot disk.")
    ephemeral_local_ssd_profile: EphemeralSwapSize | None = Field(
        None, description="Swap on the local SSD shared with ephemeral storage."
    )
    dedicated_local_ssd_profile: DedicatedLocalSsdSwap | None = Field(
        None, description="Swap on local SSDs of its own."
    )


register_rules(
    SwapConfig,
    [
        CrossFieldRule(
            id="swap-one-profile",
            cel=(
                "(has(self.bootDiskProfile) ? 1 : 0) + (has(self.ephemeralLocalSsdProfile) ? 1 :"
                " 0) + (has(self.dedicatedLocalSsdProfile) ? 1 : 0) <= 1"
            ),
            message=(
                "set only one of bootDiskProfile, ephemeralLocalSsdProfile or"
                " dedicatedLocalSsdProfile"
            ),
            check=lambda s: (
                sum(
                    p is not None
                    for p in (
                        s.boot_disk_profile,
                        s.ephemeral_local_ssd_profile,
                        s.dedicated_local_ssd_profile,
                    )
                )
                <= 1
            ),
        )
    ],
)


class AccurateTimeConfig(ApiModel):
    """Clock synchronisation of each node."""

    enable_ptp_kvm_time_sync: bool | None = Field(None, description="Use PTP-KVM time sync.")


class EtcHostsEntry(ApiModel):
    """A line added to ``/etc/hosts``."""

    ip: str = Field(min_length=1, description="IP address.")
    host: str = Field(min_length=1, description="Host name.")


class ResolverEntry(ApiModel):
    """A setting added to a resolver configuration file."""

    key: str = Field(min_length=1, description="Setting name.")
    value: list[str] | None = Field(None, max_length=256, description="Values of the setting.")


class InitScript(ApiModel):
    """A script run when each node starts."""

    gcs_uri: str | None = Field(None, max_length=1024, description="gs:// URI of the script.")
    gcs_generation: int | None = Field(None, description="Object generation of the script.")
    gcp_secret_manager_secret_uri: str | None = Field(
        None, max_length=256, description="Secret Manager secret holding the script."
    )
    args: list[Annotated[str, StringConstraints(min_length=1, max_length=512)]] | None = Field(
        None, max_length=50, description="Arguments of the script."
    )


class CustomNodeInit(ApiModel):
    """Custom initialisation of each node."""

    init_script: InitScript | None = Field(None, description="Script run at node start.")


IoScheduler = Literal["mq-deadline", "bfq", "kyber", "none"]


class DiskIoScheduler(ApiModel):
    """Linux I/O schedulers of the node's disks."""

    node_system_io_scheduler: IoScheduler | None = Field(
        None, description="Scheduler of the boot disk."
    )
    node_attached_disk_io_scheduler: IoScheduler | None = Field(
        None, description="Scheduler of attached disks."
    )


class KernelCommandlineOverrides(ApiModel):
    """Kernel command-line switches."""

    init_on_alloc: Literal["INIT_ON_ALLOC_UNSPECIFIED", "INIT_ON_ALLOC_OFF"] | None = Field(
        None, description="init_on_alloc setting."
    )
    spec_rstack_overflow: (
        Literal["SPEC_RSTACK_OVERFLOW_UNSPECIFIED", "SPEC_RSTACK_OVERFLOW_OFF"] | None
    ) = Field(None, description="spec_rstack_overflow mitigation setting.")


class LruGen(ApiModel):
    """Multi-generational LRU settings."""

    enabled: bool | None = Field(None, description="Enable MGLRU.")
    min_ttl_ms: int | None = Field(None, description="Minimum working-set TTL in ms.")


class KernelOverrides(ApiModel):
    """Kernel settings beyond sysctls."""

    kernel_commandline_overrides: KernelCommandlineOverrides | None = Field(
        None, description="Kernel command-line switches."
    )
    lru_gen: LruGen | None = Field(None, description="Multi-generational LRU.")


class NodeVfioConfig(ApiModel):
    """VFIO settings of each node."""

    dma_entry_limit: int | None = Field(
        None, ge=65535, le=4194304, description="VFIO DMA entry limit (65535..4194304)."
    )


class LinuxNodeConfig(ApiModel):
    """Linux kernel settings of each node."""

    sysctls: Sysctls | None = Field(
        None, description="Kernel parameters by name, e.g. net.core.somaxconn: 4096."
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
    swap_config: SwapConfig | None = Field(None, description="Swap memory.")
    accurate_time_config: AccurateTimeConfig | None = Field(
        None, description="Clock synchronisation."
    )
    additional_etc_hosts: list[EtcHostsEntry] | None = Field(
        None, max_length=MAX_ETC_ENTRIES, description="Lines added to /etc/hosts."
    )
    additional_etc_resolv_conf: list[ResolverEntry] | None = Field(
        None, max_length=MAX_ETC_ENTRIES, description="Settings added to /etc/resolv.conf."
    )
    additional_etc_systemd_resolved_conf: list[ResolverEntry] | None = Field(
        None,
        max_length=MAX_ETC_ENTRIES,
        description="Settings added to systemd-resolved's configuration.",
    )
    custom_node_init: CustomNodeInit | None = Field(None, description="Custom node init script.")
    disk_io_scheduler: DiskIoScheduler | None = Field(None, description="I/O schedulers.")
    kernel_overrides: KernelOverrides | None = Field(None, description="Kernel overrides.")
    node_vfio_config: NodeVfioConfig | None = Field(None, description="VFIO settings.")
    time_zone: str | None = Field(
        None, max_length=256, description="Time zone of the node, e.g. Europe/Paris."
    )


def sets_sysctl(config: LinuxNodeConfig | None, name: str) -> bool:
    """Whether ``config`` sets the sysctl ``name``."""
    if config is None or config.sysctls is None:
        return False
    return name in config.sysctls.model_dump(by_alias=True, exclude_none=True)
