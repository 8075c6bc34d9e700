"""`kubernetes_asyncio` clients for the local control plane started by `tests.support.controlplane`.

Each test gets its own client because pytest-asyncio runs every test in its own event loop, and an
aiohttp session must not outlive its loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from kubernetes_asyncio import client, config

T = TypeVar("T")


@asynccontextmanager
async def api_client(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    """Yield an ApiClient authenticated by the admin kubeconfig; closed on exit."""
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        await api.close()


async def eventually(
    what: str,
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout_s: float = 60.0,
    interval_s: float = 0.2,
) -> T:
    """Poll `probe` until it returns something other than None/False, and return that.

    Control-plane tests wait for real controllers (scheduler, controller-manager, kwok), which act
    asynchronously; this is the only place such tests wait.

    Raises:
        TimeoutError: `timeout_s` passed; the message names `what`.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(interval_s)
