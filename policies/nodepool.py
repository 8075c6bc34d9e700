"""Build the node pool spec (labels, taints, accelerator and lifecycle settings) for one
offering of a tier. The same labels are used by the walk to match pod node selectors, so what
``ccc plan`` predicts is what the nodes will carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from ccc.api import labels as L
from ccc.api.catalog import MachineType
from ccc.api.computeclass import ComputeClass
from ccc.api.values import CapacityType, NodePoolSpec, Taint, region_of
from policies.naming import node_pool_name
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


def build_node_pool_spec(
    cc: ComputeClass,
    tier: Tier,
    machine: MachineType,
    zone: str,
    capacity_type: CapacityType,
    *,
    node_count: int,
) -> NodePoolSpec:
    """The full spec of the pool ccc creates for this offering (deterministic name)."""
    rule = tier.rule
    gpu = rule.gpu
    sharing = gpu.gpu_sharing if gpu is not None else None
    storage = rule.storage
    max_run = rule.max_run_duration_seconds
    if capacity_type is CapacityType.FLEX_START and max_run is None:
        max_run = 7 * 24 * 3600  # flex-start VMs run at most 7 days
    reservation = tier.reservation if capacity_type is CapacityType.RESERVATION else None
    if reservation is None and tier.reservation is not None and tier.reservation.type == "none":
        reservation = tier.reservation
    return NodePoolSpec(
        name=node_pool_name(cc.metadata.name, tier.rule_index, machine.name, zone, capacity_type),
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
        gpu_max_shared_clients=sharing.max_shared_clients_per_gpu if sharing else None,
        tpu_topology=tier.tpu_topology.topology if tier.tpu_topology else None,
        hosts_per_slice=tier.hosts_per_slice,
        placement_policy=rule.placement.policy_name if rule.placement else None,
        reservation=reservation,
        max_run_duration_s=max_run,
        max_pods_per_node=rule.max_pods_per_node,
        boot_disk_size_gb=storage.boot_disk_size if storage else None,
        boot_disk_type=storage.boot_disk_type if storage else None,
        local_ssd_count=storage.local_ssd_count if storage else None,
        labels=node_labels(cc, tier, machine, zone, capacity_type),
        taints=node_taints(cc, tier, machine),
    )
