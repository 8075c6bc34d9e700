"""The informer caches' projections of Pods and Nodes.

They are API-layer values (:mod:`ccc.api.cluster`) so the pure decision core can read them; this
module keeps the controller's historical import path.
"""

from ccc.api.cluster import (
    NODE_ANNOTATION_PREFIXES,
    POD_LABEL_PREFIXES,
    NodeInfo,
    PodInfo,
    node_info,
    parse_time,
    pod_info,
)

__all__ = [
    "NODE_ANNOTATION_PREFIXES",
    "POD_LABEL_PREFIXES",
    "NodeInfo",
    "PodInfo",
    "node_info",
    "parse_time",
    "pod_info",
]
