"""Fixtures shared by unit test modules: the GKE emulator over both ClusterManager transports
(:mod:`tests.emulator.fixtures`)."""

from tests.emulator.fixtures import emu, provider, transport  # noqa: F401
