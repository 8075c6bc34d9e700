"""Pytest fixtures for the GKE emulator. Import them into a test module or conftest::

    from tests.emulator.fixtures import gke_emulator, gke_provider  # noqa: F401

``gke_emulator`` serves a fresh :class:`GKEEmulatorState` on a free loopback port for one test;
``gke_provider`` is a :class:`GKEProvider` pointed at it with fast timings. ``transport``,
``emu`` and ``provider`` do the same once per ClusterManager transport (REST and gRPC); the unit
tests' conftest provides them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.gke import GKEConfig, GKEProvider
from providers.gke.config import Transport
from tests.emulator.server import RunningEmulator, running_emulator
from tests.emulator.state import GKEEmulatorState


def ccc_run_args(emulator: RunningEmulator, *, endpoint: str | None = None) -> list[str]:
    """``ccc run`` flags for the GKE provider against ``emulator`` (or ``endpoint``, e.g. a
    proxy in front of it)."""
    state = emulator.state
    return [
        "--provider",
        "gke",
        "--gke-project",
        state.project,
        "--gke-location",
        state.location,
        "--gke-cluster",
        state.cluster,
        "--gke-endpoint",
        endpoint or emulator.endpoint,
    ]


def provider_for(
    emulator: RunningEmulator, *, transport: Transport = "rest", **timing: float | int | bool | str
) -> GKEProvider:
    """A GKEProvider that talks to ``emulator`` with anonymous credentials.

    Args:
        transport: ``rest`` or ``grpc`` for ClusterManager (``grpc`` needs an emulator started
            with ``grpc=True``); Compute Engine is always REST.
    """
    state = emulator.state
    container_endpoint = None
    if transport == "grpc":
        assert emulator.grpc_endpoint, "start the emulator with running_emulator(grpc=True)"
        container_endpoint = emulator.grpc_endpoint
    config = GKEConfig.for_emulator(
        emulator.endpoint,
        project=state.project,
        location=state.location,
        cluster=state.cluster,
        transport=transport,
        container_endpoint=container_endpoint,
        **timing,
    )
    return GKEProvider.from_config(config)


@pytest.fixture
def gke_emulator() -> Iterator[RunningEmulator]:
    with running_emulator(GKEEmulatorState()) as emulator:
        yield emulator


@pytest.fixture
def gke_provider(gke_emulator: RunningEmulator) -> Iterator[GKEProvider]:
    provider = provider_for(gke_emulator)
    yield provider
    provider.close()


@pytest.fixture(params=["rest", "grpc"])
def transport(request: pytest.FixtureRequest) -> Transport:
    """ClusterManager transport under test; every test using ``emu`` runs over both."""
    value: Transport = request.param
    return value


@pytest.fixture
def emu(transport: Transport) -> Iterator[RunningEmulator]:
    with running_emulator(GKEEmulatorState(), grpc=transport == "grpc") as emulator:
        yield emulator


@pytest.fixture
def provider(emu: RunningEmulator, transport: Transport) -> Iterator[GKEProvider]:
    provider = provider_for(emu, transport=transport)
    yield provider
    provider.close()
