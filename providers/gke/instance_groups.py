"""The Compute Engine side of a GKE node pool: the managed instance groups (MIGs) behind
``NodePool.instanceGroupUrls``.

GKE's ``NodePool`` has no current size and no record of VMs it failed to create; the MIGs hold
both. Here: the pool's size (the groups' target sizes), deleting named nodes' VMs from their
groups, and the groups' recent VM creation errors (``instanceGroupManagers.listErrors``),
translated. Every call runs through :func:`providers.gke.operations.call`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

import structlog
from google.cloud import compute_v1, container_v1

from providers.errors import ProviderError
from providers.gke.clients import GoogleClients
from providers.gke.config import GKEConfig
from providers.gke.errors import translate_error
from providers.gke.operations import call, wait_for_zone_operation

log = structlog.get_logger(__name__)


def igm_of(url: str) -> tuple[str, str, str] | None:
    """``(project, zone, name)`` of ``.../projects/P/zones/Z/instanceGroupManagers/NAME``."""
    parts = url.rstrip("/").split("/")
    try:
        project = parts[parts.index("projects") + 1]
        zone = parts[parts.index("zones") + 1]
    except (ValueError, IndexError):
        return None
    if len(parts) < 2 or parts[-2] != "instanceGroupManagers":
        return None
    return project, zone, parts[-1]


async def node_count(clients: GoogleClients, config: GKEConfig, pool: container_v1.NodePool) -> int:
    """Sum of the target sizes of the pool's managed instance groups.

    GKE's ``NodePool`` has no current-size field; the MIGs behind ``instanceGroupUrls``
    (``.../zones/Z/instanceGroupManagers/NAME``) hold it. Falls back to
    ``initial_node_count`` when the pool has no instance group yet.
    """
    urls = list(pool.instance_group_urls)
    groups = [g for g in map(igm_of, urls) if g is not None]
    if not urls or len(groups) != len(urls):
        return int(pool.initial_node_count)
    igm = clients.instance_group_managers
    total = 0
    for project, zone, name in groups:
        request = compute_v1.GetInstanceGroupManagerRequest(
            project=project, zone=zone, instance_group_manager=name
        )
        manager = await call(
            functools.partial(igm.get, request=request, retry=None, timeout=config.call_timeout_s),
            config=config,
            what="compute.instance_group_managers.get",
            zone=zone,
        )
        total += int(manager.target_size)
    return total


async def delete_instances(
    clients: GoogleClients, config: GKEConfig, pool: container_v1.NodePool, nodes: Sequence[str]
) -> None:
    """Delete the named nodes' VMs from the pool's instance groups, shrinking them as many.

    On GKE a node's name is its VM instance's name, and each managed instance group
    (``gke-<cluster>-<pool>-<hash>-grp``) names its VMs ``<group minus -grp>-<suffix>``.
    Names not in the pool are skipped (``skipInstancesOnValidationError``).
    """
    groups = [g for g in (igm_of(url) for url in pool.instance_group_urls) if g is not None]
    igm = clients.instance_group_managers
    for project, zone, group in groups:
        base = group.removesuffix("-grp") + "-"
        members = [n for n in nodes if n.startswith(base)] if len(groups) > 1 else list(nodes)
        if not members:
            continue
        request = compute_v1.DeleteInstancesInstanceGroupManagerRequest(
            project=project,
            zone=zone,
            instance_group_manager=group,
            instance_group_managers_delete_instances_request_resource=(
                compute_v1.InstanceGroupManagersDeleteInstancesRequest(
                    instances=[f"zones/{zone}/instances/{n}" for n in members],
                    skip_instances_on_validation_error=True,
                )
            ),
        )
        log.info("gke.nodes_delete", pool=pool.name, zone=zone, nodes=len(members))
        operation = await call(
            functools.partial(
                igm.delete_instances_unary,
                request=request,
                retry=None,
                timeout=config.call_timeout_s,
            ),
            config=config,
            what="compute.instance_group_managers.delete_instances",
            zone=zone,
        )
        await wait_for_zone_operation(
            clients.zone_operations, operation, config=config, project=project, zone=zone
        )


async def vm_errors(
    clients: GoogleClients,
    config: GKEConfig,
    pool: container_v1.NodePool,
    *,
    since: datetime | None = None,
) -> list[ProviderError]:
    """Recent VM creation failures of the pool's instance groups, translated, newest first;
    errors older than ``since`` (timezone-aware) are left out."""
    igm = clients.instance_group_managers
    found: list[tuple[str, ProviderError]] = []
    for project, zone, group in filter(None, map(igm_of, pool.instance_group_urls)):
        request = compute_v1.ListErrorsInstanceGroupManagersRequest(
            project=project, zone=zone, instance_group_manager=group
        )
        items = await call(
            functools.partial(_list_errors, igm, request, config.call_timeout_s),
            config=config,
            what="compute.instance_group_managers.list_errors",
            zone=zone,
        )
        for item in items:
            stamp = item.timestamp
            if since is not None and stamp and _parse_time(stamp) < since:
                continue
            found.append((stamp, translate_error(item, zone=zone)))
    return [error for _, error in sorted(found, key=lambda f: f[0], reverse=True)]


def _parse_time(stamp: str) -> datetime:
    """RFC 3339 from Compute (``2026-11-24T10:00:00.123-08:00`` or ``...Z``)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _list_errors(
    igm: compute_v1.InstanceGroupManagersClient,
    request: compute_v1.ListErrorsInstanceGroupManagersRequest,
    timeout_s: float,
) -> list[compute_v1.InstanceManagedByIgmError]:
    """Every page of ``listErrors`` (pages are fetched lazily, so iterate in the thread)."""
    return list(igm.list_errors(request=request, retry=None, timeout=timeout_s))
