"""Class-wide node pool configuration (``spec.nodePoolConfig``) and node pool groups.

Pools ccc creates get this configuration; existing pools belong to the class only if theirs
matches.
"""

from typing import Literal

from pydantic import Field

from ccc.api.computeclass._base import ApiModel, CrossFieldRule, ListType, register_rules
from ccc.api.computeclass.hardware import (
    RESERVED_LABEL_DOMAINS,
    TaintSpec,
    instance_metadata_rules,
    node_labels_not_reserved,
)
from ccc.api.computeclass.nodesystem import SECONDS, seconds_range_rule


class Enabled(ApiModel):
    """A feature switch."""

    enabled: bool = Field(False, description="Whether the feature is on.")


class ResourceManagerTag(ApiModel):
    """A GCE resource manager tag (purpose GCE_FIREWALL) attached to the nodes."""

    key: str = Field(
        min_length=1, max_length=256, description="tagKeys/ID, ORG/KEY or PROJECT/KEY."
    )
    value: str = Field(min_length=1, max_length=256, description="tagValues/ID or the value name.")


class LoggingVariantConfig(ApiModel):
    """Which logging agent variant runs on the nodes."""

    variant: Literal["DEFAULT", "MAX_THROUGHPUT"] | None = Field(
        None, description="DEFAULT or MAX_THROUGHPUT."
    )


class NodePoolLoggingConfig(ApiModel):
    """Logging settings of the nodes."""

    logging_variant_config: LoggingVariantConfig | None = Field(
        None, description="Logging agent variant."
    )


class Dra(ApiModel):
    """Dynamic resource allocation settings."""

    networking: Enabled | None = Field(None, description="DRA networking.")


class GoogleTpu(ApiModel):
    """How the TPU driver works on the nodes."""

    driver_mode: Literal["DevicePlugin", "DynamicResourceAllocation"] | None = Field(
        None, description="DevicePlugin (default) or DynamicResourceAllocation."
    )


class Sandbox(ApiModel):
    """Pod sandbox of the nodes."""

    type: Literal["gvisor", "microvm"] | None = Field(
        None, description="gvisor (GKE Sandbox) or microvm."
    )


class CustomImageConfig(ApiModel):
    """Custom node image, with imageType custom_containerd."""

    image_name: str = Field(min_length=1, max_length=256, description="Name of the image.")
    image_project_id: str = Field(max_length=63, description="Project of the image.")


class TaintConfig(ApiModel):
    """How GKE taints nodes by architecture."""

    architecture_taint_behavior: Literal["NONE", "ARM"] | None = Field(
        None, description="ARM (default): taint Arm nodes; NONE: do not."
    )


class NodeDrainConfig(ApiModel):
    """How nodes are drained when GKE removes them."""

    pdb_timeout_duration: str | None = Field(
        None,
        max_length=16,
        pattern=SECONDS,
        description="How long to respect PDBs while draining, in seconds (e.g. 3600s, at most"
        " 168h).",
    )
    grace_termination_duration: str | None = Field(
        None,
        max_length=16,
        pattern=SECONDS,
        description="Pod termination grace period cap, in seconds (e.g. 600s, at most 24h).",
    )
    respect_pdb_during_node_pool_deletion: bool | None = Field(
        None, description="Respect PDBs when a whole node pool is deleted."
    )


register_rules(
    NodeDrainConfig,
    [
        seconds_range_rule(
            "pdb-timeout-at-most-168h",
            "pdbTimeoutDuration",
            most=168 * 3600,
            message="pdbTimeoutDuration may be at most 168h; set at most 604800s",
        ),
        seconds_range_rule(
            "grace-termination-at-most-24h",
            "graceTerminationDuration",
            most=24 * 3600,
            message="graceTerminationDuration may be at most 24h; set at most 86400s",
        ),
    ],
)


class NodePoolConfig(ApiModel):
    """Node pool configuration shared by every node of the class."""

    service_account: str | None = Field(
        None, max_length=256, description="GCE service account of the nodes."
    )
    image_type: Literal["cos_containerd", "ubuntu_containerd", "custom_containerd"] | None = Field(
        None, description="Node image: cos_containerd, ubuntu_containerd or custom_containerd."
    )
    custom_image_config: CustomImageConfig | None = Field(
        None, description="Image for imageType custom_containerd."
    )
    workload_type: Literal["HIGH_AVAILABILITY", "HIGH_THROUGHPUT"] | None = Field(
        None, description="HIGH_AVAILABILITY (serving) or HIGH_THROUGHPUT (needs nodePoolGroup)."
    )
    node_labels: dict[str, str] | None = Field(
        None, max_length=100, description="Extra Kubernetes labels on every node (at most 100)."
    )
    taints: list[TaintSpec] | None = Field(
        None,
        max_length=100,
        json_schema_extra=ListType.ATOMIC,
        description="Extra Kubernetes taints on every node (at most 100).",
    )
    confidential_node_type: (
        Literal["CONFIDENTIAL_INSTANCE_TYPE_UNSPECIFIED", "SEV", "SEV_SNP", "TDX"] | None
    ) = Field(None, description="Confidential VM technology: SEV, SEV_SNP or TDX.")
    auto_repair: bool | None = Field(None, description="Enable node auto-repair.")
    auto_upgrade: bool | None = Field(None, description="Enable node auto-upgrade.")
    image_streaming: Enabled | None = Field(None, description="Container image streaming.")
    resource_manager_tags: list[ResourceManagerTag] | None = Field(
        None,
        max_length=5,
        json_schema_extra=ListType.ATOMIC,
        description="Firewall tags (at most 5).",
    )
    gvnic: Enabled | None = Field(None, description="Google Virtual NIC.")
    logging_config: NodePoolLoggingConfig | None = Field(None, description="Logging settings.")
    dra: Dra | None = Field(None, description="Dynamic resource allocation settings.")
    ip_type: Literal["public", "private"] | None = Field(
        None, description="public or private node IP addresses."
    )
    node_version: str | None = Field(None, max_length=64, description="GKE node version.")
    tpu: GoogleTpu | None = Field(None, description="TPU driver settings.")
    sandbox: Sandbox | None = Field(None, description="Pod sandbox.")
    workload_metadata: Literal["GCE_METADATA", "GKE_METADATA"] | None = Field(
        None, description="GCE_METADATA or GKE_METADATA (Workload Identity)."
    )
    instance_metadata: dict[str, str] | None = Field(
        None, max_length=32, description="GCE instance metadata of every node."
    )
    taint_config: TaintConfig | None = Field(None, description="Architecture taints.")
    maintenance_exclusion: str | None = Field(
        None,
        max_length=64,
        description="Maintenance exclusion of the nodes, e.g. UNTIL_END_OF_SUPPORT.",
    )
    node_drain_config: NodeDrainConfig | None = Field(None, description="Drain settings.")
    network_tags: list[str] | None = Field(
        None, max_length=64, json_schema_extra=ListType.ATOMIC, description="GCE network tags."
    )


register_rules(
    NodePoolConfig,
    [
        CrossFieldRule(
            id="custom-image-needs-custom-type",
            cel=(
                "has(self.customImageConfig) == (has(self.imageType) && self.imageType =="
                " 'custom_containerd')"
            ),
            message=(
                "customImageConfig goes with imageType custom_containerd; set both or"
                " remove customImageConfig"
            ),
            check=lambda c: (
                (c.custom_image_config is not None) == (c.image_type == "custom_containerd")
            ),
            field_path=".customImageConfig",
        ),
        CrossFieldRule(
            id="pool-taint-keys-not-reserved",
            cel=(
                "!has(self.taints) || self.taints.all(t, "
                + " && ".join(f"!t.key.contains('{d}')" for d in RESERVED_LABEL_DOMAINS)
                + ")"
            ),
            message=(
                "taint keys may not contain the reserved domains cloud.google.com,"
                " kubernetes.io, gke.io or k8s.io; use your own prefix (example.com/dedicated)"
            ),
            check=lambda c: (
                c.taints is None
                or not any(d in t.key for t in c.taints for d in RESERVED_LABEL_DOMAINS)
            ),
            field_path=".taints",
        ),
        node_labels_not_reserved("pool-node-labels-not-reserved", "nodePoolConfig.nodeLabels"),
        *instance_metadata_rules("pool-", "nodePoolConfig.instanceMetadata"),
    ],
)


class NodePoolGroup(ApiModel):
    """A group of node pools provisioned together (GCE multi-MIG)."""

    name: str = Field(min_length=1, max_length=63, description="Name of the group.")
