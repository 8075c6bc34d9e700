"""Refresh the catalog from live cloud APIs for ``ccc run`` and ``ccc catalog --refresh``.

The provider does the work (``providers.base.CatalogRefreshing``: for GKE, Compute for zones and
shapes, Cloud Billing for prices); this module bounds it in time and falls back to the catalog it
was given when the refresh fails as a whole (no credentials, timeout). Partial failures are
reported by the provider and logged here.
"""

from __future__ import annotations

import asyncio

import structlog

from ccc.api.catalog import Catalog
from ccc.api.catalog_diff import CatalogRefresh
from providers.base import CatalogRefreshing
from providers.errors import ProviderError

log = structlog.get_logger("ccc.catalog")

#: Bound on a whole refresh (listing Compute Engine's SKUs alone is ~40 pages).
REFRESH_TIMEOUT_S = 300.0


async def refresh_catalog(
    provider: object, catalog: Catalog, *, timeout_s: float = REFRESH_TIMEOUT_S
) -> Catalog:
    """``catalog`` refreshed by ``provider`` if it can, else ``catalog`` itself.

    Logs ``catalog.refreshed`` (what was refreshed, how many changes, what failed) or
    ``catalog.refresh_failed`` (and the snapshot is used).
    """
    if not isinstance(provider, CatalogRefreshing):
        return catalog
    try:
        async with asyncio.timeout(timeout_s):
            result = await provider.refresh_catalog(catalog)
    except (TimeoutError, ProviderError) as exc:
        log.warning("catalog.refresh_failed", error=str(exc)[:300] or type(exc).__name__)
        return catalog
    _log_result(result)
    return result.catalog


def _log_result(result: CatalogRefresh) -> None:
    kinds: dict[str, int] = {}
    for change in result.changes:
        kinds[change.kind] = kinds.get(change.kind, 0) + 1
    if result.failures:
        log.warning(
            "catalog.refresh_partial",
            refreshed=list(result.refreshed),
            failures=[f[:300] for f in result.failures],
        )
    log.info("catalog.refreshed", refreshed=list(result.refreshed), changes=kinds)


async def refresh_from_gke(
    catalog: Catalog,
    *,
    project: str,
    endpoint: str | None = None,
    timeout_s: float = REFRESH_TIMEOUT_S,
) -> CatalogRefresh:
    """Refresh ``catalog`` from ``project``'s Compute and Cloud Billing APIs (``ccc catalog
    --refresh``); ``endpoint`` points at a local emulator (anonymous, plain HTTP).

    Raises:
        ProviderError: no credentials (the parts' own API failures are in ``failures``).
        TimeoutError: the whole refresh took longer than ``timeout_s``.
    """
    from providers.gke.config import GKEConfig
    from providers.gke.provider import GKEProvider

    # The refresh reads project-level APIs only; the cluster fields are not used.
    if endpoint:
        config = GKEConfig.for_emulator(endpoint, project=project, location="-", cluster="-")
    else:
        config = GKEConfig(project=project, location="-", cluster="-")
    provider = await GKEProvider.connect(config)
    try:
        async with asyncio.timeout(timeout_s):
            return await provider.refresh_catalog(catalog)
    finally:
        provider.close()
