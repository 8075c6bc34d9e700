"""Rules of policies/obtainability.py: an offering that just worked is forgotten at every scope
it was marked at (zone, region, or everywhere for a quota of all regions)."""

from __future__ import annotations

import pytest

from ccc.api.values import GLOBAL_LOCATION, CapacityType, OfferingKey
from policies.obtainability import ObtainabilityMemory
from tests.builders import NOW

ZONE = "us-central1-a"


def _key(zone: str) -> OfferingKey:
    return OfferingKey(machine_type="a3-highgpu-8g", zone=zone, capacity_type=CapacityType.SPOT)


@pytest.mark.parametrize("marked", [ZONE, "us-central1", GLOBAL_LOCATION])
def test_a_success_in_a_zone_forgets_the_offering_at_every_scope(marked: str) -> None:
    memory = ObtainabilityMemory().record_failure(_key(marked), reason="QUOTA", message="", now=NOW)
    assert memory.entries
    assert memory.record_success(_key(ZONE)).entries == {}
