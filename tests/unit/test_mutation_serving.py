"""Behavioural tests that pin down rules of policies/serving.py which no other unit test checked
(found by mutation testing, docs/testing.md): what a restart restores from status, and that
one pending replica is enough for the obtain timeout."""

from __future__ import annotations

from datetime import timedelta

from ccc.api.servinggroup.status import VariantStatus
from policies.serving import Cause, VariantMemory, memories
from tests.builders import NOW
from tests.unit.test_policies_serving import Obs, after, group, replicas, split


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


def test_a_single_replica_pending_past_the_obtain_timeout_shifts_its_share() -> None:
    """One replica is enough: the preferred variant's last replica has been pending for the
    whole ``obtainTimeoutSeconds`` (600 s by default), so the next variant takes its share."""
    observed = {"v6e": Obs(replicas=5, ready=4, pending=1, pending_since=NOW)}
    result = split(group(40), observed, now=after(600), memory={"v6e": VariantMemory(ready=4)})
    assert replicas(result) == {"v6e": 4, "h100": 1}
    assert result["v6e"].cause is Cause.PENDING_TIMEOUT
