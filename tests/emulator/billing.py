"""The Cloud Billing Catalog half of the emulator: ``services/{service}/skus``, paged.

Mixed into :class:`tests.emulator.state.GKEEmulatorState`. SKUs are kept as the REST JSON the
real API sends (camelCase, int64 ``units`` as strings, ``nanos`` as numbers), so the real
``google-cloud-billing`` client parses them exactly as it parses Google's answers. Tests add
SKUs with :meth:`BillingMixin.add_sku`; :func:`sku_json` builds one.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from tests.emulator.faults import ApiError, Fault

JSON = dict[str, Any]
COMPUTE_SERVICE_ID = "6F81-5844-456A"


def sku_json(
    description: str,
    *,
    group: str,
    usage_type: str = "OnDemand",
    regions: tuple[str, ...] = ("us-central1",),
    price: float,
    unit: str = "h",
    sku_id: str,
) -> JSON:
    """One Compute Engine SKU as the REST API returns it (price in USD per ``unit``)."""
    units = int(price)
    nanos = round((price - units) * 1e9)
    return {
        "name": f"services/{COMPUTE_SERVICE_ID}/skus/{sku_id}",
        "skuId": sku_id,
        "description": description,
        "category": {
            "serviceDisplayName": "Compute Engine",
            "resourceFamily": "Compute",
            "resourceGroup": group,
            "usageType": usage_type,
        },
        "serviceRegions": list(regions),
        "pricingInfo": [
            {
                "summary": "",
                "pricingExpression": {
                    "usageUnit": unit,
                    "displayQuantity": 1,
                    "tieredRates": [
                        {
                            "startUsageAmount": 0,
                            "unitPrice": {
                                "currencyCode": "USD",
                                "units": str(units),
                                "nanos": nanos,
                            },
                        }
                    ],
                    "usageUnitDescription": "hour" if unit == "h" else unit,
                    "baseUnit": "s",
                    "baseUnitDescription": "second",
                    "baseUnitConversionFactor": 3600,
                },
                "currencyConversionRate": 1,
                "effectiveTime": "2026-11-24T08:00:00.000Z",
            }
        ],
        "serviceProviderName": "Google",
        "geoTaxonomy": {"type": "REGIONAL", "regions": list(regions)},
    }


class BillingMixin:
    """SKUs of the emulated Cloud Billing Catalog (Compute Engine service only)."""

    lock: threading.RLock
    skus: list[JSON]
    _ids: itertools.count[int]

    def fault(
        self, method: str, *, pool: str | None = None, zone: str | None = None
    ) -> Fault | None:
        raise NotImplementedError

    def add_sku(self, description: str, **fields: Any) -> JSON:
        """Add one SKU (see :func:`sku_json`; ``sku_id`` defaults to a fresh one)."""
        fields.setdefault("sku_id", f"E{next(self._ids):03X}-0000-0000")
        sku = sku_json(description, **fields)
        with self.lock:
            self.skus.append(sku)
        return sku

    def list_skus(self, service: str, query: dict[str, list[str]]) -> JSON:
        """``GET /v1/services/{service}/skus``: pages of ``pageSize`` (default 5000)."""
        self.fault("skus")
        if service != COMPUTE_SERVICE_ID:
            raise ApiError(404, "NOT_FOUND", f"Service {service} not found.")
        size = int((query.get("pageSize") or ["5000"])[0]) or 5000
        token = (query.get("pageToken") or ["0"])[0]
        start = int(token) if token.isdigit() else 0
        with self.lock:
            page = self.skus[start : start + size]
            more = start + size < len(self.skus)
        answer: JSON = {"skus": page}
        if more:
            answer["nextPageToken"] = str(start + size)
        return answer
