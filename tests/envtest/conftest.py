"""Fixtures of the envtest tier: a kwok cloud per test (tests/envtest/kwok_cloud.py)."""

from tests.envtest.kwok_cloud import cloud, virtual_cloud

__all__ = ["cloud", "virtual_cloud"]
