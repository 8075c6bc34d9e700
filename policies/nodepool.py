"""Build the node pool spec (labels, taints, accelerator and lifecycle settings) for one
offering of a tier. The same labels are used by the walk to match pod node selectors, so what
``ccc plan`` predicts is what the nodes will carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from ccc.api import labels as L
from ccc.api.catalog import MachineType
from ccc.api.computeclass import ComputeClass, PriorityRule
from ccc.api.node_settings import NodeSettings
from ccc.api.values import CapacityType, NodePoolSpec, Taint, region_of
from policies.naming import node_pool_name
from policies.packing import shared_clients_per_gpu
from policies.tiers import Tier

_DRIVER: Mapping[str, Literal["default", "latest", "disabled"]] = {
    "default": "default",
    "latest": "latest",
    "autoinstall-disabled": "disabled",
}


def node_labels(
    cc: ComputeClass, tier: Tier, machine: MachineType, zone: str, capacity_type: CapacityType
) -> dict[str, str]:
    """Labels every node of this offering carries (class, rule, capacity type, GKE well-knowns,
    the class's ``nodePoolConfig.nodeLabels`` and the rule's ``nodeLabels``)."""
    out: dict[str, str] = {}
    npc = cc.spec.node_pool_config
    if npc is not None and npc.node_labels:
        out.update(npc.node_labels)
    if tier.rule.node_labels:
        out.update(tier.rule.node_labels)
    out.update(
        {
            L.CLASS_LABEL: cc.metadata.name,
            L.GKE_CLASS_LABEL: cc.metadata.name,
            L.RULE_INDEX_LABEL: str(tier.rule_index),
            L.CAPACITY_TYPE_LABEL: capacity_type.value,
            L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE,
            L.ZONE_LABEL: zone,
            L.REGION_LABEL: region_of(zone),
            L.MACHINE_TYPE_LABEL: machine.name,
            "cloud.google.com/machine-family": machine.family,
        }
    )
    if capacity_type is CapacityType.SPOT:
        out[L.GKE_SPOT_LABEL] = "true"
    if capacity_type is CapacityType.FLEX_START:
        out[L.GKE_FLEX_START_LABEL] = "true"
        lead = recycle_lead_time_s(tier)
        if lead is not None:
            out[L.GKE_RECYCLE_LEAD_TIME_LABEL] = out[L.RECYCLE_LEAD_TIME_LABEL] = str(lead)
    acc = machine.accelerator
    if acc is not None and machine.is_gpu:
        out[L.GKE_ACCELERATOR_LABEL] = acc.type
        gpu = tier.rule.gpu
        sharing = gpu.gpu_sharing if gpu is not None else None
        clients = shared_clients_per_gpu(tier.rule)
        if sharing is not None and sharing.sharing_strategy and clients:
            strategy = "mps" if sharing.sharing_strategy == "MPS" else "time-sharing"
            out[L.GKE_GPU_SHARING_STRATEGY_LABEL] = strategy
            out[L.GKE_MAX_SHARED_CLIENTS_LABEL] = str(clients)
        if sharing is not None and sharing.gpu_partition_size:
            out[L.GKE_GPU_PARTITION_SIZE_LABEL] = sharing.gpu_partition_size
    if acc is not None and machine.is_tpu:
        out[L.GKE_TPU_ACCELERATOR_LABEL] = acc.type
        topo = tier.tpu_topology.topology if tier.tpu_topology else None
        if topo is None and machine.tpu_topologies:
            topo = machine.tpu_topologies[0].topology
        if topo:
            out[L.GKE_TPU_TOPOLOGY_LABEL] = topo
    return out


def recycle_lead_time_s(tier: Tier) -> int | None:
    """``flexStart.nodeRecycling.leadTimeSeconds`` of the tier's rule, if it recycles."""
    flex = tier.rule.flex_start
    recycling = flex.node_recycling if flex is not None and flex.enabled else None
    return recycling.lead_time_seconds if recycling is not None else None


def node_taints(cc: ComputeClass, tier: Tier, machine: MachineType) -> tuple[Taint, ...]:
    """The class taint (pods that select the class tolerate it), GPU/TPU taints as GKE sets
    them, plus the class's and the rule's own taints."""
    taints = [Taint(key=L.CLASS_LABEL, value=cc.metadata.name, effect="NoSchedule")]
    if machine.is_gpu:
        taints.append(Taint(key=L.GPU_RESOURCE, value="present", effect="NoSchedule"))
    if machine.is_tpu:
        taints.append(Taint(key=L.TPU_RESOURCE, value="present", effect="NoSchedule"))
    npc = cc.spec.node_pool_config
    for src in (npc.taints if npc is not None and npc.taints else [], tier.rule.taints or []):
        taints.extend(Taint(key=t.key, value=t.value or "", effect=t.effect) for t in src)
    return tuple(dict.fromkeys(taints))


def node_settings(cc: ComputeClass, rule: PriorityRule) -> NodeSettings | None:
    """The node configuration passed through to the cloud for pools of ``rule`` (``None`` when
    the class sets none). Rule fields win over ``priorityDefaults``; the rule's
    ``instanceMetadata`` overrides ``nodePoolConfig.instanceMetadata`` key by key."""
    spec = cc.spec
    pd = spec.priority_defaults
    npc = spec.node_pool_config
    metadata = dict(npc.instance_metadata or {}) if npc is not None else {}
    metadata.update(rule.instance_metadata or {})
    nested = rule.enable_nested_virtualization
    if nested is None and pd is not None:
        nested = pd.enable_nested_virtualization
    nac = spec.node_pool_auto_creation
    subnets = spec.network_config.subnet_priorities if spec.network_config else None
    subnet = subnets[0] if subnets else None
    settings = NodeSettings(
        node_pool_config=npc,
        node_system_config=rule.node_system_config
        or (pd.node_system_config if pd is not None else None),
        storage=rule.storage,
        min_cpu_platform=rule.min_cpu_platform,
        instance_metadata=metadata,
        enable_nested_virtualization=nested,
        performance_monitoring_unit=rule.performance_monitoring_unit,
        accelerator_network_profile=rule.accelerator_network_profile,
        gpu_direct=rule.gpu_direct,
        shielded_instance_config=nac.shielded_instance_config if nac is not None else None,
        subnetwork=subnet.name if subnet is not None else None,
        pod_range=subnet.pod_range if subnet is not None else None,
    )
    return None if settings.empty else settings


def build_node_pool_spec(
    cc: ComputeClass,
    tier: Tier,
    machine: MachineType,
    zone: str,
    capacity_type: CapacityType,
    *,
    node_count: int,
    slice_index: int | None = None,
) -> NodePoolSpec:
    """The full spec of the pool ccc creates for this offering (deterministic name; one pool
    per multi-host TPU slice, told apart by ``slice_index``)."""
    rule = tier.rule
    gpu = rule.gpu
    sharing = gpu.gpu_sharing if gpu is not None else None
    storage = rule.storage
    max_run = rule.max_run_duration_seconds
    if capacity_type is CapacityType.FLEX_START and max_run is None:
        max_run = 7 * 24 * 3600  # flex-start VMs run at most 7 days
    name = node_pool_name(
        cc.metadata.name,
        tier.rule_index,
        machine.name,
        zone,
        capacity_type,
        slice_index=slice_index,
    )
    return NodePoolSpec(
        name=name,
        class_name=cc.metadata.name,
        rule_index=tier.rule_index,
        machine_type=machine.name,
        zone=zone,
        capacity_type=capacity_type,
        node_count=node_count,
        accelerator=machine.accelerator,
        gpu_driver_version=_DRIVER.get(gpu.driver_version or "default") if gpu else None,
        gpu_partition_size=sharing.gpu_partition_size if sharing else None,
        gpu_sharing_strategy=sharing.sharing_strategy if sharing else None,
        gpu_max_shared_clients=shared_clients_per_gpu(rule),
        tpu_topology=tier.tpu_topology.topology if tier.tpu_topology else None,
        hosts_per_slice=tier.hosts_per_slice,
        placement_policy=rule.placement.policy_name if rule.placement else None,
        reservation=tier.reservation,
        max_run_duration_s=max_run,
        max_pods_per_node=rule.max_pods_per_node,
        boot_disk_size_gb=storage.boot_disk_size if storage else None,
        boot_disk_type=storage.boot_disk_type if storage else None,
        local_ssd_count=storage.local_ssd_count if storage else None,
        labels=node_labels(cc, tier, machine, zone, capacity_type),
        taints=node_taints(cc, tier, machine),
        settings=node_settings(cc, rule),
    )
