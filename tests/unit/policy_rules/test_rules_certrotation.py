"""Rules of policies/certrotation.py at their exact instants: when a certificate counts as
expired or renewing, when a rotation step may follow the previous one, and which rotation
policies are refused. Fast tables; the year of rotations in test_webhook_certificates.py runs
the same rules end to end."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from policies.certrotation import CertState, RotationPolicy, Step, next_step
from tests.unit.test_policies_certrotation import (
    CA1,
    CA2,
    DAY,
    HOSTS,
    MINUTE,
    POLICY,
    T0,
    cert,
)
from tests.unit.test_policies_certrotation import state as secret

TICK = timedelta(microseconds=1)
ROTATING = T0 + 201 * DAY  # CA2 was added at day 200, inside CA1's last third


LATE_LEAF = cert("leaf1", T0 + 190 * DAY, 90 * DAY)  # valid and young at day 200
OLD_CA_LEAF = cert("leaf1", ROTATING, 90 * DAY)  # signed by ca1 during the rotation
NEW_CA_LEAF = cert("leaf2", ROTATING, 90 * DAY)  # signed by ca2

BOUNDARIES = [
    # a certificate is no longer used from its notAfter on
    ("CA at its notAfter", secret(), CA1.not_after, Step.CREATE),
    (
        "old-CA leaf at its notAfter mid-rotation: replaced at once, not after the wait",
        secret(
            cas=(CA2, CA1),
            leaf=cert("leaf1", ROTATING - 90 * DAY, 90 * DAY),
            published=False,
        ),
        ROTATING,
        Step.ISSUE,
    ),
    # the last third of life begins at notAfter - validity / 3
    (
        "CA just before its last third",
        secret(leaf=LATE_LEAF),
        T0 + 200 * DAY - TICK,
        Step.NONE,
    ),
    ("CA at the start of its last third", secret(leaf=LATE_LEAF), T0 + 200 * DAY, Step.ADD_CA),
    ("leaf just before its last third", secret(), T0 + 60 * DAY - TICK, Step.NONE),
    ("leaf at the start of its last third", secret(), T0 + 60 * DAY, Step.ISSUE),
    # each step waits one overlap after the previous one was published
    (
        "new CA published one overlap ago: it may sign",
        secret(cas=(CA2, CA1), leaf=OLD_CA_LEAF, bundle_since=ROTATING),
        ROTATING + 2 * MINUTE,
        Step.ISSUE,
    ),
    (
        "new CA published just under one overlap ago",
        secret(cas=(CA2, CA1), leaf=OLD_CA_LEAF, bundle_since=ROTATING),
        ROTATING + 2 * MINUTE - TICK,
        Step.WAIT,
    ),
    (
        "new leaf out for one overlap: the old CA leaves",
        secret(cas=(CA2, CA1), leaf=NEW_CA_LEAF, issuer="ca2", leaf_since=ROTATING),
        ROTATING + 2 * MINUTE,
        Step.DROP_OLD_CAS,
    ),
    (
        "new leaf out for just under one overlap",
        secret(cas=(CA2, CA1), leaf=NEW_CA_LEAF, issuer="ca2", leaf_since=ROTATING),
        ROTATING + 2 * MINUTE - TICK,
        Step.WAIT,
    ),
]


@pytest.mark.parametrize(
    ("the_secret", "now", "step"), [pytest.param(*row[1:], id=row[0]) for row in BOUNDARIES]
)
def test_each_rotation_rule_takes_effect_at_its_exact_instant(
    the_secret: CertState, now: datetime, step: Step
) -> None:
    assert next_step(the_secret, now, POLICY).step is step


def test_a_serving_certificate_missing_names_is_reissued_naming_every_missing_host() -> None:
    policy = RotationPolicy(
        ca_validity=300 * DAY,
        leaf_validity=90 * DAY,
        overlap=2 * MINUTE,
        hosts=HOSTS | {"b.svc", "a.svc"},
    )
    decision = next_step(secret(), T0 + DAY, policy)
    assert decision.step is Step.ISSUE
    assert decision.reason.endswith("does not name a.svc, b.svc")


def test_a_policy_whose_last_thirds_hold_exactly_two_overlaps_is_accepted() -> None:
    """The limit is inclusive: two propagation periods fit in a last third of exactly their
    length, and the serving certificate may live as long as its CA."""
    policy = RotationPolicy(
        ca_validity=6 * MINUTE, leaf_validity=6 * MINUTE, overlap=MINUTE, hosts=HOSTS
    )
    assert policy.leaf_validity == policy.ca_validity


@pytest.mark.parametrize(
    ("ca", "leaf", "what"),
    [
        (6 * MINUTE - 3 * TICK, 6 * MINUTE - 3 * TICK, "CA"),
        (DAY, 6 * MINUTE - 3 * TICK, "serving certificate"),
    ],
)
def test_a_last_third_shorter_than_two_overlaps_is_refused_saying_how_long_they_are(
    ca: timedelta, leaf: timedelta, what: str
) -> None:
    with pytest.raises(ValueError, match=rf"the {what}'s last third .* \(0:02:00\)"):
        RotationPolicy(ca_validity=ca, leaf_validity=leaf, overlap=MINUTE, hosts=frozenset())
