"""The knobs of the decide step, as one immutable value.

``ccc run`` builds it from its flags (:meth:`ccc.controller.config.ControllerConfig.settings`),
``ccc plan`` and tests use the defaults. Durations are seconds (``_s``) or ``timedelta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from ccc.api.location import ClusterLocation
from policies.obtainability import BackoffPolicy

DEFAULT_CONSOLIDATION_DELAY = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Settings:
    """What :func:`policies.decide.decide` needs besides the snapshot and the state.

    Attributes:
        backoff: the obtainability memory's backoff (first mark, doubling, cap).
        cluster: the cluster's region and zones (from the provider, else ``--region`` /
            ``--zones``); every attempt lies inside it. ``None``: ``default_zones``' region,
            else each class's own (:func:`policies.location.resolve_location`).
        default_zones: the cluster's zones, for rules that name none (``None``: the cluster's,
            else every catalog zone of its region).
        accept_gke_class_label: pods selecting ``cloud.google.com/compute-class`` are demand too.
        max_viable: attempts kept per pod group beyond skips: 1 for the controller (it executes
            the first), ``None`` for ``ccc plan`` (it lists every fallback).
        default_consolidation_delay: for classes that set no
            ``autoscalingPolicy.consolidationDelayMinutes``.
        scale_down_enabled: consolidation (removing empty nodes and pools) runs at all.
        repair_after_s: nodes missing from a managed pool (in the API server and the cloud) for
            this long are asked for again.
        node_registration_timeout_s: nodes a pool was asked for that have not registered after
            this long are given up (longer for rules with ``capacityCheckWaitTimeSeconds``).
        capacity_check_retry_s: pause between retries of one offering inside its
            ``capacityCheckWaitTimeSeconds``.
        error_retry_s: pause before retrying after a transient provider error or a failed
            provider listing; also the first pause after a failed delete.
        delete_retry_max_s: the longest pause after failed deletes of one pool (the pause
            doubles from ``error_retry_s`` with each failure in a row).
        not_ready_grace: a node that is not Ready yet still counts as coming room this long
            after its creation.
        preemption_backoff_s: how long a spot offering that lost a node to a preemption is
            skipped (doubling on repeats); shorter than a stockout's, as spot capacity comes
            back quickly.
        surge_wait: how long a drain of a node hosting ServingGroup replicas waits for the
            group's surge to be Ready, from when the node was marked for disruption
            (:mod:`policies.serving_drain`).
        surge_drain_reserve: such a wait ends at least this long before a flex-start node's
            deadline (or twice the class's ``graceTerminationDuration``, if longer), so the
            drain still happens gracefully.
    """

    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    cluster: ClusterLocation | None = None
    default_zones: Sequence[str] | None = None
    accept_gke_class_label: bool = True
    max_viable: int | None = 1
    default_consolidation_delay: timedelta = DEFAULT_CONSOLIDATION_DELAY
    scale_down_enabled: bool = True
    repair_after_s: float = 30.0
    node_registration_timeout_s: float = 600.0
    capacity_check_retry_s: float = 10.0
    error_retry_s: float = 5.0
    delete_retry_max_s: float = 300.0
    not_ready_grace: timedelta = timedelta(minutes=5)
    preemption_backoff_s: float = 60.0
    surge_wait: timedelta = timedelta(minutes=10)
    surge_drain_reserve: timedelta = timedelta(minutes=1)
