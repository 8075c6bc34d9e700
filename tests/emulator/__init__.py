"""A local emulator of the GKE ClusterManager, Compute Engine and Cloud Billing Catalog APIs.

See :mod:`tests.emulator.server` (wire protocol and routes), :mod:`tests.emulator.state`
(behaviour; Compute in :mod:`tests.emulator.compute`, SKUs in :mod:`tests.emulator.billing`),
:mod:`tests.emulator.faults` (injected failures with real error texts) and
:mod:`tests.emulator.fixtures` (pytest fixtures).
"""
