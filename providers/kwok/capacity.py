"""The kwok cloud's capacity model, kept in a ConfigMap so tests can script it while ccc runs.

``<namespace>/capacity`` holds one YAML document under ``data["cloud.yaml"]``::

    offerings:                       # total nodes per offering; a missing offering is unlimited
      a3-highgpu-8g:us-central1-a:spot: 4
    quota:                           # per region, per metric (see ``quota_metrics``)
      us-central1: {INSTANCES: 10, PREEMPTIBLE_NVIDIA_H100_80GB_GPUS: 16}
    provisioningDelaySeconds: 0      # how long a create or grow takes
    reservations:
      - {name: h100-block, zone: us-central1-a, machineType: a3-highgpu-8g, count: 4}

Admission reuses the simulated cloud's :class:`~providers.simulated.ledger.Ledger` (same
all-or-nothing checks, same errors, same quota metrics): a ledger is rebuilt for each decision
from these limits and the desired sizes of every pool ConfigMap, so nothing about capacity lives
in the controller's memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ccc.api.values import CapacityType, OfferingKey, region_of
from providers.errors import InvalidRequestError
from providers.simulated.ledger import Ledger, Reservation, quota_metrics
from providers.simulated.model import PoolShape

CAPACITY_CONFIGMAP = "capacity"
CAPACITY_KEY = "cloud.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ReservationEntry(_Model):
    """One reservation of the kwok cloud (``project`` defaults to the provider's project)."""

    name: str
    project: str | None = None
    zone: str
    machine_type: str = Field(alias="machineType")
    count: int = Field(ge=0)
    specific_only: bool = Field(default=True, alias="specificOnly")


class CloudSettings(_Model):
    """Limits of the kwok cloud (see the module docstring for the YAML form)."""

    offerings: dict[str, int | None] = Field(default_factory=dict)
    quota: dict[str, dict[str, int]] = Field(default_factory=dict)
    provisioning_delay_s: float = Field(default=0.0, ge=0, alias="provisioningDelaySeconds")
    reservations: tuple[ReservationEntry, ...] = ()

    @field_validator("offerings")
    @classmethod
    def _offering_keys(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        for key, limit in value.items():
            offering_key(key)
            if limit is not None and limit < 0:
                raise ValueError(f"{key}: a node limit is >= 0 (or null for unlimited)")
        return value

    def limits(self) -> dict[OfferingKey, int | None]:
        return {offering_key(k): v for k, v in self.offerings.items()}

    def with_capacity(self, offering: OfferingKey, nodes: int | None) -> CloudSettings:
        return self.model_copy(update={"offerings": {**self.offerings, str(offering): nodes}})

    def with_quota(self, region: str, metric: str, limit: int | None) -> CloudSettings:
        quota = {r: dict(m) for r, m in self.quota.items()}
        if limit is None:
            quota.get(region, {}).pop(metric, None)
        else:
            quota.setdefault(region, {})[metric] = limit
        return self.model_copy(update={"quota": {r: m for r, m in quota.items() if m}})

    def with_reservation(self, entry: ReservationEntry) -> CloudSettings:
        kept = tuple(
            r for r in self.reservations if (r.name, r.project) != (entry.name, entry.project)
        )
        return self.model_copy(update={"reservations": (*kept, entry)})

    def render(self) -> str:
        """The YAML stored in the ConfigMap."""
        data = self.model_dump(mode="json", by_alias=True)
        return yaml.safe_dump(data, sort_keys=False)


def offering_key(text: str) -> OfferingKey:
    """``machineType:zone:capacityType`` -> :class:`OfferingKey`.

    Raises:
        ValueError: wrong form or unknown capacity type (the message says the right form).
    """
    parts = text.split(":")
    kinds = ", ".join(c.value for c in CapacityType)
    if len(parts) != 3 or parts[2] not in {c.value for c in CapacityType}:
        raise ValueError(
            f"offering {text!r} must be machineType:zone:capacityType with capacityType one "
            f"of {kinds} (for example a3-highgpu-8g:us-central1-a:spot)"
        )
    return OfferingKey(machine_type=parts[0], zone=parts[1], capacity_type=CapacityType(parts[2]))


def parse_settings(text: str | None, *, origin: str) -> CloudSettings:
    """Parse the ConfigMap's YAML (``None`` or empty = no limits).

    Raises:
        InvalidRequestError: not YAML or not the schema; the message names ``origin``, the
            field path and the expected form.
    """
    if not text or not text.strip():
        return CloudSettings()
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _bad(f"{origin}: not valid YAML: {exc}") from exc
    if data is None:
        return CloudSettings()
    if not isinstance(data, dict):
        raise _bad(
            f"{origin}: expected a mapping with offerings, quota, provisioningDelaySeconds "
            "and reservations"
        )
    try:
        return CloudSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise _bad(f"{origin}: {problems}") from exc


def _bad(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, scope="global", reason="INVALID_CLOUD_SETTINGS")


def build_ledger(
    settings: CloudSettings,
    pools: Iterable[tuple[PoolShape, int, Mapping[str, int]]],
    *,
    project: str,
) -> Ledger:
    """A ledger with ``settings``' limits and the bookings of ``pools``.

    Args:
        pools: ``(shape, desired node count, reservation bookings)`` of every existing pool.
    """
    ledger = Ledger(default_capacity=None, project=project)
    ledger.limits.update(settings.limits())
    for region, metrics in settings.quota.items():
        for metric, limit in metrics.items():
            ledger.quota_limits[(region, metric)] = limit
    booked: Counter[str] = Counter()
    for shape, count, reservations in pools:
        ledger.in_use[shape.offering] += count
        booked.update(reservations)
        region = region_of(shape.zone)
        for metric, amount in quota_metrics(shape):
            ledger.quota_usage[(region, metric)] += amount * count
    for entry in settings.reservations:
        reservation = Reservation(
            name=entry.name,
            project=entry.project or project,
            zone=entry.zone,
            machine_type=entry.machine_type,
            count=entry.count,
            specific_only=entry.specific_only,
        )
        reservation.in_use = booked[reservation.key]
        ledger.add_reservation(reservation)
    return ledger


def release_reservations(booked: Mapping[str, int], nodes: int) -> dict[str, int]:
    """Bookings after ``nodes`` nodes go away (the last-booked reservations give back first)."""
    out = dict(booked)
    for key in reversed(list(out)):
        give = min(out[key], nodes)
        out[key] -= give
        nodes -= give
    return {k: v for k, v in out.items() if v > 0}
