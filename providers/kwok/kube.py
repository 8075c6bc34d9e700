"""The kwok provider's API-server calls: retries of transient failures and error translation.

Every call goes through :meth:`KubeCalls._call`, which bounds each attempt by a request timeout
(a dead connection must not hang a provider call), retries transient failures (HTTP 429 and
5xx, connection errors, timeouts) with exponential backoff (the first retry after a broken
connection almost at once) and translates whatever is left into
the :mod:`providers.errors` tree in :func:`translate_api_error`, the one place that does it.
The outcomes callers branch on (a missing object, an object that already exists, a stale
``resourceVersion``) are returned as values, not raised. ``kubernetes_asyncio`` is untyped, so
objects cross this boundary as ``Any``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from ccc.api.apicall import ApiCall
from providers.clock import Clock
from providers.errors import (
    InvalidRequestError,
    NodePoolNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
)

T = TypeVar("T")

_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Pause before the first retry of a call whose connection failed (later ones back off).
_CONNECTION_RETRY_S = 0.05
#: Times a write is re-decided after losing a race (stale resourceVersion, concurrent create).
WRITE_ATTEMPTS = 5

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    ApiCall("", "namespaces", "create", "make sure the cloud namespace exists"),
    *(
        ApiCall("", "configmaps", verb, f"{why} (pool records, capacity model)")
        for verb, why in (
            ("get", "read a record"),
            ("list", "list the records"),
            ("create", "record a new pool"),
            ("update", "resize a pool, resourceVersion-guarded"),
            ("delete", "delete a pool record"),
        )
    ),
    *(
        ApiCall("", "nodes", verb, f"{why} (a pool's KWOK Nodes)")
        for verb, why in (
            ("get", "read a Node"),
            ("list", "list a pool's Nodes"),
            ("create", "create Nodes"),
            ("patch", "taint a Node being preempted"),
            ("delete", "remove Nodes"),
        )
    ),
)


def lost_races(what: str) -> ProviderUnavailableError:
    """The error for a write that lost :data:`WRITE_ATTEMPTS` races in a row."""
    return ProviderUnavailableError(
        f"{what}: the object kept changing underneath ({WRITE_ATTEMPTS} attempts); retry",
        scope="global",
        reason="CONFLICT",
    )


def translate_api_error(exc: BaseException, what: str) -> ProviderError:
    """The provider error for a failed API call (``what`` says which call, for the message)."""
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        detail = f"{what}: HTTP {status} {exc.reason or ''}".strip()
        if status in (401, 403):
            return PermissionDeniedError(
                f"{detail}; grant the controller's identity access to ConfigMaps in the kwok "
                "cloud's namespace and to Nodes",
                scope="global",
                reason="PERMISSION_DENIED",
            )
        if status == 404:
            return NodePoolNotFoundError(detail, scope="zone", reason="NOT_FOUND")
        if status in (400, 422):
            return InvalidRequestError(
                f"{detail}: {exc.body!s:.500}", scope="zone", reason="INVALID_ARGUMENT"
            )
        if status in _TRANSIENT_STATUSES or status == 409:
            return ProviderUnavailableError(detail, scope="global", reason="UNAVAILABLE")
        return ProviderError(detail, scope="zone", reason=f"HTTP_{status}")
    return ProviderUnavailableError(
        f"{what}: {type(exc).__name__}: {exc}", scope="global", reason="UNAVAILABLE"
    )


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return int(exc.status or 0) in _TRANSIENT_STATUSES
    return isinstance(exc, aiohttp.ClientError | TimeoutError)


@dataclass(frozen=True, slots=True)
class NodeRef:
    """What the provider needs of a Node (listing many Nodes skips the client's slow models)."""

    name: str
    uid: str
    labels: Mapping[str, str]
    deleting: bool
    taint_keys: frozenset[str]

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> NodeRef:
        meta = obj.get("metadata") or {}
        taints = (obj.get("spec") or {}).get("taints") or ()
        return cls(
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            labels=dict(meta.get("labels") or {}),
            deleting=meta.get("deletionTimestamp") is not None,
            taint_keys=frozenset(str(t.get("key", "")) for t in taints),
        )


def _status(exc: BaseException) -> int:
    return int(exc.status or 0) if isinstance(exc, ApiException) else 0


class KubeCalls:
    """ConfigMap, Namespace and Node calls of the kwok provider.

    Args:
        api: the ``kubernetes_asyncio`` ``ApiClient`` (owned by the caller).
        clock: sleeps between retries.
        max_transient_retries: retries of one call before ``ProviderUnavailableError``.
        retry_backoff_s: first retry delay, doubled on each retry (capped at 5 s).
        request_timeout_s: budget of one attempt (wall-clock time, not ``clock``: it bounds
            real I/O); an attempt that runs out is a transient failure and is retried.
    """

    def __init__(
        self,
        api: Any,
        *,
        clock: Clock,
        max_transient_retries: int,
        retry_backoff_s: float,
        request_timeout_s: float = 20.0,
    ) -> None:
        if request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s must be positive, got {request_timeout_s}")
        self.core: Any = client.CoreV1Api(api)
        self.clock = clock
        self.max_transient_retries = max_transient_retries
        self.retry_backoff_s = retry_backoff_s
        self.request_timeout_s = request_timeout_s

    async def _call(
        self, what: str, call: Callable[[], Awaitable[T]], *, expected: frozenset[int]
    ) -> T | int:
        """Run ``call`` with retries; an ``ApiException`` whose status is in ``expected`` is
        returned as that status instead of raised."""
        retries = 0
        while True:
            try:
                async with asyncio.timeout(self.request_timeout_s):
                    return await call()
            except asyncio.CancelledError:
                raise
            except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
                if _status(exc) in expected:
                    return _status(exc)
                if not _is_transient(exc) or retries >= self.max_transient_retries:
                    raise translate_api_error(exc, what) from exc
                backoff = min(5.0, self.retry_backoff_s * 2**retries)
                if retries == 0 and isinstance(exc, aiohttp.ClientConnectionError):
                    # A refused or broken connection: the next one usually works, and a write
                    # that did land is found by the retry (409/404 above), so try again now.
                    backoff = _CONNECTION_RETRY_S
                retries += 1
                await self.clock.sleep(backoff)

    # -- namespaces and ConfigMaps ----------------------------------------------------------

    async def ensure_namespace(self, namespace: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        await self._call(
            f"create namespace {namespace}",
            lambda: self.core.create_namespace(body),
            expected=frozenset({409}),
        )

    async def get_configmap(self, namespace: str, name: str) -> Any | None:
        found = await self._call(
            f"read configmap {namespace}/{name}",
            lambda: self.core.read_namespaced_config_map(name, namespace),
            expected=frozenset({404}),
        )
        return None if isinstance(found, int) else found

    async def list_configmaps(self, namespace: str, selector: str) -> list[Any]:
        found = await self._call(
            f"list configmaps in {namespace}",
            lambda: self.core.list_namespaced_config_map(namespace, label_selector=selector),
            expected=frozenset({404}),
        )
        return [] if isinstance(found, int) else list(found.items)

    async def create_configmap(self, namespace: str, body: dict[str, Any]) -> Any | None:
        """The created ConfigMap, or ``None`` when one of that name already exists."""
        made = await self._call(
            f"create configmap {namespace}/{body['metadata']['name']}",
            lambda: self.core.create_namespaced_config_map(namespace, body),
            expected=frozenset({409}),
        )
        return None if isinstance(made, int) else made

    async def replace_configmap(self, namespace: str, body: dict[str, Any]) -> Any | None:
        """The replaced ConfigMap, or ``None`` when its ``resourceVersion`` is stale or it is
        gone (the caller re-reads and decides again)."""
        name = body["metadata"]["name"]
        done = await self._call(
            f"replace configmap {namespace}/{name}",
            lambda: self.core.replace_namespaced_config_map(name, namespace, body),
            expected=frozenset({404, 409}),
        )
        return None if isinstance(done, int) else done

    async def delete_configmap(self, namespace: str, name: str, *, uid: str | None = None) -> None:
        """Delete (missing is fine); with ``uid``, only that incarnation of the ConfigMap."""
        options = {"preconditions": {"uid": uid}} if uid else None
        await self._call(
            f"delete configmap {namespace}/{name}",
            lambda: self.core.delete_namespaced_config_map(name, namespace, body=options),
            expected=frozenset({404, 409}),
        )

    # -- nodes ------------------------------------------------------------------------------

    async def list_nodes(self, selector: str) -> list[NodeRef]:
        async def fetch() -> Any:
            response = await self.core.list_node(label_selector=selector, _preload_content=False)
            try:
                if not 200 <= response.status <= 299:
                    raise ApiException(status=response.status, reason=response.reason)
                return await response.json()
            finally:
                response.release()

        found = await self._call("list nodes", fetch, expected=frozenset())
        items = found.get("items") if isinstance(found, dict) else None
        return [NodeRef.from_dict(item) for item in items or ()]

    async def get_node(self, name: str) -> NodeRef | None:
        found = await self._call(
            f"read node {name}", lambda: self.core.read_node(name), expected=frozenset({404})
        )
        if isinstance(found, int):
            return None
        return NodeRef.from_dict(self.core.api_client.sanitize_for_serialization(found))

    async def create_node(self, body: dict[str, Any]) -> bool:
        """Create a Node; ``False`` when one of that name already exists."""
        made = await self._call(
            f"create node {body['metadata']['name']}",
            lambda: self.core.create_node(body),
            expected=frozenset({409}),
        )
        return not isinstance(made, int)

    async def patch_node(self, name: str, patch: dict[str, Any]) -> bool:
        """Strategic-merge-patch a Node; ``False`` when it is gone."""
        done = await self._call(
            f"patch node {name}",
            lambda: self.core.patch_node(name, patch),
            expected=frozenset({404}),
        )
        return not isinstance(done, int)

    async def delete_node(self, name: str, *, uid: str | None = None) -> None:
        """Delete a Node (missing is fine); with ``uid``, only that incarnation."""
        options = {"preconditions": {"uid": uid}} if uid else None
        await self._call(
            f"delete node {name}",
            lambda: self.core.delete_node(name, body=options),
            expected=frozenset({404, 409}),
        )
