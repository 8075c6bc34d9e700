"""Refresh the built-in catalog from live Google APIs; keep the snapshot where a part fails.

Two independent parts, each with its own fallback:

* **machine types** (Compute ``machineTypes.aggregatedList`` and ``acceleratorTypes``): the zones
  that offer each catalog machine type in this project, its vCPUs and memory, and where its
  attachable GPUs are. Zones the API reports are verified, so ``unverified_zones`` is cleared.
  Machine types the API does not report keep their snapshot (a filtered or partial answer must
  not erase the catalog).
* **prices** (Cloud Billing Catalog, :mod:`providers.gke.billing`): every price that can be
  derived from current SKUs replaces the snapshot's (source ``BILLING``, formula shown).

:func:`refresh` returns a :class:`~ccc.api.catalog_diff.CatalogRefresh` with the new catalog,
what changed and what failed; it raises nothing for API failures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from google.cloud import compute_v1

from ccc.api.builtin_catalog import load_billing_patterns
from ccc.api.catalog import Catalog, MachineType, Source
from ccc.api.catalog_diff import CatalogRefresh, diff
from ccc.api.machines import zone_order
from ccc.api.pricing import AcceleratorPrice, Price
from providers.errors import ProviderError
from providers.gke.billing import (
    BILLING_SOURCE,
    derive_prices,
    list_compute_skus,
    merge_prices,
    unit_prices,
)
from providers.gke.clients import GoogleClients
from providers.gke.config import GKEConfig
from providers.gke.reservations import aggregated_pairs, list_accelerator_type_zones


@dataclass(frozen=True, slots=True)
class MachineTypeInfo:
    """What Compute reports for one machine type across the project's zones."""

    zones: tuple[str, ...]
    vcpus: int
    memory_gb: float


def _last(url_or_name: str) -> str:
    return url_or_name.rstrip("/").rsplit("/", 1)[-1]


def machine_type_infos(pairs: Iterable[tuple[str, Any]]) -> dict[str, MachineTypeInfo]:
    """Pure conversion of ``machineTypes.aggregatedList`` ``(scope, scoped list)`` pairs."""
    zones: dict[str, set[str]] = {}
    shape: dict[str, tuple[int, float]] = {}
    for scope, scoped in pairs:
        for item in scoped.machine_types:
            zones.setdefault(item.name, set()).add(_last(item.zone) if item.zone else _last(scope))
            if item.guest_cpus and item.memory_mb:
                shape[item.name] = (item.guest_cpus, round(item.memory_mb / 1024, 2))
    return {
        name: MachineTypeInfo(tuple(sorted(z, key=zone_order)), *shape.get(name, (0, 0.0)))
        for name, z in zones.items()
    }


async def list_machine_types(
    clients: GoogleClients, config: GKEConfig, names: Iterable[str]
) -> dict[str, MachineTypeInfo]:
    """Zones and shapes of ``names`` as the project sees them.

    Raises:
        ProviderError: translated API failure.
    """
    wanted = sorted(set(names))
    request = compute_v1.AggregatedListMachineTypesRequest(project=config.project)
    if wanted:
        request.filter = f'name eq "({"|".join(wanted)})"'
    pairs = await aggregated_pairs(
        clients.machine_types, request, config, what="compute.machine_types.aggregated_list"
    )
    return machine_type_infos(pairs)


def apply_machine_types(
    catalog: Catalog,
    infos: Mapping[str, MachineTypeInfo],
    gpu_zones: Mapping[str, Iterable[str]],
) -> Catalog:
    """``catalog`` with zones, shapes and GPU attachment zones replaced by Compute's answer.

    Prices for regions that no longer have a zone are dropped (:meth:`Catalog.replaced`).
    """
    machines: list[MachineType] = []
    for m in catalog.machine_types:
        info = infos.get(m.name)
        if info is None or not info.zones:
            machines.append(m)
            continue
        update: dict[str, Any] = {"zones": info.zones, "unverified_zones": ()}
        if info.vcpus:
            update.update(vcpus=info.vcpus, memory_gb=info.memory_gb)
        if m.gpu_attachments and gpu_zones:
            update["gpu_attachments"] = tuple(
                a.model_copy(
                    update={
                        "zones": _within(info.zones, gpu_zones.get(a.type, ())),
                        "unverified_zones": (),
                    }
                )
                for a in m.gpu_attachments
            )
        machines.append(MachineType.model_validate({**m.model_dump(), **update}))
    return catalog.replaced(machine_types=tuple(machines))


def _within(zones: Iterable[str], allowed: Iterable[str]) -> tuple[str, ...]:
    keep = set(allowed)
    return tuple(z for z in zones if z in keep)


def apply_prices(
    catalog: Catalog,
    prices: Iterable[Price],
    gpus: Iterable[AcceleratorPrice],
    *,
    today: date,
) -> Catalog:
    """``catalog`` with ``prices`` (newest) merged in and the ``BILLING`` source recorded."""
    live = list(prices)
    gpu_by_key = {(a.accelerator_type, a.region): a for a in catalog.accelerator_prices}
    gpu_by_key.update({(a.accelerator_type, a.region): a for a in gpus})
    sources = dict(catalog.sources)
    sources[BILLING_SOURCE] = Source(
        title="Cloud Billing Catalog API, Compute Engine SKUs (live)",
        url="cloudbilling.googleapis.com services/6F81-5844-456A/skus",
        version=f"fetched {today.isoformat()}",
        as_of=today.isoformat(),
        license="Google Cloud list prices",
    )
    return catalog.replaced(
        cells=merge_prices(catalog, live),
        accelerator_prices=tuple(gpu_by_key.values()),
        sources=sources,
    )


async def refresh(
    catalog: Catalog,
    clients: GoogleClients,
    config: GKEConfig,
    *,
    today: date,
    machine_types: bool = True,
    prices: bool = True,
) -> CatalogRefresh:
    """Refresh ``catalog`` from Compute and Cloud Billing (see the module docstring)."""
    updated = catalog
    failures: list[str] = []
    refreshed: list[str] = []
    if machine_types:
        try:
            infos = await list_machine_types(
                clients, config, (m.name for m in catalog.machine_types)
            )
            gpu_zones = await list_accelerator_type_zones(clients, config)
            updated = apply_machine_types(updated, infos, gpu_zones)
            refreshed.append("machine types")
        except ProviderError as exc:
            failures.append(f"machine types and zones: {exc}")
    if prices:
        try:
            slow = dataclasses.replace(config, call_timeout_s=config.billing_timeout_s)
            skus = await list_compute_skus(clients, slow)
            live, gpus = derive_prices(updated, unit_prices(skus, load_billing_patterns()))
            updated = apply_prices(updated, live, gpus, today=today)
            refreshed.append("prices")
        except ProviderError as exc:
            failures.append(f"prices: {exc}")
    return CatalogRefresh(
        catalog=updated,
        changes=tuple(diff(catalog, updated)) if updated is not catalog else (),
        failures=tuple(failures),
        refreshed=tuple(refreshed),
    )
