"""The one MutatingWebhookConfiguration whose ``caBundle`` the controller keeps current.

Only ``get`` and ``patch`` on that one name: the chart renders the configuration (without a
``caBundle``), and the controller writes the bundle into each of its webhooks with a JSON patch
guarded by the resourceVersion it read.
"""

from __future__ import annotations

import base64

from ccc.api.apicall import ApiCall
from ccc.controller.kube import ApiClient, request_json

_TIMEOUT_S = 10.0

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    ApiCall(
        "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "get", "read caBundle"
    ),
    ApiCall(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "patch",
        "publish the CA as the caBundle",
    ),
)
_BASE = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


class CaBundlePublisher:
    """Reads and writes ``webhooks[*].clientConfig.caBundle`` of one configuration."""

    def __init__(self, api: ApiClient, *, name: str) -> None:
        self._api = api
        self.name = name
        self._path = f"{_BASE}/{name}"

    async def read(self) -> tuple[list[bytes], str]:
        """Each webhook's current bundle (b"" when unset) and the resourceVersion.

        Raises:
            KubeApiError: 404 when the configuration does not exist.
        """
        body = await request_json(self._api, "GET", self._path, timeout_s=_TIMEOUT_S)
        bundles = [
            base64.b64decode((w.get("clientConfig") or {}).get("caBundle") or "")
            for w in body.get("webhooks") or ()
        ]
        return bundles, str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def publish(self, bundle: bytes, *, webhooks: int, resource_version: str) -> None:
        """Set every webhook's ``caBundle`` to ``bundle``.

        Raises:
            KubeApiError: 409/422 when the configuration changed since ``resource_version``.
        """
        encoded = base64.b64encode(bundle).decode()
        ops: list[dict[str, object]] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}
        ]
        ops += [
            {"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": encoded}
            for i in range(webhooks)
        ]
        await request_json(
            self._api,
            "PATCH",
            self._path,
            body=ops,
            content_type="application/json-patch+json",
            timeout_s=_TIMEOUT_S,
        )
