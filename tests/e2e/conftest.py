"""Every end-to-end test leaves the shared local control plane as it found it: the ComputeClasses
and kwok clouds it made through :mod:`tests.e2e.controller_harness` are removed after it (a
class left behind with nodes whose cloud namespace a later controller cannot reach would have
that controller act on nodes it cannot delete)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.controller_harness import CREATED_CLASSES, KWOK_CLOUDS, remove_leftovers
from tests.support.kube import api_client

_PLANES = ("cluster", "lws_cluster", "control_plane")


@pytest.fixture(autouse=True)
def _remove_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    CREATED_CLASSES.clear()
    KWOK_CLOUDS.clear()
    yield
    if not (CREATED_CLASSES or KWOK_CLOUDS):
        return
    names = [n for n in _PLANES if n in request.fixturenames]
    if not names:
        CREATED_CLASSES.clear()
        KWOK_CLOUDS.clear()
        return
    plane = request.getfixturevalue(names[0])

    async def remove() -> None:
        async with api_client(plane.kubeconfig) as api:
            await remove_leftovers(api)

    failure: list[BaseException] = []

    def run() -> None:  # its own thread and loop: the test's loop may be closed or current
        try:
            asyncio.run(remove())
        except BaseException as exc:  # reported below, in the test's teardown
            failure.append(exc)

    worker = threading.Thread(target=run, name="e2e-cleanup")
    worker.start()
    worker.join(timeout=120)
    if failure:
        raise failure[0]
