"""Every end-to-end test module leaves the shared local control plane as it found it: the
ComputeClasses and kwok clouds made through :mod:`tests.e2e.controller_harness` (by its tests or
its module-scoped fixtures) are removed once the module is done. A class left behind with nodes
whose cloud namespace a later controller cannot reach would have that controller act on nodes it
cannot delete. Per module, not per test: some modules share classes between their tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.controller_harness import CREATED_CLASSES, KWOK_CLOUDS, remove_leftovers
from tests.support.kube import api_client


@pytest.fixture(scope="module", autouse=True)
def _remove_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    CREATED_CLASSES.clear()
    KWOK_CLOUDS.clear()
    yield  # (torn down after the module's other module-scoped fixtures: set up first)
    if not (CREATED_CLASSES or KWOK_CLOUDS):
        return
    plane = request.getfixturevalue("cluster")  # what made them; session-scoped, so cached

    async def remove() -> None:
        async with api_client(plane.kubeconfig) as api:
            await remove_leftovers(api)

    failure: list[BaseException] = []

    def run() -> None:  # its own thread and loop: no test's loop is touched
        try:
            asyncio.run(remove())
        except BaseException as exc:  # reported below, in the module's teardown
            failure.append(exc)

    worker = threading.Thread(target=run, name="e2e-cleanup")
    worker.start()
    worker.join(timeout=120)
    if failure:
        raise failure[0]
