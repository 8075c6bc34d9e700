"""A loopback HTTP server speaking the REST/JSON wire protocol of the GKE, Compute and Cloud
Billing Catalog APIs.

Stdlib only (``http.server`` in a daemon thread): the real ``google-cloud-container``,
``google-cloud-compute`` and ``google-cloud-billing`` clients, given a REST transport with
``url_scheme="http"`` and anonymous credentials, talk to it exactly as to Google: camelCase
JSON, int64 as strings, enums as ints where the client asks ``$alt=json;enum-encoding=int``
(ClusterManager) and as strings for Compute, errors as ``{"error": {"code", "status", "message"}}``.

Routes (P = project, L = location, C = cluster, Z = zone)::

    GET    /v1/projects/P/locations/L/clusters/C                      cluster (location, zones)
    GET    /v1/projects/P/locations/L/clusters/C/nodePools            list
    POST   /v1/projects/P/locations/L/clusters/C/nodePools            create -> Operation
    GET    /v1/projects/P/locations/L/clusters/C/nodePools/N          get
    DELETE /v1/projects/P/locations/L/clusters/C/nodePools/N          delete -> Operation
    POST   /v1/projects/P/locations/L/clusters/C/nodePools/N:setSize  resize -> Operation
    GET    /v1/projects/P/locations/L/operations/O                    operation
    GET    /compute/v1/projects/P/aggregated/{reservations,machineTypes,acceleratorTypes}
    GET    /compute/v1/projects/P/zones/Z/instanceGroupManagers/M
    POST   /compute/v1/projects/P/zones/Z/instanceGroupManagers/M/deleteInstances
    POST   /compute/v1/projects/P/zones/Z/instanceGroupManagers/M/listManagedInstances
    GET    /compute/v1/projects/P/zones/Z/instanceGroupManagers/M/listErrors
    GET    /compute/v1/projects/P/zones/Z/operations[/O]
    GET    /v1/services/S/skus                                         Cloud Billing Catalog

Use :func:`running_emulator` (a context manager) or the ``gke_emulator`` fixture of
:mod:`tests.emulator.fixtures`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.emulator.faults import ApiError
from tests.emulator.state import JSON, GKEEmulatorState, Recorded

_POOLS = r"/v1/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)/clusters/(?P<c>[^/]+)/nodePools"
_COMPUTE = r"/compute/v1/projects/(?P<p>[^/]+)"

Handler = Callable[[GKEEmulatorState, dict[str, str], JSON, dict[str, list[str]]], JSON]

_CLUSTER = r"/v1/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)/clusters/(?P<c>[^/:]+)"

_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(_CLUSTER + "$"), lambda s, m, b, q: s.get_cluster()),
    ("GET", re.compile(_POOLS + "$"), lambda s, m, b, q: s.list_pools()),
    ("POST", re.compile(_POOLS + "$"), lambda s, m, b, q: s.create_pool(b)),
    (
        "POST",
        re.compile(_POOLS + r"/(?P<n>[^/:]+):setSize$"),
        lambda s, m, b, q: s.set_size(m["n"], b),
    ),
    ("GET", re.compile(_POOLS + r"/(?P<n>[^/:]+)$"), lambda s, m, b, q: s.get_pool(m["n"])),
    ("DELETE", re.compile(_POOLS + r"/(?P<n>[^/:]+)$"), lambda s, m, b, q: s.delete_pool(m["n"])),
    (
        "GET",
        re.compile(r"/v1/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)/operations/(?P<o>[^/]+)$"),
        lambda s, m, b, q: s.get_operation(m["o"]),
    ),
    (
        "GET",
        re.compile(_COMPUTE + r"/aggregated/(?P<k>reservations|machineTypes|acceleratorTypes)$"),
        lambda s, m, b, q: s.aggregated(m["k"], (q.get("filter") or [""])[0]),
    ),
    (
        "GET",
        re.compile(_COMPUTE + r"/zones/(?P<z>[^/]+)/instanceGroupManagers/(?P<n>[^/]+)$"),
        lambda s, m, b, q: s.instance_group_manager(m["z"], m["n"]),
    ),
    (
        "POST",
        re.compile(
            _COMPUTE + r"/zones/(?P<z>[^/]+)/instanceGroupManagers/(?P<n>[^/]+)/deleteInstances$"
        ),
        lambda s, m, b, q: s.delete_instances(m["z"], m["n"], b),
    ),
    (
        "POST",
        re.compile(
            _COMPUTE
            + r"/zones/(?P<z>[^/]+)/instanceGroupManagers/(?P<n>[^/]+)/listManagedInstances$"
        ),
        lambda s, m, b, q: s.managed_instances(m["z"], m["n"]),
    ),
    (
        "GET",
        re.compile(
            _COMPUTE + r"/zones/(?P<z>[^/]+)/instanceGroupManagers/(?P<n>[^/]+)/listErrors$"
        ),
        lambda s, m, b, q: s.list_errors(m["z"], m["n"]),
    ),
    (
        "GET",
        re.compile(_COMPUTE + r"/zones/(?P<z>[^/]+)/operations/(?P<o>[^/]+)$"),
        lambda s, m, b, q: s.zone_operation(m["z"], m["o"]),
    ),
    (
        "GET",
        re.compile(_COMPUTE + r"/zones/(?P<z>[^/]+)/operations$"),
        lambda s, m, b, q: s.list_zone_operations(m["z"]),
    ),
    (
        "GET",
        re.compile(r"/v1/services/(?P<s>[^/]+)/skus$"),
        lambda s, m, b, q: s.list_skus(m["s"], q),
    ),
]


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment: no Nagle / delayed-ACK stalls on keep-alive.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def _handle(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: JSON = json.loads(raw) if raw else {}
        except ValueError:
            self._send(400, ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload.").body())
            return
        with state.lock:
            state.requests.append(Recorded(self.command, path, body or None, unquote(url.query)))
        for method, pattern, handler in _ROUTES:
            match = pattern.match(path)
            if method == self.command and match:
                try:
                    self._send(200, handler(state, match.groupdict(), body, query))
                except ApiError as exc:
                    self._send(exc.http_status, exc.body())
                return
        self._send(404, ApiError(404, "NOT_FOUND", f"No route for {self.command} {path}").body())

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

    def _send(self, status: int, payload: JSON) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; ``state.requests`` records calls instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GKEEmulatorState) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.state = state


@dataclass
class RunningEmulator:
    """A started emulator: its ``endpoint`` (``127.0.0.1:PORT``) and mutable ``state``."""

    endpoint: str
    state: GKEEmulatorState
    #: ``127.0.0.1:PORT`` of the ClusterManager gRPC front end, when started.
    grpc_endpoint: str | None = None

    def calls(self, method: str | None = None, path_contains: str = "") -> list[Recorded]:
        """Recorded requests, optionally filtered by HTTP method and a path fragment."""
        with self.state.lock:
            return [
                r
                for r in self.state.requests
                if (method is None or r.method == method) and path_contains in r.path
            ]


@contextmanager
def running_emulator(
    state: GKEEmulatorState | None = None, *, grpc: bool = False
) -> Iterator[RunningEmulator]:
    """Serve ``state`` (a fresh default one if ``None``) on free loopback ports until exit.

    Args:
        grpc: also serve ClusterManager over gRPC (:mod:`tests.emulator.grpc_server`).
    """
    server = _Server(state or GKEEmulatorState())
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="gke-emulator",
        daemon=True,
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        emulator = RunningEmulator(endpoint=f"{host!s}:{port}", state=server.state)
        if grpc:
            from tests.emulator.grpc_server import running_grpc_frontend

            with running_grpc_frontend(server.state) as grpc_endpoint:
                emulator.grpc_endpoint = grpc_endpoint
                yield emulator
        else:
            yield emulator
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
