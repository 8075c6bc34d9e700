"""A simulated node pool: its shape, labels, nodes and how it reports itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from ccc.api import labels as well_known
from ccc.api.values import NodePool, NodePoolName, NodePoolStatus, Taint
from providers.errors import ProviderError
from providers.simulated.model import PoolShape, SimNode
from providers.simulated.partial import CreationError

#: creation errors kept per pool (``listErrors`` keeps a bounded history too)
_MAX_ERRORS = 20


@dataclass(slots=True, eq=False)
class SimPool:
    """Mutable state of one pool. ``nodes`` is in creation order; its size is the pool's size.

    ``created_ready_at`` ends the initial provisioning; ``busy_until`` ends the latest grow.
    ``shortfall`` counts VMs the pool's instance group was asked for but could not create (the
    pool reports them in its size, as GKE reports the group's target size, until it is resized
    or shrunk); ``errors`` says why, newest last (``instanceGroupManagers.listErrors``).
    """

    name: str
    shape: PoolShape
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    class_name: str | None
    rule_index: int | None
    hosts_per_slice: int
    max_run_duration_s: int | None
    best_effort: bool
    created_ready_at: datetime
    busy_until: datetime = field(init=False)
    nodes: dict[str, SimNode] = field(default_factory=dict)
    shortfall: int = 0
    errors: list[CreationError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.busy_until = self.created_ready_at

    @property
    def managed(self) -> bool:
        return self.labels.get(well_known.MANAGED_BY_LABEL) == well_known.MANAGED_BY_VALUE

    def same_shape(self, shape: PoolShape) -> bool:
        """Same machine type, zone and capacity type (what the idempotency contract compares)."""
        return self.shape.offering == shape.offering

    def new_node(
        self,
        name: str,
        *,
        serial: int,
        created_at: datetime,
        ready_at: datetime,
        deadline: datetime | None,
        reservation: str | None,
    ) -> SimNode:
        node = SimNode(
            name=name,
            serial=serial,
            pool=self.name,
            zone=self.shape.zone,
            machine_type=self.shape.machine_type,
            capacity_type=self.shape.capacity_type,
            created_at=created_at,
            ready_at=ready_at,
            deadline=deadline,
            reservation=reservation,
            accelerator=self.shape.accelerator,
            labels=MappingProxyType(self.labels),
            taints=self.taints,
        )
        self.nodes[name] = node
        return node

    def fell_short(self, error: ProviderError | None, missing: int, at: datetime) -> None:
        """The group ended ``missing`` VMs short of its target because of ``error``."""
        self.shortfall = missing
        if error is not None and missing > 0:
            self.errors.append(CreationError(at, error, missing))
            del self.errors[:-_MAX_ERRORS]

    def newest_first(self) -> list[SimNode]:
        return list(reversed(self.nodes.values()))

    def status(self, now: datetime) -> NodePoolStatus:
        if now < self.created_ready_at:
            return NodePoolStatus.PROVISIONING
        if now < self.busy_until:
            return NodePoolStatus.RECONCILING
        return NodePoolStatus.RUNNING

    def view(self, now: datetime) -> NodePool:
        """The pool as a provider reports it."""
        managed = self.managed
        return NodePool(
            name=NodePoolName(self.name),
            machine_type=self.shape.machine_type,
            zones=(self.shape.zone,),
            node_count=len(self.nodes) + self.shortfall,
            capacity_type=self.shape.capacity_type,
            labels=dict(self.labels),
            taints=self.taints,
            accelerator=self.shape.accelerator,
            status=self.status(now),
            managed=managed,
            class_name=self.class_name if managed else None,
            rule_index=self.rule_index if managed else None,
        )
