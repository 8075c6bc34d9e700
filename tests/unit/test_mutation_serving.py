"""Behavioural tests that pin down rules of policies/serving.py which no other unit test checked
(found by mutation testing, docs/testing.md): what a restart restores from status."""

from __future__ import annotations

from datetime import timedelta

from ccc.api.servinggroup.status import VariantStatus
from policies.serving import VariantMemory, memories
from tests.builders import NOW


def test_a_restart_restores_every_variants_memory_from_its_status() -> None:
    """A new leader knows what the last one did only from ``status.variants``: Ready,
    disrupted and replacing replicas and both hysteresis clocks come back as they were."""
    statuses = [
        VariantStatus(
            name="tpu",
            ready_replicas=3,
            disrupted_replicas=1,
            replacing_replicas=2,
            unobtainable_since=NOW - timedelta(minutes=7),
        ),
        VariantStatus(name="gpu", ready_replicas=4, obtainable_since=NOW - timedelta(minutes=2)),
    ]
    assert memories(statuses) == {
        "tpu": VariantMemory(
            ready=3, disrupted=1, replacing=2, unobtainable_since=NOW - timedelta(minutes=7)
        ),
        "gpu": VariantMemory(ready=4, obtainable_since=NOW - timedelta(minutes=2)),
    }
    assert memories(None) == {}
