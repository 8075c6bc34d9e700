"""The GKE provider in the contract suite: the real Google clients against the local emulator.

The emulator (``tests/emulator``) is a fake of Google's APIs, unavoidable without a Google
account; it speaks the same REST wire protocol, so everything from ``GKEProvider`` down to the
HTTP bytes is the production code path. Registered by ``conftest._load_plugins``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ccc.api.values import CapacityType
from providers.base import Provider
from providers.gke.config import Transport
from tests.emulator import faults
from tests.emulator.fixtures import provider_for
from tests.emulator.server import RunningEmulator, running_emulator
from tests.emulator.state import GKEEmulatorState

from .conftest import HarnessFactory, ProviderHarness

_MODEL = {
    CapacityType.SPOT: "spot",
    CapacityType.FLEX_START: "flex-start",
    CapacityType.ON_DEMAND: "on-demand",
    CapacityType.RESERVATION: "on-demand",
}


class GKEEmulatorHarness:
    """GKEProvider (REST transport, anonymous credentials) on a fresh emulator."""

    machine_type = "a3-highgpu-8g"
    zones = ("us-central1-a", "us-central1-b")

    def __init__(self, emulator: RunningEmulator, transport: Transport) -> None:
        self.emulator = emulator
        self.state: GKEEmulatorState = emulator.state
        self.gke = provider_for(emulator, transport=transport)
        self.provider: Provider = self.gke
        # One first attempt plus retries; GKEConfig.for_emulator uses 4 attempts.
        self.max_transient_retries = 3

    async def inject_stockout(
        self, machine_type: str, zone: str, capacity_type: CapacityType
    ) -> None:
        self.state.set_capacity(zone, machine_type, 0, model=_MODEL[capacity_type])

    async def inject_quota(self, region: str) -> None:
        self.state.inject(faults.quota_exceeded(region, times=None))

    async def inject_transient(self, attempts: int) -> None:
        self.state.inject(faults.transient(503, times=attempts))

    async def set_capacity(
        self, machine_type: str, zone: str, capacity_type: CapacityType, nodes: int
    ) -> None:
        self.state.set_capacity(zone, machine_type, nodes, model=_MODEL[capacity_type])

    async def add_reservation(self, name: str, *, zone: str, machine_type: str, count: int) -> None:
        self.state.add_reservation(name, zone=zone, machine_type=machine_type, count=count)

    async def add_unmanaged_pool(
        self, name: str, *, machine_type: str, zone: str, node_count: int
    ) -> None:
        self.state.add_unmanaged_pool(name, machine_type=machine_type, zone=zone, nodes=node_count)


def _factory(transport: Transport) -> HarnessFactory:
    @asynccontextmanager
    async def harness() -> AsyncIterator[ProviderHarness]:
        state = GKEEmulatorState(operation_polls=1)
        with running_emulator(state, grpc=transport == "grpc") as emulator:
            harness = GKEEmulatorHarness(emulator, transport)
            try:
                yield harness
            finally:
                harness.gke.close()

    return harness


#: ClusterManager over REST and over gRPC (the SDK's default transport); Compute is REST.
HARNESS_FACTORIES: dict[str, HarnessFactory] = {
    "gke-emulator-rest": _factory("rest"),
    "gke-emulator-grpc": _factory("grpc"),
}
