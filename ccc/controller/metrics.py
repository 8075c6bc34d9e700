"""Prometheus metrics of the controller. Names and labels are a public interface
(docs/metrics.md): change them only with a deprecation note."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    """All metrics on one registry (a fresh one per controller keeps tests independent)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.pending_pods = Gauge(
            "ccc_pending_pods",
            "Pending pods that select a class, by class.",
            ["class_name"],
            registry=r,
        )
        self.provisioning_attempts = Counter(
            "ccc_provisioning_attempts_total",
            "Node pool create/scale requests, by class, rule, zone, capacity type and result.",
            ["class_name", "rule", "zone", "capacity_type", "result"],
            registry=r,
        )
        self.offerings_marked_unavailable = Counter(
            "ccc_offerings_marked_unavailable_total",
            "Offerings marked unavailable in the obtainability memory, by reason.",
            ["class_name", "machine_type", "zone", "capacity_type", "reason"],
            registry=r,
        )
        self.offerings_unavailable = Gauge(
            "ccc_offerings_unavailable",
            "Offerings currently skipped, by class.",
            ["class_name"],
            registry=r,
        )
        self.pending_to_requested = Histogram(
            "ccc_pending_to_requested_seconds",
            "Time from a pod becoming unschedulable to ccc requesting capacity for it.",
            ["class_name"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pending_to_ready = Histogram(
            "ccc_pending_to_ready_seconds",
            "Time from a pod becoming unschedulable to it being bound to a node.",
            ["class_name"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "ccc_reconcile_duration_seconds",
            "Duration of one reconcile pass.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.node_pools = Gauge(
            "ccc_node_pools",
            "Node pools ccc manages, by class.",
            ["class_name"],
            registry=r,
        )
        self.scale_down = Counter(
            "ccc_scale_down_total",
            "Nodes or pools removed, by class and kind.",
            ["class_name", "kind"],
            registry=r,
        )
        self.class_invalid = Gauge(
            "ccc_compute_class_invalid",
            "1 when a class cannot be used (see its Ready condition).",
            ["class_name"],
            registry=r,
        )
        self.serving_capacity = Gauge(
            "ccc_serving_capacity",
            'ServingGroup capacity by group and variant (variant "" is the group\'s total);'
            " kind is ready, desired or target.",
            ["namespace", "group", "variant", "kind"],
            registry=r,
        )
        self.serving_shifts = Counter(
            "ccc_serving_shifts_total",
            "Passes that moved ServingGroup capacity between variants, by cause.",
            ["namespace", "group", "cause"],
            registry=r,
        )
        self.leader = Gauge("ccc_leader", "1 while this replica leads.", registry=r)
        self.replacements = Counter(
            "ccc_replacements_total",
            "Nodes ccc started replacing, by class and cause (preemption, expiry, migration).",
            ["class_name", "cause"],
            registry=r,
        )
        self.replacement_requested = Histogram(
            "ccc_signal_to_replacement_request_seconds",
            "Time from a node's leaving signal being observed to the first provider request "
            "for its replacement, by cause.",
            ["cause"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.serving_signal_to_scale = Histogram(
            "ccc_serving_signal_to_scale_seconds",
            "Time from the leaving signal of a node hosting a ServingGroup's Ready replicas "
            "being observed to the ServingGroup loop's first scale write that answers it.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.drain_duration = Histogram(
            "ccc_drain_duration_seconds",
            "Time from a drain's start to its node being empty (or gone), by cause.",
            ["cause"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.evictions = Counter(
            "ccc_evictions_total",
            "Eviction API calls of drains, by result (evicted, pdb_refused).",
            ["result"],
            registry=r,
        )
        self.nodes_blocked = Gauge(
            "ccc_nodes_blocked",
            "Nodes whose replacement or drain cannot progress, by class and GKE's reason.",
            ["class_name", "reason"],
            registry=r,
        )
