"""Levers on the kwok cloud for tests and demos: capacity, quota, reservations, disruptions.

They write the same API-server objects the provider reads (the ``capacity`` ConfigMap, pool
ConfigMaps, Nodes), so a test can script the cloud while a controller process runs, and the
changes survive that process being killed.

Disruptions follow GKE where it matters to ccc and simplify the rest:

* **Spot preemption** (:meth:`CloudControls.preempt`). GKE taints the node
  ``cloud.google.com/impending-node-termination:NoSchedule`` when Compute Engine sends the
  preemption notice, kubelet's graceful node shutdown gets about 30 s, then the VM stops. The
  managed instance group keeps its target size and re-creates the VM when capacity returns. Here
  the node is tainted, ``notice_s`` later deleted, and the pool's desired size drops by one, so
  the loss is visible to ccc at once (it decides whether and where to replace the node) and
  the capacity booking is released.
* **Flex-start expiry** (:meth:`CloudControls.expire_flex_start`): nodes whose deadline
  (``ccc.dev/flex-start-deadline``, creation + ``max_run_duration_s``) has passed are removed the
  same way, as GKE removes flex-start VMs at the end of their maximum run duration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime

from ccc.api import labels as well_known
from ccc.api.values import CapacityType, NodePool, OfferingKey
from providers.clock import Clock
from providers.errors import NodePoolNotFoundError
from providers.kwok.capacity import (
    CAPACITY_CONFIGMAP,
    CAPACITY_KEY,
    CloudSettings,
    ReservationEntry,
    parse_settings,
)
from providers.kwok.kube import WRITE_ATTEMPTS, KubeCalls, NodeRef, lost_races
from providers.kwok.model import CLOUD_LABEL, IMPENDING_TERMINATION_TAINT


class CloudControls:
    """Test hooks mixed into :class:`~providers.kwok.provider.KwokProvider`."""

    namespace: str
    clock: Clock
    _kube: KubeCalls

    # Implemented by KwokProvider:

    async def _ensure_namespace(self) -> None:
        raise NotImplementedError

    async def delete_nodes(self, pool: str, nodes: Sequence[str]) -> NodePool:
        raise NotImplementedError

    # -- capacity model ---------------------------------------------------------------------

    async def set_capacity(
        self, machine_type: str, zone: str, capacity_type: CapacityType, nodes: int | None
    ) -> None:
        """The offering supports ``nodes`` nodes in total (running included) from now on;
        ``None`` = unlimited, ``0`` = stocked out. Running nodes are never removed by this."""
        offering = OfferingKey(machine_type=machine_type, zone=zone, capacity_type=capacity_type)
        await self.update_cloud_settings(lambda s: s.with_capacity(offering, nodes))

    async def set_quota(self, region: str, metric: str, limit: int | None) -> None:
        """Limit a regional quota metric (``INSTANCES``, ``PREEMPTIBLE_NVIDIA_H100_80GB_GPUS``,
        ... see ``providers.simulated.ledger.quota_metrics``); ``None`` lifts it."""
        await self.update_cloud_settings(lambda s: s.with_quota(region, metric, limit))

    async def set_provisioning_delay(self, seconds: float) -> None:
        """Creates and grows take ``seconds`` before their Nodes appear."""
        await self.update_cloud_settings(
            lambda s: s.model_copy(update={"provisioning_delay_s": max(0.0, seconds)})
        )

    async def add_reservation(
        self,
        name: str,
        *,
        zone: str,
        machine_type: str,
        count: int,
        project: str | None = None,
        specific_only: bool = True,
    ) -> None:
        """Declare (or replace) a reservation of ``count`` VMs."""
        entry = ReservationEntry(
            name=name,
            project=project,
            zone=zone,
            machine_type=machine_type,
            count=count,
            specific_only=specific_only,
        )
        await self.update_cloud_settings(lambda s: s.with_reservation(entry))

    async def update_cloud_settings(self, change: Callable[[CloudSettings], CloudSettings]) -> None:
        """Read-modify-write the ``capacity`` ConfigMap, guarded by its ``resourceVersion``."""
        await self._ensure_namespace()
        for _ in range(WRITE_ATTEMPTS):
            cm = await self._kube.get_configmap(self.namespace, CAPACITY_CONFIGMAP)
            text = (cm.data or {}).get(CAPACITY_KEY) if cm is not None else None
            origin = f"ConfigMap {self.namespace}/{CAPACITY_CONFIGMAP} data.{CAPACITY_KEY}"
            updated = change(parse_settings(text, origin=origin))
            metadata: dict[str, str] = {"name": CAPACITY_CONFIGMAP}
            body = {"metadata": metadata, "data": {CAPACITY_KEY: updated.render()}}
            if cm is None:
                done = await self._kube.create_configmap(self.namespace, body)
            else:
                metadata["resourceVersion"] = str(cm.metadata.resource_version)
                done = await self._kube.replace_configmap(self.namespace, body)
            if done is not None:
                return
        raise lost_races(f"update ConfigMap {self.namespace}/{CAPACITY_CONFIGMAP}")

    # -- disruptions ------------------------------------------------------------------------

    async def preempt(self, node_name: str, *, notice_s: float = 0.0) -> bool:
        """Preempt a spot node: taint it with the termination notice, wait ``notice_s``, shrink
        its pool by one and delete it. ``False`` when no such Node of this cloud exists."""
        node = await self._kube.get_node(node_name)
        if node is None or node.labels.get(CLOUD_LABEL) != self.namespace:
            return False
        notice = {"key": IMPENDING_TERMINATION_TAINT, "value": "true", "effect": "NoSchedule"}
        await self._kube.patch_node(node_name, {"spec": {"taints": [notice]}})
        if notice_s > 0:
            await self.clock.sleep(notice_s)
        await self._remove_node(node)
        return True

    async def expire_flex_start(self, now: datetime | None = None) -> list[str]:
        """Remove every flex-start Node whose deadline is at or before ``now`` (default: the
        clock's now), shrinking its pool. Returns the removed Node names, sorted."""
        cutoff = (now or self.clock.now()).timestamp()
        selector = f"{CLOUD_LABEL}={self.namespace},{well_known.FLEX_START_DEADLINE_LABEL}"
        removed: list[str] = []
        for node in await self._kube.list_nodes(selector):
            deadline = node.labels.get(well_known.FLEX_START_DEADLINE_LABEL, "")
            if deadline.isdigit() and int(deadline) <= cutoff:
                await self._remove_node(node)
                removed.append(node.name)
        return sorted(removed)

    async def _remove_node(self, node: NodeRef) -> None:
        """Take the Node out of its pool (shrinking it by one, crash-safe: see
        ``delete_nodes``); a Node whose pool is gone is simply deleted."""
        pool = node.labels.get(well_known.NODE_POOL_LABEL)
        if pool:
            with contextlib.suppress(NodePoolNotFoundError):
                await self.delete_nodes(pool, [node.name])
        await self._kube.delete_node(node.name, uid=node.uid)
