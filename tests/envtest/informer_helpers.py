"""Helpers shared by the informer envtests: a notification recorder, a running-informer context,
and a real fault (etcd compaction through its HTTP gateway; network faults come from
:mod:`tests.support.faultproxy`)."""

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
