"""The one Secret that holds the webhook's certificates: read it, and replace it guarded by its
resourceVersion. The chart creates the Secret (empty), so ``get`` and ``update`` on that one
name are all the RBAC this needs."""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ccc.api.apicall import ApiCall
from ccc.controller.kube import ApiClient, request_json

_TIMEOUT_S = 10.0

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    ApiCall("", "secrets", "get", "every replica reads the serving certificate"),
    ApiCall("", "secrets", "update", "a replica writes a new CA or serving certificate"),
)


@dataclass(frozen=True, slots=True)
class StoredSecret:
    """Decoded data and annotations of the Secret, and the object as read."""

    data: dict[str, bytes]
    annotations: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class SecretStore:
    """GET and PUT of ``namespaces/NS/secrets/NAME``.

    Raises (both methods):
        KubeApiError: 404 when the Secret does not exist; 409 from :meth:`write` when the
            Secret changed since it was read (another replica wrote first).
    """

    def __init__(self, api: ApiClient, *, namespace: str, name: str) -> None:
        self._api = api
        self.namespace = namespace
        self.name = name
        self._path = f"/api/v1/namespaces/{namespace}/secrets/{name}"

    async def read(self) -> StoredSecret:
        body = await request_json(self._api, "GET", self._path, timeout_s=_TIMEOUT_S)
        meta = body.get("metadata") or {}
        return StoredSecret(
            data={k: base64.b64decode(v) for k, v in (body.get("data") or {}).items()},
            annotations=dict(meta.get("annotations") or {}),
            raw=body,
        )

    async def write(
        self, read: StoredSecret, data: Mapping[str, bytes], annotations: Mapping[str, str]
    ) -> None:
        """Replace the data and merge ``annotations`` into the Secret as ``read`` returned it
        (its resourceVersion makes a concurrent writer's change a 409, never a lost update)."""
        body = copy.deepcopy(read.raw)
        meta = body.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        body["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
        await request_json(self._api, "PUT", self._path, body=body, timeout_s=_TIMEOUT_S)
