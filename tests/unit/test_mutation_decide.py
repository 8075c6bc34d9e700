"""Behavioural tests that pin down rules of policies/decide.py which no other unit test checked
(found by mutation testing, docs/testing.md): which pod groups are reported unsatisfiable."""

from __future__ import annotations

from ccc.api.values import CapacityType, OfferingKey
from policies.obtainability import ObtainabilityMemory
from policies.state import ControllerState
from tests.builders import NOW
from tests.unit.test_policies_decide import MACHINE, ZONE_A, ZONE_B, _pod, _run, _snapshot


def _blocked(*zones: str) -> ControllerState:
    memory = ObtainabilityMemory()
    for zone in zones:
        key = OfferingKey(machine_type=MACHINE, zone=zone, capacity_type=CapacityType.SPOT)
        memory = memory.record_failure(key, reason="STOCKOUT", message="", now=NOW)
    return ControllerState(memory={"gpu": memory})


def test_only_pod_groups_that_no_rule_can_serve_now_are_unsatisfiable() -> None:
    """reference/gke-computeclass.md §3.4 (``whenUnsatisfiable``): the class's pods are
    unsatisfiable while every offering of its rules is out of capacity, and not once one
    zone is obtainable again."""
    both = _run(_snapshot(pods=[_pod("b")]), _blocked(ZONE_A, ZONE_B))
    assert {cls: [g.pods for g in gs] for cls, gs in both.unsatisfiable().items()} == {"gpu": [1]}
    one = _run(_snapshot(pods=[_pod("b")]), _blocked(ZONE_A))
    assert one.unsatisfiable() == {}
