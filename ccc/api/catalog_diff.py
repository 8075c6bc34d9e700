"""What changed between two catalogs (a snapshot and its live refresh), as data.

:func:`diff` compares machine-type shapes, zones, prices and per-GPU prices and returns one
:class:`CatalogChange` per difference, in a stable order, so ``ccc catalog --refresh`` can print
them and the controller can log a summary. :class:`CatalogRefresh` is what a refresh returns:
the new catalog, its changes, and the parts that failed (and kept the snapshot's values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ccc.api.catalog import Catalog, MachineType

ChangeKind = Literal["shape", "zones", "price", "gpu-price"]


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """One difference. ``subject`` is a machine type (or GPU type for ``gpu-price``);
    ``detail`` the region or field; ``before``/``after`` printable values (``-`` for none)."""

    kind: ChangeKind
    subject: str
    detail: str
    before: str
    after: str
    source: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "detail": self.detail,
            "before": self.before,
            "after": self.after,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class CatalogRefresh:
    """The result of refreshing a catalog from live sources."""

    catalog: Catalog
    changes: tuple[CatalogChange, ...] = ()
    #: Parts that could not be refreshed (``"prices: PermissionDenied ..."``); their values
    #: are the snapshot's.
    failures: tuple[str, ...] = ()
    refreshed: tuple[str, ...] = field(default_factory=tuple)


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _shape(m: MachineType) -> str:
    acc = f", {m.accelerator.type} x {m.accelerator.count}" if m.accelerator else ""
    return f"{m.vcpus} vCPU, {m.memory_gb:g} GB{acc}"


def _zones(zones: Sequence[str], *, shown: int = 6) -> str:
    if not zones:
        return "-"
    more = f" ... {len(zones) - shown} more" if len(zones) > shown else ""
    return ", ".join(zones[:shown]) + more


def diff(before: Catalog, after: Catalog) -> list[CatalogChange]:
    """Every difference from ``before`` to ``after`` that a user would care about."""
    out: list[CatalogChange] = []
    for m in after.machine_types:
        old = before.machine_type(m.name)
        if old is None:
            out.append(CatalogChange("shape", m.name, "machine type", "-", _shape(m)))
            continue
        if _shape(old) != _shape(m):
            out.append(CatalogChange("shape", m.name, "shape", _shape(old), _shape(m)))
        added = sorted(set(m.zones) - set(old.zones))
        removed = sorted(set(old.zones) - set(m.zones))
        if added:
            out.append(CatalogChange("zones", m.name, "added", "-", _zones(added)))
        if removed:
            out.append(CatalogChange("zones", m.name, "removed", _zones(removed), "-"))
        verified = sorted(set(old.unverified_zones) - set(m.unverified_zones) & set(m.zones))
        if verified:
            out.append(CatalogChange("zones", m.name, "now verified", "-", _zones(verified)))
    old_prices = {(mt, region): c for mt, region, c in before.price_items()}
    for mt, region, p in sorted(after.price_items(), key=lambda item: (item[0], item[1])):
        q = old_prices.get((mt, region))
        for cap, new, was, src in (
            ("on-demand", p.on_demand, q.on_demand if q else None, p.source),
            ("spot", p.spot, q.spot if q else None, p.spot_source or p.source),
        ):
            if new != was:
                out.append(
                    CatalogChange("price", mt, f"{region} {cap}", _money(was), _money(new), src)
                )
    old_gpu = {(a.accelerator_type, a.region): a for a in before.accelerator_prices}
    for a in after.accelerator_prices:
        b = old_gpu.get((a.accelerator_type, a.region))
        for cap, new, was in (
            ("on-demand", a.on_demand, b.on_demand if b else None),
            ("spot", a.spot, b.spot if b else None),
        ):
            if new != was:
                out.append(
                    CatalogChange(
                        "gpu-price",
                        a.accelerator_type,
                        f"{a.region} {cap}",
                        _money(was),
                        _money(new),
                        a.source,
                    )
                )
    return out
