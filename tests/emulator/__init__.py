"""A local emulator of the GKE ClusterManager and Compute Engine REST APIs for tests.

See :mod:`tests.emulator.server` (wire protocol and routes), :mod:`tests.emulator.state`
(behaviour), :mod:`tests.emulator.faults` (injected failures with real error texts) and
:mod:`tests.emulator.fixtures` (pytest fixtures).
"""
