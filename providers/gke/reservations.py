"""Capacity signals from Compute Engine: reservations and where machine types exist.

* :func:`list_reservations` turns ``reservations.aggregatedList`` into
  :class:`ReservationCapacity` values (remaining = ``count - inUseCount`` per machine type and
  zone), so the priority walk skips a full reservation without trying it.
* :func:`list_accelerator_type_zones` reads ``acceleratorTypes.aggregatedList``: where each GPU
  type exists (the catalog refresh, :mod:`providers.gke.catalog_refresh`, uses it for N1 GPUs).

Aggregated lists page lazily: the whole iteration runs inside one worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.cloud import compute_v1

from ccc.api.values import ReservationCapacity
from providers.gke.clients import GoogleClients
from providers.gke.config import GKEConfig
from providers.gke.operations import call

#: Reservation states whose capacity can be consumed; others count as empty.
_USABLE = {"READY", ""}


def _last(url_or_name: str) -> str:
    return url_or_name.rstrip("/").rsplit("/", 1)[-1]


def reservation_capacities(
    pairs: Iterable[tuple[str, compute_v1.ReservationsScopedList]], *, project: str | None
) -> list[ReservationCapacity]:
    """Pure conversion of an aggregated list's ``(scope, scoped list)`` pairs.

    Args:
        pairs: what ``ReservationsClient.aggregated_list`` iterates (``"zones/Z"`` scopes).
        project: the owning project to record when it is not the cluster's (shared).
    """
    out: list[ReservationCapacity] = []
    for scope, scoped in pairs:
        for r in scoped.reservations:
            specific = r.specific_reservation
            machine_type = _last(specific.instance_properties.machine_type)
            if not machine_type:
                continue  # reservations without instance properties (e.g. from a template)
            usable = r.status in _USABLE
            out.append(
                ReservationCapacity(
                    name=r.name,
                    project=project,
                    zone=_last(r.zone) if r.zone else _last(scope),
                    machine_type=machine_type,
                    count=specific.count if usable else 0,
                    in_use=specific.in_use_count if usable else 0,
                    specific_only=r.specific_reservation_required,
                )
            )
    return sorted(out, key=lambda c: (c.zone, c.name))


async def aggregated_pairs(
    client: Any, request: Any, config: GKEConfig, *, what: str
) -> list[tuple[str, Any]]:
    """Every ``(scope, scoped list)`` pair of a Compute ``aggregatedList`` call, paged lazily
    inside one worker thread (translated and retried by :func:`call`)."""
    pairs: list[tuple[str, Any]] = await call(
        lambda: list(
            client.aggregated_list(request=request, retry=None, timeout=config.call_timeout_s)
        ),
        config=config,
        what=what,
    )
    return pairs


async def list_reservations(clients: GoogleClients, config: GKEConfig) -> list[ReservationCapacity]:
    """Reservations of ``config.reservations_project`` (default: the cluster's project).

    Raises:
        ProviderError: translated API failure (PermissionDeniedError without
            ``compute.reservations.list``).
    """
    project = config.reservations_project or config.project
    request = compute_v1.AggregatedListReservationsRequest(project=project)
    pairs = await aggregated_pairs(
        clients.reservations, request, config, what="compute.reservations.aggregated_list"
    )
    return reservation_capacities(pairs, project=None if project == config.project else project)


async def list_accelerator_type_zones(
    clients: GoogleClients, config: GKEConfig
) -> dict[str, tuple[str, ...]]:
    """Zones offering each accelerator type (``nvidia-h100-80gb`` -> zones), sorted."""
    request = compute_v1.AggregatedListAcceleratorTypesRequest(project=config.project)
    pairs = await aggregated_pairs(
        clients.accelerator_types, request, config, what="compute.accelerator_types.aggregated_list"
    )
    return _zones_by_name(pairs, "accelerator_types")


def _zones_by_name(pairs: Iterable[tuple[str, Any]], items: str) -> dict[str, tuple[str, ...]]:
    """Zones of each named item of an aggregated list (``(scope, scoped list)`` pairs)."""
    zones: dict[str, set[str]] = {}
    for scope, scoped in pairs:
        for item in getattr(scoped, items):
            zones.setdefault(item.name, set()).add(_last(item.zone) if item.zone else _last(scope))
    return {name: tuple(sorted(z)) for name, z in sorted(zones.items())}
