"""Hardware sub-objects of a priority rule: GPUs, TPUs, reservations, storage and placement."""

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ccc.api.computeclass._base import ApiModel, CrossFieldRule, ListType, register_rules

GCE_NAME = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
"""RFC 1035 label, the shape of GCE resource names (reservations, policies, pools)."""


class GpuSharing(ApiModel):
    """How pods share one GPU (MPS or time-sharing) and, for MIG, the partition size."""

    sharing_strategy: Literal["MPS", "TIME_SHARING"] | None = Field(
        None, description="GPU sharing strategy: MPS or TIME_SHARING."
    )
    max_shared_clients_per_gpu: int | None = Field(
        None,
        ge=0,
        alias="maxSharedClientsPerGPU",
        description="Maximum number of containers that can share one physical GPU.",
    )
    gpu_partition_size: str | None = Field(
        None,
        max_length=32,
        description='Multi-instance GPU partition size, e.g. "1g.5gb" (A100/H100 only).',
    )


class GpuSpec(ApiModel):
    """GPUs attached to each node of the rule."""

    type: str | None = Field(
        None,
        max_length=63,
        description="Accelerator type, e.g. nvidia-l4, nvidia-h100-80gb, nvidia-h200-141gb.",
    )
    count: int | None = Field(None, ge=0, description="GPUs per node.")
    driver_version: Literal["default", "latest", "autoinstall-disabled"] | None = Field(
        None,
        description=(
            "NVIDIA driver GKE installs: default, latest, or autoinstall-disabled (you install it)."
            " Unset means default."
        ),
    )
    topology: str | None = Field(
        None,
        max_length=32,
        description=(
            "Physical arrangement of GPUs in a slice; only for machine family a4x or gpu type"
            " nvidia-gb200, and needs placement.policyName."
        ),
    )
    gpu_sharing: GpuSharing | None = Field(None, description="GPU sharing settings.")


class TpuSpec(ApiModel):
    """TPU chips of each node (single-host) or slice (multi-host) of the rule."""

    type: str | None = Field(
        None,
        max_length=63,
        description="TPU type, e.g. tpu-v5-lite-podslice, tpu-v5p-slice, tpu-v6e-slice.",
    )
    count: int | None = Field(None, ge=0, description="TPU chips per node, e.g. 4 or 8.")
    topology: str | None = Field(
        None,
        max_length=32,
        pattern=r"^[0-9]+x[0-9]+(x[0-9]+)?$",
        description='TPU slice topology, e.g. "2x4" (single host) or "2x2x4" (multi-host).',
    )


class ReservationSubBlock(ApiModel):
    """A sub-block of a reservation block."""

    name: str = Field(min_length=1, max_length=63, description="Name of the sub-block.")


class ReservationBlock(ApiModel):
    """A block of a reservation (dense deployments of A3 Ultra, A4, TPU)."""

    name: str = Field(min_length=1, max_length=63, description="Name of the block.")
    reservation_sub_block: ReservationSubBlock | None = Field(
        None, description="Sub-block of the block to consume."
    )


class SpecificReservation(ApiModel):
    """One reservation the rule may consume."""

    name: str = Field(min_length=1, max_length=63, description="Name of the reservation.")
    project: str | None = Field(
        None,
        max_length=63,
        description="Project that owns a shared reservation; unset means the cluster's project.",
    )
    reservation_block: ReservationBlock | None = Field(
        None, description="Consume only this block of the reservation."
    )
    zones: list[str] | None = Field(
        None,
        min_length=1,
        max_length=20,
        json_schema_extra=ListType.ATOMIC,
        description=(
            "Zones where the reservation is consumed. Use this instead of location.zones, which"
            " GKE rejects together with Specific reservations."
        ),
    )


class Reservations(ApiModel):
    """Which reservations nodes of this rule consume."""

    affinity: Literal["Specific", "AnyBestEffort", "None", "AnyThenFail"] = Field(
        description=(
            "Specific: only the listed reservations, no fallback inside the rule. AnyBestEffort:"
            " any matching non-specific reservation, else on-demand (so lower rules are never"
            " tried). None: never consume reservations. AnyThenFail: any matching reservation,"
            " node creation fails if there is none."
        )
    )
    specific: list[SpecificReservation] | None = Field(
        None,
        max_length=50,
        json_schema_extra=ListType.ATOMIC,
        description="Unordered list of reservations; required exactly when affinity is Specific.",
    )


register_rules(
    Reservations,
    [
        CrossFieldRule(
            id="specific-reservations-need-specific-affinity",
            cel="!has(self.specific) || size(self.specific) == 0 || self.affinity == 'Specific'",
            message=(
                "specific reservations are only used with affinity Specific; set affinity:"
                " Specific or remove specific"
            ),
            check=lambda r: not r.specific or r.affinity == "Specific",
            field_path=".specific",
        ),
        CrossFieldRule(
            id="specific-affinity-needs-reservations",
            cel="self.affinity != 'Specific' || (has(self.specific) && size(self.specific) > 0)",
            message=(
                "affinity Specific needs at least one entry in specific (name of the"
                " reservation); add one or use affinity AnyBestEffort"
            ),
            check=lambda r: r.affinity != "Specific" or bool(r.specific),
            field_path=".specific",
            reason="FieldValueRequired",
        ),
    ],
)


StoragePool = Annotated[
    str,
    StringConstraints(pattern=r"^projects/[a-z0-9-]+/zones/[a-z0-9-]+/storagePools/[a-z0-9-]+$"),
]


class SecondaryBootDisk(ApiModel):
    """A disk image attached to each node, e.g. as a container image cache."""

    disk_image_name: str = Field(min_length=1, max_length=63, description="Name of the disk image.")
    project: str | None = Field(
        None, max_length=63, description="Project of the disk image; unset means the cluster's."
    )
    mode: Literal["MODE_UNSPECIFIED", "CONTAINER_IMAGE_CACHE"] | None = Field(
        None, description="MODE_UNSPECIFIED or CONTAINER_IMAGE_CACHE."
    )


class Storage(ApiModel):
    """Boot disk and local SSD of each node."""

    boot_disk_size: int | None = Field(
        None, ge=10, description="Boot disk size in GB (at least 10)."
    )
    boot_disk_type: Literal["pd-balanced", "pd-standard", "pd-ssd", "hyperdisk-balanced"] | None = (
        Field(
            None,
            description=(
                "Boot disk type: pd-balanced, pd-standard, pd-ssd or hyperdisk-balanced (what a"
                " machine family supports varies)."
            ),
        )
    )
    boot_disk_kms_key: str | None = Field(
        None,
        alias="bootDiskKMSKey",
        max_length=512,
        pattern=r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+",
        description=(
            "Cloud KMS key that encrypts the boot disk:"
            " projects/P/locations/L/keyRings/R/cryptoKeys/K."
        ),
    )
    local_ssd_count: int | None = Field(
        None, ge=1, alias="localSSDCount", description="Number of local SSDs per node."
    )
    secondary_boot_disks: list[SecondaryBootDisk] | None = Field(
        None,
        max_length=10,
        json_schema_extra=ListType.ATOMIC,
        description="Extra disks from images, e.g. preloaded container images.",
    )
    boot_disk_storage_pools: list[StoragePool] | None = Field(
        None,
        min_length=1,
        max_length=10,
        json_schema_extra=ListType.ATOMIC,
        description="Hyperdisk storage pools that hold the boot disk.",
    )
    boot_disk_provisioned_iops: int | None = Field(
        None,
        ge=2000,
        le=160000,
        description="Provisioned IOPS of a hyperdisk-balanced boot disk (with throughput).",
    )
    boot_disk_provisioned_throughput: int | None = Field(
        None,
        ge=140,
        le=2400,
        description="Provisioned throughput (MiB/s) of a hyperdisk-balanced boot disk (with IOPS).",
    )
    local_ssd_encryption_mode: Literal["STANDARD_ENCRYPTION", "EPHEMERAL_KEY_ENCRYPTION"] | None = (
        Field(
            None,
            description="Local SSD encryption: STANDARD_ENCRYPTION or EPHEMERAL_KEY_ENCRYPTION.",
        )
    )


register_rules(
    Storage,
    [
        CrossFieldRule(
            id="provisioned-iops-and-throughput-together",
            cel="has(self.bootDiskProvisionedIops) == has(self.bootDiskProvisionedThroughput)",
            message=(
                "set bootDiskProvisionedIops and bootDiskProvisionedThroughput together, or neither"
            ),
            check=lambda s: (
                (s.boot_disk_provisioned_iops is None)
                == (s.boot_disk_provisioned_throughput is None)
            ),
        ),
        CrossFieldRule(
            id="provisioned-performance-needs-hyperdisk",
            cel=(
                "!has(self.bootDiskProvisionedIops) || (has(self.bootDiskType) &&"
                " self.bootDiskType == 'hyperdisk-balanced')"
            ),
            message=(
                "provisioned IOPS and throughput apply only to hyperdisk-balanced boot disks;"
                " set bootDiskType: hyperdisk-balanced or remove them"
            ),
            check=lambda s: (
                s.boot_disk_provisioned_iops is None or s.boot_disk_type == "hyperdisk-balanced"
            ),
            field_path=".bootDiskType",
        ),
    ],
)


class Placement(ApiModel):
    """Compact placement or workload policy for the nodes of the rule."""

    policy_name: str = Field(
        min_length=1,
        max_length=63,
        description="Name of a GCE placement or workload policy in the cluster's region.",
    )


class TaintSpec(ApiModel):
    """A Kubernetes taint put on every node of the rule or class."""

    key: str = Field(
        min_length=1,
        max_length=320,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Taint key, e.g. example.com/dedicated.",
    )
    value: str | None = Field(
        None,
        max_length=63,
        pattern=r"^([a-z0-9][-A-Za-z0-9_.]{1,61})?[A-Za-z0-9]$",
        description=(
            "Taint value: one letter or digit, or 3..63 characters starting with a lowercase"
            " letter or digit (GKE's format)."
        ),
    )
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        description="NoSchedule, PreferNoSchedule or NoExecute."
    )


RESERVED_LABEL_DOMAINS = ("cloud.google.com", "kubernetes.io", "gke.io", "k8s.io")


def node_labels_not_reserved(rule_id: str, field_name: str) -> CrossFieldRule[Any]:
    """The rule that a model's ``nodeLabels`` keys avoid the reserved domains (used by rules
    and by ``nodePoolConfig``); ``field_name`` is how the message names the field."""
    return CrossFieldRule(
        id=rule_id,
        cel=(
            "!has(self.nodeLabels) || self.nodeLabels.all(k, "
            + " && ".join(f"!k.contains('{d}')" for d in RESERVED_LABEL_DOMAINS)
            + ")"
        ),
        message=(
            f"{field_name} keys may not contain the reserved domains cloud.google.com,"
            " kubernetes.io, gke.io or k8s.io; use your own prefix"
        ),
        check=lambda m: (
            m.node_labels is None
            or not any(d in k for k in m.node_labels for d in RESERVED_LABEL_DOMAINS)
        ),
        field_path=".nodeLabels",
    )


RESERVED_METADATA_KEYS = (
    "cluster-location",
    "cluster-name",
    "cluster-uid",
    "configure-sh",
    "containerd-configure-sh",
    "enable-os-login",
    "gci-ensure-gke-docker",
    "gci-metrics-enabled",
    "gci-update-strategy",
    "instance-template",
    "kube-env",
    "startup-script",
    "user-data",
    "disable-address-manager",
    "windows-startup-script-ps1",
    "common-psm1",
    "k8s-node-setup-psm1",
    "install-ssh-psm1",
    "user-profile-psm1",
)
"""GCE metadata keys GKE sets on its nodes itself; a class may not set them (GKE's CRD)."""
METADATA_KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
MAX_METADATA_VALUE = 32768


def instance_metadata_rules(prefix: str, field_name: str) -> list[CrossFieldRule[Any]]:
    """GKE's three checks of an ``instanceMetadata`` map (rules and ``nodePoolConfig``):
    key format, value size, reserved keys. ``prefix`` makes the rule ids unique."""
    present = "!has(self.instanceMetadata) || "
    return [
        CrossFieldRule(
            id=f"{prefix}metadata-key-format",
            cel=present
            + "self.instanceMetadata.all(k, k.matches('^[a-zA-Z0-9_-]+$') && size(k) < 128)",
            message=(
                f"{field_name} keys may only hold letters, digits, '-' and '_' and must be"
                " shorter than 128 characters; rename them"
            ),
            check=lambda m: (
                m.instance_metadata is None
                or all(METADATA_KEY.match(k) and len(k) < 128 for k in m.instance_metadata)
            ),
            field_path=".instanceMetadata",
        ),
        CrossFieldRule(
            id=f"{prefix}metadata-value-size",
            cel=present + f"self.instanceMetadata.all(k, size(self.instanceMetadata[k]) <= "
            f"{MAX_METADATA_VALUE})",
            message=(
                f"{field_name} values may have at most {MAX_METADATA_VALUE} characters; shorten"
                " them"
            ),
            check=lambda m: (
                m.instance_metadata is None
                or all(len(v) <= MAX_METADATA_VALUE for v in m.instance_metadata.values())
            ),
            field_path=".instanceMetadata",
        ),
        CrossFieldRule(
            id=f"{prefix}metadata-keys-not-reserved",
            cel=present
            + "self.instanceMetadata.all(k, !(k in ["
            + ", ".join(f"'{k}'" for k in RESERVED_METADATA_KEYS)
            + "]))",
            message=(
                f"{field_name} may not set the keys GKE sets on its nodes itself"
                f" ({', '.join(RESERVED_METADATA_KEYS[:4])}, ..., startup-script, user-data, ...);"
                " rename or remove them"
            ),
            check=lambda m: (
                m.instance_metadata is None
                or not any(k in RESERVED_METADATA_KEYS for k in m.instance_metadata)
            ),
            field_path=".instanceMetadata",
        ),
    ]


class HostMaintenancePolicy(ApiModel):
    """How often GCE performs planned maintenance on the hosts of the nodes."""

    maintenance_interval: Literal["AS_NEEDED", "PERIODIC"] | None = Field(
        None, description="AS_NEEDED or PERIODIC."
    )
