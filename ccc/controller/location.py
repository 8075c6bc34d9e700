"""Where the cluster lives: asked of the provider when leadership starts.

GKE reports the cluster's region and zones (``clusters.get``); kwok and the simulated cloud
report the configured ``--region`` / ``--zones``. The decide step then plans only inside that
region (:mod:`policies.location`). The catalog's zones are refreshed from the cloud before the
controller starts (:mod:`ccc.controller.catalog_refresh`).
"""

from __future__ import annotations

import asyncio

import structlog

from ccc.api.catalog import Catalog
from ccc.api.location import ClusterLocation, configured_location
from ccc.controller.config import ControllerConfig
from providers.base import ClusterLocator, Provider

log = structlog.get_logger("ccc.controller")


async def learn_location(
    provider: Provider, catalog: Catalog, config: ControllerConfig
) -> ClusterLocation | None:
    """The cluster's region and zones from the provider; ``--zones`` narrows the zones.
    Without the capability, or when the call fails, ``--region``/``--zones`` decide (``None``
    when neither is set: each class's own zones, see :func:`policies.location.resolve_location`).
    """
    location: ClusterLocation | None = None
    if isinstance(provider, ClusterLocator):
        try:
            async with asyncio.timeout(config.provider_timeout_s):
                location = await provider.cluster_location()
        except Exception as exc:
            log.warning("cluster.location_failed", error=str(exc)[:300])
    if location is None and (config.region or config.default_zones):
        location = configured_location(
            catalog, region=config.region, zones=config.default_zones, what="--region/--zones"
        )
    if location is not None and config.default_zones:
        inside = tuple(z for z in config.default_zones if location.contains(z))
        if inside:
            location = location.model_copy(
                update={"zones": inside, "source": f"{location.source}; zones from --zones"}
            )
    if location is not None:
        log.info(
            "cluster.location",
            region=location.region,
            zones=list(location.zones),
            source=location.source,
        )
    return location
