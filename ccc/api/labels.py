"""Well-known label, taint and annotation keys that ccc reads and writes.

These strings are part of the public API: nodes, pods and dashboards depend on them.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "ccc.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
GKE_API_VERSION: Final = "cloud.google.com/v1"

#: Pods select a class with this node selector; nodes of the class carry it as label and taint.
CLASS_LABEL: Final = "ccc.dev/compute-class"
#: Pods that serve a ServingGroup carry this label with the group's name; the group's
#: ``status.selector`` selects them (the HPA's view of the group). Label both the leader and
#: the worker templates of a LeaderWorkerSet (drains of worker hosts wait for the group too).
SERVING_GROUP_LABEL: Final = "ccc.dev/serving-group"
#: GKE's key, accepted as an alias for pods when the controller is configured to.
GKE_CLASS_LABEL: Final = "cloud.google.com/compute-class"
#: Namespace labels naming the default class of the namespace's pods that select none (the
#: ``-non-daemonset`` variants leave DaemonSet pods alone), and GKE's equivalents.
DEFAULT_CLASS_LABEL: Final = "ccc.dev/default-compute-class"
DEFAULT_CLASS_NON_DAEMONSET_LABEL: Final = "ccc.dev/default-compute-class-non-daemonset"
GKE_DEFAULT_CLASS_LABEL: Final = "cloud.google.com/default-compute-class"
GKE_DEFAULT_CLASS_NON_DAEMONSET_LABEL: Final = (
    "cloud.google.com/default-compute-class-non-daemonset"
)
#: Index of the rule in ``spec.priorities`` that produced the node.
RULE_INDEX_LABEL: Final = "ccc.dev/rule-index"
#: ``reservation`` | ``flex-start`` | ``spot`` | ``on-demand``.
CAPACITY_TYPE_LABEL: Final = "ccc.dev/capacity-type"
#: Name of the node pool a node belongs to (GKE sets ``cloud.google.com/gke-nodepool`` too).
NODE_POOL_LABEL: Final = "ccc.dev/node-pool"
GKE_NODE_POOL_LABEL: Final = "cloud.google.com/gke-nodepool"
#: Marks objects that ccc created and therefore may resize and delete.
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "ccc"
#: Flex-start termination deadline, as Unix seconds (a label value cannot hold RFC 3339).
FLEX_START_DEADLINE_LABEL: Final = "ccc.dev/flex-start-deadline"
#: Same deadline in RFC 3339, for people reading ``kubectl describe node``.
FLEX_START_DEADLINE_ANNOTATION: Final = "ccc.dev/flex-start-deadline"
ZONE_LABEL: Final = "topology.kubernetes.io/zone"
REGION_LABEL: Final = "topology.kubernetes.io/region"
MACHINE_TYPE_LABEL: Final = "node.kubernetes.io/instance-type"
GKE_SPOT_LABEL: Final = "cloud.google.com/gke-spot"
#: GKE's provisioning model of a node (``spot``, ``preemptible``, ``standard``, ``flex-start``)
#: and the legacy preemptible label: a node with either is a spot node too.
GKE_PROVISIONING_LABEL: Final = "cloud.google.com/gke-provisioning"
GKE_PREEMPTIBLE_LABEL: Final = "cloud.google.com/gke-preemptible"
GKE_FLEX_START_LABEL: Final = "cloud.google.com/gke-flex-start"
GKE_ACCELERATOR_LABEL: Final = "cloud.google.com/gke-accelerator"
GKE_TPU_ACCELERATOR_LABEL: Final = "cloud.google.com/gke-tpu-accelerator"
GKE_TPU_TOPOLOGY_LABEL: Final = "cloud.google.com/gke-tpu-topology"

#: GKE's spot preemption notice (set when the VM gets its ACPI G2 soft-off signal).
IMPENDING_TERMINATION_TAINT: Final = "cloud.google.com/impending-node-termination"
#: Set by the cloud node lifecycle controller on a node whose VM is shut down.
SHUTDOWN_TAINT: Final = "node.cloudprovider.kubernetes.io/shutdown"
#: Taints that mean "this node is going away": such a node never counts as room.
TERMINATING_TAINTS: Final = (IMPENDING_TERMINATION_TAINT, SHUTDOWN_TAINT)
#: Kubernetes' node condition taints. ``not-ready`` is on every node while it boots (the
#: kubelet registers with it; the node lifecycle controller removes it once Ready);
#: ``unreachable`` means the kubelet stopped reporting; ``unschedulable`` mirrors a cordon.
NOT_READY_TAINT: Final = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT: Final = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT: Final = "node.kubernetes.io/unschedulable"
#: Set by a kubelet with an external cloud provider until the cloud controller initialises the
#: node (a few seconds of boot).
UNINITIALIZED_TAINT: Final = "node.cloudprovider.kubernetes.io/uninitialized"
#: Taints every node carries while it boots and loses on its own: room accounting ignores them.
BOOT_TAINTS: Final = frozenset({NOT_READY_TAINT, UNINITIALIZED_TAINT})
#: GKE's flex-start deadline annotation (RFC 3339) on the node.
GKE_TERMINATION_ANNOTATION: Final = "node.gke.io/machine-termination-datetime"
#: GKE's flex-start max run duration label (seconds; the deadline is creation + this).
GKE_MAX_RUN_DURATION_LABEL: Final = "cloud.google.com/gke-max-run-duration-seconds"
#: GKE's flex-start recycle lead time label (seconds before the deadline to replace the node).
#: GKE sets it on pools it creates for a class; ccc's own pools carry
#: :data:`RECYCLE_LEAD_TIME_LABEL` because GKE owns the ``cloud.google.com/gke-`` prefix.
GKE_RECYCLE_LEAD_TIME_LABEL: Final = "cloud.google.com/gke-node-recycle-lead-time-seconds"
#: ``flexStart.nodeRecycling.leadTimeSeconds`` of the rule a flex-start pool was made for.
RECYCLE_LEAD_TIME_LABEL: Final = "ccc.dev/recycle-lead-time-seconds"

# Disruption progress, kept on the node being replaced so it survives a controller restart
# (docs/design/012-decisions-as-values.md). Written only by the controller.
#: Why the node is being replaced: ``preemption`` | ``expiry`` | ``migration`` |
#: ``consolidation``.
DISRUPTION_ANNOTATION: Final = "ccc.dev/disruption"
#: When the node was chosen (RFC 3339).
DISRUPTION_SINCE_ANNOTATION: Final = "ccc.dev/disruption-since"
#: Node pools (comma-separated) that received the node's replacement demand.
REPLACEMENT_ANNOTATION: Final = "ccc.dev/replacement-pools"
#: When the drain began (RFC 3339), once the replacement was Ready.
DRAIN_STARTED_ANNOTATION: Final = "ccc.dev/drain-started"

GPU_RESOURCE: Final = "nvidia.com/gpu"
TPU_RESOURCE: Final = "google.com/tpu"
#: GPU sharing labels GKE puts on shared-GPU nodes (pods select them to land there).
GKE_GPU_SHARING_STRATEGY_LABEL: Final = "cloud.google.com/gke-gpu-sharing-strategy"
GKE_MAX_SHARED_CLIENTS_LABEL: Final = "cloud.google.com/gke-max-shared-clients-per-gpu"
GKE_GPU_PARTITION_SIZE_LABEL: Final = "cloud.google.com/gke-gpu-partition-size"
