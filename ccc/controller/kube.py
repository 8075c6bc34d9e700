"""The controller's thin boundary to the Kubernetes API: client construction and raw JSON calls.

The controller never deserializes into ``kubernetes_asyncio`` model objects: they cost several
times the memory of the JSON they came from and the informers keep thousands of objects. Calls
go through the ApiClient's own HTTP session (so authentication, TLS and token refresh stay the
library's job) with ``_preload_content=False`` and the body is parsed with :func:`json.loads`.
``kubernetes_asyncio`` is untyped, so this module is where ``Any`` meets the typed code.

Misbehaving networks (docs/design/012-api-faults-and-shutdown.md):

- **Every call has a time budget.** :func:`request_json` takes ``timeout_s`` (default 30 s) and
  :func:`open_request` requires a ``client_timeout``; besides the total, a response that stays
  silent for :data:`READ_IDLE_S` or a connection that takes :data:`CONNECT_S` fails the call.
- **Dead connections are found by the kernel too.** The ApiClient made by
  :func:`api_client_from` opens its sockets with TCP keep-alive (first probe after
  :data:`KEEPALIVE_IDLE_S`, then every :data:`KEEPALIVE_INTERVAL_S`, :data:`KEEPALIVE_PROBES`
  probes) and ``TCP_USER_TIMEOUT``, so a peer that vanished without a reset is noticed within
  :data:`DEAD_PEER_S` even on a connection nobody reads from.
- **A connection failure is retried at once when that is safe.** :func:`request_json` retries a
  call whose connection could not be opened (nothing was sent) and, for idempotent methods
  (GET, HEAD, PUT, DELETE), a call whose connection broke before the response, within the same
  time budget. POST and PATCH that may have reached the server are not repeated.
- **A dead connection is not picked from a pool twice in a row where it matters.** Idle
  pooled connections can die silently as well; a request that picks one fails after its
  budget and the connection is closed, and aiohttp drops idle ones after 15 s. Watches
  therefore use connections that are never pooled, and the leader election a pool of its own
  that it empties (:func:`fresh_connections`) after a request that got no answer
  (:func:`clone_client`), so neither waits behind, nor inherits, the dead connections of the
  rest of the controller.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import SocketFactoryType
from kubernetes_asyncio import client, config

ApiClient = Any
"""``kubernetes_asyncio.client.ApiClient`` (untyped library)."""

_AUTH_SETTINGS = ["BearerToken"]

#: Longest wait for a TCP connection (and its TLS handshake) to the API server.
CONNECT_S = 10.0
#: Longest silence of a response being read (a watch bounds its own, see the informer).
READ_IDLE_S = 20.0
#: TCP keep-alive: idle time before the first probe, interval between probes, probes.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_PROBES = 3
#: A peer that answers nothing (no ACK of data or probes) is declared dead after this long.
DEAD_PEER_S = KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_PROBES
#: Methods that may be sent again after the connection broke mid-request (RFC 9110 9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Pause before repeating a request whose connection failed (the next one usually works).
_RETRY_PAUSE_S = (0.05, 0.2, 0.5)


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
        api = await config.new_client_from_config(config_file=kubeconfig)
    else:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        api = client.ApiClient(configuration)
    await _use_keepalive_sockets(api)
    return api


def keepalive_socket(addr_info: Any) -> socket.socket:
    """A TCP socket with keep-alive probes and a user timeout (aiohttp's ``socket_factory``).

    ``TCP_KEEPIDLE``/``TCP_KEEPINTVL``/``TCP_KEEPCNT`` and ``TCP_USER_TIMEOUT`` are Linux
    options; where one is missing only ``SO_KEEPALIVE`` (with the system's timings) is set.
    """
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
        # Unacknowledged data (a request sent into a dead link) also fails after this long.
        ("TCP_USER_TIMEOUT", DEAD_PEER_S * 1000),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
    return sock


def _ssl_context(configuration: Any) -> ssl.SSLContext:
    """The TLS settings ``kubernetes_asyncio``'s REST client derives from a Configuration."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.disable_strict_ssl_verification:
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


async def clone_client(api: ApiClient, *, reuse_connections: bool = True) -> ApiClient:
    """A new ApiClient with ``api``'s configuration and a connection pool of its own.

    Args:
        api: the client to copy the configuration (server, credentials, TLS) from.
        reuse_connections: False for watches: each request then opens a new connection and
            closes it when done, so a watch resumed after a dead connection never picks
            another dead one from a pool (idle pooled connections can die silently too).

    The caller closes the clone (``await clone.close()``); it does not close ``api``.
    """
    clone = client.ApiClient(api.configuration)
    await _use_keepalive_sockets(clone, force_close=not reuse_connections)
    return clone


async def fresh_connections(api: ApiClient) -> None:
    """Replace the ApiClient's connection pool with an empty one and close the old connections.

    For a client of its own (:func:`clone_client`) after a request got no answer: its other
    pooled connections may be dead as well. Requests in flight on the old pool fail.
    """
    await _use_keepalive_sockets(
        api, force_close=api.rest_client.pool_manager.connector.force_close
    )


async def _use_keepalive_sockets(
    api: ApiClient,
    socket_factory: SocketFactoryType = keepalive_socket,
    *,
    force_close: bool = False,
) -> None:
    """Swap the ApiClient's HTTP session for one whose sockets use :func:`keepalive_socket`.

    ``kubernetes_asyncio`` builds its ``aiohttp`` connector itself and offers no socket hook,
    so the session is rebuilt with the same settings (TLS from the Configuration, connection
    limit, proxy from the environment, the 2 MiB read buffer for large watch events).
    Idle pooled connections are closed after aiohttp's 15 s keep-alive timeout.
    """
    configuration = api.configuration
    rest = api.rest_client
    connector = aiohttp.TCPConnector(
        limit=configuration.connection_pool_maxsize,
        ssl=_ssl_context(configuration),
        socket_factory=socket_factory,
        force_close=force_close,
    )
    old = rest.pool_manager
    rest.pool_manager = aiohttp.ClientSession(
        connector=connector, trust_env=True, read_bufsize=2**21
    )
    await old.close()


def client_timeout(total_s: float, *, read_idle_s: float = READ_IDLE_S) -> aiohttp.ClientTimeout:
    """A request budget: ``total_s`` in all, :data:`CONNECT_S` to connect, ``read_idle_s`` of
    silence at most."""
    return aiohttp.ClientTimeout(
        total=total_s, sock_connect=CONNECT_S, sock_read=min(total_s, read_idle_s)
    )


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
    client_timeout: aiohttp.ClientTimeout,
) -> aiohttp.ClientResponse:
    """Send one request and return the unread response (a stream for watches).

    ``client_timeout`` is required: no call to the API server may wait forever (see
    :func:`client_timeout`). The caller must release the response (``async with`` or
    ``release()``). The status is not checked: use :func:`raise_for_status`.
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
    timeout_s: float = 30.0,
) -> Any:
    """Send one request and return its parsed JSON body.

    A connection that cannot be opened is retried at once, and so is a broken connection for
    :data:`IDEMPOTENT` methods, all within ``timeout_s``.

    Args:
        api: the ApiClient.
        method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        path: absolute API path, e.g. ``/api/v1/namespaces/default/pods``.
        query: query parameters; ``None`` values are left out, booleans become ``true``/``false``.
        body: a JSON-serializable request body.
        content_type: e.g. ``application/merge-patch+json`` for PATCH.
        timeout_s: total time budget of the call, retries included.

    Raises:
        KubeApiError: the server answered with a non-2xx status.
        aiohttp.ClientError, TimeoutError: the connection failed or the budget ran out.
    """
    deadline = time.monotonic() + timeout_s
    attempt = 0
    while True:
        left = deadline - time.monotonic()
        try:
            response = await open_request(
                api,
                method,
                path,
                query=query,
                body=body,
                content_type=content_type,
                client_timeout=client_timeout(max(left, 0.001)),
            )
            await raise_for_status(response)
            try:
                data = await response.read()
            finally:
                response.release()
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            pause = _RETRY_PAUSE_S[min(attempt, len(_RETRY_PAUSE_S) - 1)]
            retry = isinstance(error, aiohttp.ClientConnectorError) or method in IDEMPOTENT
            if not retry or isinstance(error, TimeoutError) or left - pause < 1.0:
                raise
            attempt += 1
            await asyncio.sleep(pause)
            continue
        return json.loads(data) if data else None
