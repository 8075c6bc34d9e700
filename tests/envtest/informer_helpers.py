"""Helpers shared by the informer envtests: a notification recorder, a running-informer context,
and real faults (etcd compaction through its HTTP gateway, a cuttable TCP proxy)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from ccc.controller.informer import Informer
from tests.support.controlplane import ControlPlane

T = TypeVar("T")


@dataclass
class Recorder(Generic[T]):
    """Collects ``on_change`` notifications as (type, old, new) tuples."""

    changes: list[tuple[str, T | None, T | None]] = field(default_factory=list)

    def __call__(self, kind: str, old: T | None, new: T | None) -> None:
        self.changes.append((kind, old, new))

    def kinds_by_name(self, name: Callable[[T], str]) -> list[tuple[str, str]]:
        out = []
        for kind, old, new in self.changes:
            value = new if new is not None else old
            assert value is not None
            out.append((kind, name(value)))
        return out


def configmap(name: str) -> Any:
    """A minimal ConfigMap manifest."""
    return {"metadata": {"name": name}}


def configmap_name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


@contextlib.asynccontextmanager
async def running(informer: Informer[Any]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(informer.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def now(value: T) -> T:
    """``value`` as an awaitable, for ``eventually`` probes that need no I/O."""
    return value


def etcd_url(plane: ControlPlane) -> str:
    """The client URL of the plane's etcd, read from its command line."""
    for pid in plane.pids:
        with contextlib.suppress(OSError):
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            for arg in args:
                if arg.startswith("--listen-client-urls="):
                    return arg.split("=", 1)[1]
    raise AssertionError("no etcd process found in the control plane")


def compact_etcd(plane: ControlPlane) -> int:
    """Compact etcd up to a new revision (what kube-apiserver does every 5 minutes); every
    resourceVersion read before is then too old for etcd."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            etcd_url(plane) + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    # A write first, so that the compaction also covers the revision read last.
    marker = {"key": "Y2NjLXRlc3QtY29tcGFjdGlvbg==", "value": "eA=="}  # ccc-test-compaction
    revision = int(post("/v3/kv/put", marker)["header"]["revision"])
    post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
    return revision


class CuttableProxy:
    """A TCP proxy to the API server whose connections the test can cut, and whose port it can
    close for a while: a real network failure between the informer and the API server."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close_port_and_cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
