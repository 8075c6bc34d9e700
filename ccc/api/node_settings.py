"""Node settings a ComputeClass passes through to the node pools ccc creates.

Decisions do not depend on these; they are copied from the class (its ``nodePoolConfig``,
``nodePoolAutoCreation.shieldedInstanceConfig``, ``networkConfig``) and from the rule (or
``priorityDefaults``) into :class:`~ccc.api.values.NodePoolSpec.settings`, and the GKE provider
maps every one onto ``container_v1`` (``providers/gke/nodeconfig.py``). The kwok and simulated
clouds ignore them. What is *not* passed through is listed, with the reason, by
:mod:`policies.unacted`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

# Submodules, not the package (import order: the ComputeClass status model imports
# ccc.api.values, whose NodePoolSpec imports this module on first use).
from ccc.api.computeclass.hardware import Storage
from ccc.api.computeclass.nodepool import NodePoolConfig
from ccc.api.computeclass.nodesystem import NodeSystemConfig
from ccc.api.computeclass.spec import ShieldedInstanceConfig

# Build these ComputeClass models' validators now, each on its own: NodeSettings below and the
# ComputeClass model (built on its first validation) then reuse them instead of building the
# same subtrees twice (``ccc plan`` start-up; the ComputeClass models defer their builds).
for _model in (Storage, NodePoolConfig, NodeSystemConfig, ShieldedInstanceConfig):
    _model.model_rebuild()


class NodeSettings(BaseModel):
    """Pass-through node configuration of one pool (every field optional)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Class-wide ``spec.nodePoolConfig`` (service account, image, confidential nodes, ...).
    node_pool_config: NodePoolConfig | None = None
    #: The rule's ``nodeSystemConfig``, else ``priorityDefaults.nodeSystemConfig``.
    node_system_config: NodeSystemConfig | None = None
    #: The rule's ``storage`` (KMS key, secondary boot disks, storage pools, IOPS, ...).
    storage: Storage | None = None
    min_cpu_platform: str | None = None
    #: ``nodePoolConfig.instanceMetadata`` overridden key by key by the rule's.
    instance_metadata: Mapping[str, str] = Field(default_factory=dict)
    enable_nested_virtualization: bool | None = None
    performance_monitoring_unit: str | None = None
    accelerator_network_profile: str | None = None
    gpu_direct: str | None = None
    shielded_instance_config: ShieldedInstanceConfig | None = None
    #: ``spec.networkConfig.subnetPriorities[0]``.
    subnetwork: str | None = None
    pod_range: str | None = None

    @property
    def empty(self) -> bool:
        return self == NodeSettings()
