"""The provider contract suite's harness registry and the ``provider_harness`` fixture.

Every provider runs the same suite (``test_provider_contract.py``) through a
:class:`ProviderHarness`: the provider under test plus uniform hooks to make the cloud behind it
misbehave. To add a provider, write ``tests/contract/harness_<name>.py`` defining

    HARNESS_FACTORIES = {"<name>": factory}       # factory() -> async context manager
    HARNESS_MARKS = {"<name>": [pytest.mark.controlplane]}   # optional
    HARNESS_FIXTURES = {"<name>": ["control_plane"]}          # optional: passed as kwargs

and this conftest picks it up (or add the factory to :data:`HARNESS_FACTORIES` here). Marks let
a harness that needs heavier machinery (the local control plane, an emulator) opt in.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Protocol

import pytest

from ccc.api.values import CapacityType, OfferingKey, region_of
from providers.base import Provider
from providers.clock import VirtualClock
from providers.simulated import SimulatedCloud


class ProviderHarness(Protocol):
    """A provider under test and the levers the contract suite pulls on the cloud behind it.

    Attributes:
        provider: the provider under test, fresh (no pools, reservations or limits).
        machine_type: a GPU machine type the backing cloud accepts in :attr:`zones`.
        zones: two zones of one region where :attr:`machine_type` is offered.
        max_transient_retries: transient failures in a row the provider absorbs; one more
            surfaces as ``ProviderUnavailableError``.
    """

    provider: Provider
    machine_type: str
    zones: tuple[str, str]
    max_transient_retries: int

    async def inject_stockout(
        self, machine_type: str, zone: str, capacity_type: CapacityType
    ) -> None:
        """From now on the offering has no capacity for new nodes."""
        ...

    async def inject_quota(self, region: str) -> None:
        """From now on every create in ``region`` exceeds a regional quota."""
        ...

    async def inject_transient(self, attempts: int) -> None:
        """The next ``attempts`` API attempts fail with a transient error (UNAVAILABLE)."""
        ...

    async def set_capacity(
        self, machine_type: str, zone: str, capacity_type: CapacityType, nodes: int
    ) -> None:
        """The offering supports ``nodes`` nodes in total from now on."""
        ...

    async def add_reservation(self, name: str, *, zone: str, machine_type: str, count: int) -> None:
        """Create a specific-only reservation of ``count`` VMs."""
        ...

    async def add_unmanaged_pool(
        self, name: str, *, machine_type: str, zone: str, node_count: int
    ) -> None:
        """Create a pool ccc did not create (no managed-by label), as an operator would."""
        ...


HarnessFactory = Callable[..., AbstractAsyncContextManager[ProviderHarness]]


class SimulatedHarness:
    """The simulated cloud on a virtual clock (provisioning is instant, retries do not wait)."""

    machine_type = "a3-highgpu-8g"
    zones = ("us-central1-a", "us-central1-b")

    def __init__(self) -> None:
        self.cloud = SimulatedCloud(clock=VirtualClock())
        self.provider: Provider = self.cloud
        self.max_transient_retries = self.cloud.max_transient_retries

    async def inject_stockout(
        self, machine_type: str, zone: str, capacity_type: CapacityType
    ) -> None:
        self.cloud.stockout(_offering(machine_type, zone, capacity_type))

    async def inject_quota(self, region: str) -> None:
        self.cloud.set_quota(region, "INSTANCES", 0)

    async def inject_transient(self, attempts: int) -> None:
        self.cloud.fail_transiently(attempts)

    async def set_capacity(
        self, machine_type: str, zone: str, capacity_type: CapacityType, nodes: int
    ) -> None:
        self.cloud.set_capacity(_offering(machine_type, zone, capacity_type), nodes)

    async def add_reservation(self, name: str, *, zone: str, machine_type: str, count: int) -> None:
        self.cloud.add_reservation(name, zone=zone, machine_type=machine_type, count=count)

    async def add_unmanaged_pool(
        self, name: str, *, machine_type: str, zone: str, node_count: int
    ) -> None:
        self.cloud.add_existing_pool(
            name, machine_type=machine_type, zone=zone, node_count=node_count
        )


def _offering(machine_type: str, zone: str, capacity_type: CapacityType) -> OfferingKey:
    return OfferingKey(machine_type=machine_type, zone=zone, capacity_type=capacity_type)


@asynccontextmanager
async def simulated_harness() -> AsyncIterator[ProviderHarness]:
    harness = SimulatedHarness()
    assert region_of(harness.zones[0]) == region_of(harness.zones[1])
    yield harness


#: Every provider the contract suite runs against, by name.
HARNESS_FACTORIES: dict[str, HarnessFactory] = {"simulated": simulated_harness}
#: Marks (opt-in markers such as ``controlplane``) per harness name.
HARNESS_MARKS: dict[str, Sequence[pytest.MarkDecorator]] = {}
#: Fixtures (by name) a harness factory receives as keyword arguments, per harness name.
HARNESS_FIXTURES: dict[str, Sequence[str]] = {}


def _load_plugins() -> None:
    """Merge the registries of ``harness_*.py`` files next to this conftest.

    They are imported as modules of this package when there is one (so relative imports work),
    else from their file.
    """
    for path in sorted(Path(__file__).parent.glob("harness_*.py")):
        module: ModuleType
        if __package__:
            module = importlib.import_module(f".{path.stem}", __package__)
        else:
            spec = importlib.util.spec_from_file_location(f"ccc_contract_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        HARNESS_FACTORIES.update(getattr(module, "HARNESS_FACTORIES", {}))
        HARNESS_MARKS.update(getattr(module, "HARNESS_MARKS", {}))
        HARNESS_FIXTURES.update(getattr(module, "HARNESS_FIXTURES", {}))


_load_plugins()


@pytest.fixture(
    params=[
        pytest.param(name, marks=list(HARNESS_MARKS.get(name, ()))) for name in HARNESS_FACTORIES
    ]
)
async def provider_harness(request: pytest.FixtureRequest) -> AsyncIterator[ProviderHarness]:
    """One fresh harness per test, for every registered provider."""
    fixtures = {
        name: request.getfixturevalue(name) for name in HARNESS_FIXTURES.get(request.param, ())
    }
    async with HARNESS_FACTORIES[request.param](**fixtures) as harness:
        yield harness
