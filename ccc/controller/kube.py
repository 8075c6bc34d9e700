"""The controller's thin boundary to the Kubernetes API: client construction and raw JSON calls.

The controller never deserializes into ``kubernetes_asyncio`` model objects: they cost several
times the memory of the JSON they came from and the informers keep thousands of objects. Calls
go through the ApiClient's own HTTP session (so authentication, TLS and token refresh stay the
library's job) with ``_preload_content=False`` and the body is parsed with :func:`json.loads`.
``kubernetes_asyncio`` is untyped, so this module is where ``Any`` meets the typed code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config

ApiClient = Any
"""``kubernetes_asyncio.client.ApiClient`` (untyped library)."""

_AUTH_SETTINGS = ["BearerToken"]


class KubeApiError(Exception):
    """The API server answered with a non-2xx status.

    Attributes:
        status: HTTP status (409 Conflict, 410 Gone, 404 Not Found, ...).
        reason: the ``reason`` field of the returned ``Status`` (``AlreadyExists``, ``Expired``),
            or the HTTP reason phrase.
        message: the ``message`` field of the returned ``Status``, or the raw body (truncated).
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @classmethod
    def from_body(cls, status: int, phrase: str, body: bytes) -> KubeApiError:
        """Build the error from a response body that is usually a ``Status`` object."""
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return cls(
                status, str(parsed.get("reason") or phrase), str(parsed.get("message") or "")
            )
        return cls(status, phrase, body[:500].decode(errors="replace"))


async def api_client_from(kubeconfig: str | None) -> ApiClient:
    """Create an ApiClient from a kubeconfig file, or from the in-cluster service account.

    Args:
        kubeconfig: path of a kubeconfig file; ``None`` means in-cluster configuration
            (``KUBERNETES_SERVICE_HOST`` and the mounted service-account token).

    Returns:
        An open ApiClient; the caller closes it with ``await api.close()``.

    Raises:
        kubernetes_asyncio.config.ConfigException: the configuration cannot be loaded.
    """
    if kubeconfig is not None:
        return await config.new_client_from_config(config_file=kubeconfig)
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def _query(params: Mapping[str, str | int | bool | None]) -> list[tuple[str, str]]:
    out = []
    for key, value in params.items():
        if value is None:
            continue
        out.append((key, ("true" if value else "false") if isinstance(value, bool) else str(value)))
    return out


async def open_request(
    api: ApiClient,
    method: str,
    path: str,
    *,
    query: Mapping[str, str | int | bool | None] | None = None,
    body: Any = None,
    content_type: str = "application/json",
    client_timeout: aiohttp.ClientTimeout | float | None = None,
) -> aiohttp.ClientResponse:
    """Send one request and return the unread response (a stream for watches).

    The caller must release the response (``async with`` or ``release()``). The status is not
    checked: use :func:`raise_for_status`.
    """
    response: aiohttp.ClientResponse = await api.call_api(
        path,
        method,
        query_params=_query(query or {}),
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body,
        auth_settings=_AUTH_SETTINGS,
        _preload_content=False,
        _request_timeout=client_timeout,
    )
    return response


async def raise_for_status(response: aiohttp.ClientResponse) -> None:
    """Raise :class:`KubeApiError` (and release the response) unless the status is 2xx."""
    if 200 <= response.status < 300:
        return
    try:
        body = await response.read()
    finally:
        response.release()
    raise KubeApiError.from_body(response.status, response.reason or "", body)


async def request_json(
    api: ApiClient,
    method: str,
    path: str,
    *,
    query: Mapping[str, str | int | bool | None] | None = None,
    body: Any = None,
    content_type: str = "application/json",
    timeout_s: float | None = 30.0,
) -> Any:
    """Send one request and return its parsed JSON body.

    Args:
        api: the ApiClient.
        method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        path: absolute API path, e.g. ``/api/v1/namespaces/default/pods``.
        query: query parameters; ``None`` values are left out, booleans become ``true``/``false``.
        body: a JSON-serializable request body.
        content_type: e.g. ``application/merge-patch+json`` for PATCH.
        timeout_s: total time budget of the request.

    Raises:
        KubeApiError: the server answered with a non-2xx status.
        aiohttp.ClientError, TimeoutError: the connection failed or timed out.
    """
    response = await open_request(
        api,
        method,
        path,
        query=query,
        body=body,
        content_type=content_type,
        client_timeout=timeout_s,
    )
    await raise_for_status(response)
    try:
        data = await response.read()
    finally:
        response.release()
    return json.loads(data) if data else None
