"""List+watch caches of Kubernetes objects (client-go's reflector and informer, slimmed down).

The controller decides from local caches, never from ad-hoc reads: an :class:`Informer` lists a
resource (paginated), then watches it from the list's resourceVersion, keeping one *projection*
per object in memory. Projections are small frozen values (see
:mod:`ccc.controller.projections`), so 5,000 pods and 500 nodes fit in a few tens of MiB; whole
objects are never kept and never deserialized into ``kubernetes_asyncio`` models.

Behaviour (the parts consumers rely on):

- ``synced`` becomes true once the first complete list has been stored; make no decision
  before (karpenter's ``Synced``).
- A watch that ends (the server-side timeout, a connection cut mid-stream, a connection found
  dead) is resumed *at once* from the last resourceVersion seen, bookmarks included, so no
  event is missed, nothing is listed again and no cache goes blind between two watches.
- A dead connection is found within :data:`WATCH_IDLE_S`: each watch asks the server to end it
  after ``watch_timeout_s`` (:data:`WATCH_TIMEOUT_S` by default), so a healthy watch is never
  silent for longer (a quiet resource gets no bookmarks), and a silence of
  :data:`WATCH_IDLE_S` means the connection is gone (packets dropped, no reset). TCP keep-alive
  on the ApiClient's sockets (:mod:`ccc.controller.kube`) covers the kernel side.
- ``410 Gone`` (HTTP status or an ``ERROR`` event with code 410: the resourceVersion left the
  API server's window) triggers a relist; the new list is diffed against the store and
  synthetic ``ADDED`` / ``MODIFIED`` / ``DELETED`` notifications are emitted, so consumers stay
  correct without knowing a relist happened.
- The cache itself (projections, the diff after a relist, notifications) is
  :class:`ccc.controller.store.Store`; this module is the reflector that feeds it.
- Only real errors back off: a list or watch request that fails (connection refused, HTTP 429
  or 5xx), and watches that end at once without a word twice in a row (one is a cut
  connection and is resumed at once; a server that keeps doing it must not be hammered). The
  backoff is jittered, exponential and capped at :data:`BACKOFF_CAP_S`, and resets as soon as
  a list succeeds or a watch has been healthy. Every failure is logged
  (``informer.watch_error``, ``informer.list_error``) and the informer only stops when its
  task is cancelled.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp
import structlog

from ccc.controller.kube import (
    CONNECT_S,
    ApiClient,
    KubeApiError,
    clone_client,
    open_request,
    request_json,
)
from ccc.controller.projections import NodeInfo, PodInfo, node_info, pod_info
from ccc.controller.store import ChangeHandler, Store, describe, object_key

__all__ = [
    "ChangeHandler",
    "Informer",
    "NodeInfo",
    "PodInfo",
    "Resource",
    "node_info",
    "object_key",
    "pod_info",
]

T = TypeVar("T")

_log = structlog.get_logger("ccc.controller.informer")

PAGE_LIMIT = 500
_LIST_TIMEOUT_S = 60.0
#: Server-side timeout of each watch request (``timeoutSeconds``); the watch is then resumed.
#: A healthy watch is never silent for longer: the server ends it, even on a quiet resource.
WATCH_TIMEOUT_S = 15
#: A watch silent for this long is on a dead connection: it is dropped and resumed at once.
WATCH_IDLE_S = 20.0
#: A watch that lasted this long, or delivered an event, was healthy (resets the backoff).
_HEALTHY_WATCH_S = 1.0
#: Backoff of real errors: first delay (jittered down to half), doubling up to the cap.
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 5.0


@dataclass(frozen=True, slots=True)
class Resource:
    """A watchable resource: ``Resource("", "v1", "pods", True)``,
    ``Resource("ccc.dev", "v1alpha1", "computeclasses", False)``."""

    group: str
    version: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None) -> str:
        """Collection path, across all namespaces unless ``namespace`` is given."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if namespace is not None:
            if not self.namespaced:
                raise ValueError(f"{self} is cluster-scoped; it has no namespace")
            base += f"/namespaces/{namespace}"
        return f"{base}/{self.plural}"

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


class _Gone(Exception):
    """The resourceVersion we resume from is too old (HTTP 410 or ERROR event code 410)."""


class _Backoff:
    """Full-jitter exponential backoff: uniform(base/2 .. min(cap, base·2^n))."""

    def __init__(self, *, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S) -> None:
        self._base_s = base_s
        self._cap_s = cap_s
        self._attempt = 0

    def next_delay_s(self) -> float:
        ceiling = min(self._cap_s, self._base_s * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0


class Informer(Generic[T]):
    """A list+watch cache of one resource, holding ``project(obj)`` per object.

    Args:
        api: the ApiClient (see :func:`ccc.controller.kube.api_client_from`).
        resource: what to watch (all namespaces for namespaced resources).
        project: turns a raw object (JSON dict) into the value kept in the store; must be cheap
            and must not keep references into the dict. An object it raises on is logged
            (``informer.project_error``) and left out of the store.
        key: store key of a raw object; ``namespace/name`` by default.
        namespace: watch only this namespace (namespaced resources only). Use this rather than a
            ``metadata.namespace=`` field selector: kube-apiserver 1.34 loses items when it
            paginates a cluster-wide list filtered by that selector (the continue token is
            resolved against the cluster-wide key range).
        label_selector: server-side label selector.
        field_selector: server-side field selector.
        on_change: see :data:`ChangeHandler`; exceptions it raises are logged
            (``informer.handler_error``) and do not stop the informer.
        watch_timeout_s: server-side timeout of each watch request; the watch is then resumed.
        watch_idle_s: a watch silent for this long is dropped as dead and resumed; must exceed
            ``watch_timeout_s`` (the server closes a quiet healthy watch before).
        name: used in logs; defaults to the resource name.
    """

    def __init__(
        self,
        api: ApiClient,
        resource: Resource,
        *,
        project: Callable[[dict[str, Any]], T],
        key: Callable[[dict[str, Any]], str] = object_key,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        on_change: ChangeHandler[T] | None = None,
        watch_timeout_s: int = WATCH_TIMEOUT_S,
        watch_idle_s: float = WATCH_IDLE_S,
        name: str | None = None,
    ) -> None:
        if not watch_idle_s > watch_timeout_s > 0:
            raise ValueError(
                f"watch_idle_s ({watch_idle_s}) must exceed watch_timeout_s ({watch_timeout_s}) > 0"
            )
        self._api = api
        self._resource = resource
        self._path = resource.path(namespace)
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._watch_timeout_s = watch_timeout_s
        self._watch_idle_s = watch_idle_s
        self.name = name or (f"{resource}/{namespace}" if namespace else str(resource))
        self._resource_version = ""
        self._synced = asyncio.Event()
        self._backoff = _Backoff()
        self._watch_api: ApiClient = None
        self._log = _log.bind(informer=self.name)
        self._store: Store[T] = Store(project=project, key=key, on_change=on_change, log=self._log)

    # -- reading the cache -------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """True once the first complete list is in the store (stays true afterwards)."""
        return self._synced.is_set()

    @property
    def resource_version(self) -> str:
        """The last resourceVersion seen (list, event or bookmark); ``""`` before the list."""
        return self._resource_version

    def get(self, key: str) -> T | None:
        """The stored projection for ``key`` (``namespace/name`` or ``name``), or None."""
        return self._store.get(key)

    def values(self) -> list[T]:
        """A snapshot list of every stored projection."""
        return self._store.values()

    def keys(self) -> list[str]:
        """A snapshot list of every stored key."""
        return self._store.keys()

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        return key in self._store

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (API)
        """Wait until :attr:`synced`.

        Raises:
            TimeoutError: not synced within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """List, then watch, until cancelled; see the module docstring for the guarantees.

        Running again after a cancelled run resumes the watch from :attr:`resource_version`
        (relisting only if the API server answers 410 Gone).
        """
        # Watches get connections of their own, never reused: after a dead connection, a
        # pooled one may be dead too (module docstring of ccc.controller.kube).
        self._watch_api = await clone_client(self._api, reuse_connections=False)
        try:
            await self._list_and_watch()
        finally:
            await self._watch_api.close()

    async def _list_and_watch(self) -> None:
        need_list = not self._resource_version
        short_watches = 0  # watches in a row that ended at once without a word
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                if await self._watch():
                    self._backoff.reset()
                    short_watches = 0
                    continue  # ended or cut after a healthy stretch: resume at once
                short_watches += 1
                if short_watches == 1:
                    continue  # one short watch is a fluke (a cut): resume at once too
                delay_s = self._backoff.next_delay_s()
                self._log.info(
                    "informer.watch_closed_at_once",
                    short_watches=short_watches,
                    retry_in_s=round(delay_s, 2),
                )
            except _Gone:
                self._log.info(
                    "informer.relist", reason="gone", resource_version=self._resource_version
                )
                need_list = True
                continue
            except asyncio.CancelledError:
                raise
            except Exception as error:
                delay_s = self._backoff.next_delay_s()
                event = "informer.list_error" if need_list else "informer.watch_error"
                self._log.warning(
                    event,
                    error=describe(error),
                    retry_in_s=round(delay_s, 2),
                    resource_version=self._resource_version,
                )
                if isinstance(error, KubeApiError) and error.status == 410:
                    need_list = True
            await asyncio.sleep(delay_s)

    async def _list(self) -> None:
        began = time.monotonic()
        query: dict[str, str | int | bool | None] = {
            "limit": PAGE_LIMIT,
            "labelSelector": self._label_selector,
            "fieldSelector": self._field_selector,
        }
        items: dict[str, T] = {}
        pages = 0
        resource_version = ""
        while True:
            try:
                page = await request_json(
                    self._api, "GET", self._path, query=query, timeout_s=_LIST_TIMEOUT_S
                )
            except KubeApiError as error:
                if error.status != 410 or not query.get("continue"):
                    raise
                # The continue token expired mid-list (client-go's pager does the same):
                # fall back to one unpaginated list.
                self._log.info("informer.list_restart", reason="continue_expired")
                query = {**query, "limit": None, "continue": None}
                items.clear()
                continue
            pages += 1
            for obj in page.get("items") or ():
                self._store.project_into(items, obj)
            metadata = page.get("metadata") or {}
            resource_version = str(metadata.get("resourceVersion") or resource_version)
            token = metadata.get("continue")
            del page
            if not token:
                break
            query["continue"] = token
        self._store.replace(items)
        self._resource_version = resource_version
        self._backoff.reset()
        self._log.info(
            "informer.listed",
            count=len(items),
            pages=pages,
            resource_version=resource_version,
            duration_s=round(time.monotonic() - began, 3),
        )
        if not self._synced.is_set():
            self._synced.set()
            self._log.info("informer.synced", count=len(items))

    async def _watch(self) -> bool:
        """One watch request, read until the stream ends.

        Returns:
            True when the watch was healthy (it delivered an event or lasted
            ``_HEALTHY_WATCH_S``) before it ended, was cut, or fell silent for
            ``watch_idle_s``: resume at once. False when the server ended it at once without a
            word: back off.

        Raises:
            _Gone: the resourceVersion is too old.
            KubeApiError: the server refused the watch (non-2xx) or sent an ``ERROR`` event.
            aiohttp.ClientError, TimeoutError: the request failed before the stream started.
        """
        query: dict[str, str | int | bool | None] = {
            "watch": True,
            "resourceVersion": self._resource_version,
            "allowWatchBookmarks": True,
            "timeoutSeconds": self._watch_timeout_s,
            "labelSelector": self._label_selector,
            "fieldSelector": self._field_selector,
        }
        # No total budget (the server ends the watch), but silence means a dead connection.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_S, sock_read=self._watch_idle_s
        )
        began = time.monotonic()
        events = 0
        interrupted: BaseException | None = None
        response = await open_request(
            self._watch_api, "GET", self._path, query=query, client_timeout=timeout
        )
        try:
            if response.status == 410:
                raise _Gone
            if response.status >= 300:
                body = await response.read()
                raise KubeApiError.from_body(response.status, response.reason or "", body)
            buffer = bytearray()
            try:
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    start = 0
                    while (end := buffer.find(b"\n", start)) >= 0:
                        line = bytes(buffer[start:end])
                        start = end + 1
                        if line.strip():
                            self._handle(json.loads(line))
                            events += 1
                    del buffer[:start]
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                # The stream started and broke: a cut connection, or silence past the idle
                # limit (a dead one). Everything read so far is applied; resume from there.
                interrupted = error
        finally:
            response.close()
        lasted_s = time.monotonic() - began
        healthy = events > 0 or lasted_s >= _HEALTHY_WATCH_S
        if interrupted is not None:
            self._log.info(
                "informer.watch_interrupted",
                error=describe(interrupted),
                events=events,
                duration_s=round(lasted_s, 3),
                resource_version=self._resource_version,
            )
        else:
            self._log.debug(
                "informer.watch_ended",
                events=events,
                duration_s=round(lasted_s, 3),
                resource_version=self._resource_version,
            )
        return healthy

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410:
                raise _Gone
            raise KubeApiError(code, str(obj.get("reason") or ""), str(obj.get("message") or ""))
        metadata = obj.get("metadata") or {}
        resource_version = metadata.get("resourceVersion")
        if kind == "BOOKMARK":
            if resource_version:
                self._resource_version = str(resource_version)
            self._log.debug("informer.bookmark", resource_version=self._resource_version)
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            self._log.warning("informer.unknown_event", type=kind)
            return
        if resource_version:
            self._resource_version = str(resource_version)
        self._store.apply(kind, obj)
