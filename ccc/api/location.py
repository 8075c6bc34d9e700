"""Where the cluster lives: one region and the zones its nodes use by default.

A GKE cluster lives in one region (a regional cluster spans zones of it; a zonal cluster sits
in one zone of it, and its node pools may use other zones of the same region). Every node pool
ccc creates or scales therefore lies in that region. The controller learns the location from its
provider (GKE: ``clusters.get``, the cluster's ``location`` and ``locations``; kwok and the
simulated cloud: configured); ``ccc plan`` takes ``--region``/``--zones`` or derives them
(:func:`policies.location.resolve_location`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ccc.api.catalog import Catalog
from ccc.api.errors import ConfigError
from ccc.api.values import region_of

#: The region ``ccc plan`` assumes when neither flags nor the class name a zone. us-central1
#: offers most accelerator families of the built-in catalog (L4, A100, H100, H200, B200, TPU
#: v5e, v5p and v6e), so a plan of a class that names no zone shows the widest ladder.
DEFAULT_REGION = "us-central1"


class ClusterLocation(BaseModel):
    """The cluster's region and default node zones.

    ``zones`` are the cluster's node locations: the zones rules that name none use. A rule may
    name other zones of the same region (GKE creates node pools in any zone of the cluster's
    region); zones of other regions are outside the cluster and never tried.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str = Field(min_length=1)
    zones: tuple[str, ...] = ()
    #: Where the location came from, for plan headers and logs ("--zones", "GKE cluster ...").
    source: str = ""

    @model_validator(mode="after")
    def _zones_in_region(self) -> ClusterLocation:
        stray = [z for z in self.zones if region_of(z) != self.region]
        if stray:
            raise ValueError(
                f"zones {', '.join(stray)} are not in region {self.region}; a cluster's zones "
                "all lie in its region"
            )
        return self

    def contains(self, zone: str) -> bool:
        """True when ``zone`` lies in the cluster's region."""
        return region_of(zone) == self.region

    def describe(self) -> str:
        """``us-central1 (zones us-central1-a, us-central1-b; from --zones)``."""
        zones = f"zones {', '.join(self.zones)}" if self.zones else "no default zones"
        source = f"; {self.source}" if self.source else ""
        return f"{self.region} ({zones}{source})"


def catalog_zones_in(catalog: Catalog, region: str) -> tuple[str, ...]:
    """Zones of ``region`` that offer at least one machine type of the catalog, sorted."""
    return tuple(z for z in catalog.zones() if region_of(z) == region)


def configured_location(
    catalog: Catalog,
    *,
    region: str | None = None,
    zones: Sequence[str] | None = None,
    what: str = "configured",
) -> ClusterLocation:
    """A location from settings (``--region``/``--zones`` of ``ccc run`` or ``ccc plan``):
    the zones' region; else ``region`` with every catalog zone of it; else the default region.

    Raises:
        ConfigError: ``zones`` span several regions or do not lie in ``region``.
    """
    if zones:
        regions = list(dict.fromkeys(region_of(z) for z in zones))
        if len(regions) > 1:
            raise ConfigError(
                f"zones {', '.join(zones)} span regions {', '.join(regions)}; a cluster lives in "
                "one region: pass the zones of one region",
                path="--zones",
            )
        if region is not None and regions[0] != region:
            raise ConfigError(
                f"zones {', '.join(zones)} are not in region {region}; pass zones of {region} "
                "or drop --region",
                path="--zones",
            )
        return ClusterLocation(region=regions[0], zones=tuple(zones), source=f"{what} zones")
    if region:
        return ClusterLocation(
            region=region,
            zones=catalog_zones_in(catalog, region),
            source=f"{what} region; zones: every zone of it in the catalog",
        )
    return ClusterLocation(
        region=DEFAULT_REGION,
        zones=catalog_zones_in(catalog, DEFAULT_REGION),
        source=f"the default region {DEFAULT_REGION}",
    )
