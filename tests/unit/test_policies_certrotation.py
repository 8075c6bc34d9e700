"""When the webhook's certificates are created, rotated and retired (policies/certrotation.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policies.certrotation import CertInfo, CertState, RotationPolicy, Step, next_step

T0 = datetime(2030, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = RotationPolicy(
    ca_validity=300 * DAY,
    leaf_validity=90 * DAY,
    overlap=timedelta(minutes=2),
    hosts=frozenset({"ccc-webhook.ccc-system.svc"}),
)
HOSTS = POLICY.hosts


def cert(name: str, start: datetime, life: timedelta, hosts: frozenset[str] = HOSTS) -> CertInfo:
    return CertInfo(fingerprint=name, not_before=start, not_after=start + life, hosts=hosts)


CA1 = cert("ca1", T0, 300 * DAY, frozenset())
CA2 = cert("ca2", T0 + 200 * DAY, 300 * DAY, frozenset())
LEAF1 = cert("leaf1", T0, 90 * DAY)


def state(
    *,
    cas: tuple[CertInfo, ...] = (CA1,),
    leaf: CertInfo | None = LEAF1,
    issuer: str | None = "ca1",
    ca_key_ok: bool = True,
    leaf_key_ok: bool = True,
    bundle_since: datetime | None = T0,
    leaf_since: datetime | None = T0,
    published: bool = True,
) -> CertState:
    return CertState(
        cas=cas,
        ca_key_ok=ca_key_ok,
        leaf=leaf,
        leaf_key_ok=leaf_key_ok,
        leaf_issuer=issuer,
        bundle_since=bundle_since,
        leaf_since=leaf_since,
        bundle_published=published,
    )


MINUTE = timedelta(minutes=1)
LATE = T0 + 201 * DAY  # inside CA1's last third, CA2 added at day 200

CASES = [
    ("empty secret", None, T0, Step.CREATE),
    ("no CA", state(cas=()), T0, Step.CREATE),
    ("CA key does not match", state(ca_key_ok=False), T0, Step.CREATE),
    ("CA expired", state(), T0 + 301 * DAY, Step.CREATE),
    ("fresh and published", state(), T0 + DAY, Step.NONE),
    ("unpublished bundle alone changes nothing", state(published=False), T0 + DAY, Step.NONE),
    ("no serving certificate", state(leaf=None, issuer=None), T0, Step.ISSUE),
    ("serving key does not match", state(leaf_key_ok=False), T0, Step.ISSUE),
    ("serving certificate not signed by the bundle", state(issuer=None), T0, Step.ISSUE),
    ("serving certificate expired", state(), T0 + 91 * DAY, Step.ISSUE),
    ("serving certificate in its last third", state(), T0 + 61 * DAY, Step.ISSUE),
    ("serving certificate before its last third", state(), T0 + 59 * DAY, Step.NONE),
    (
        "serving certificate lacks a host",
        state(leaf=cert("leaf1", T0, 90 * DAY, frozenset({"old.svc"}))),
        T0 + DAY,
        Step.ISSUE,
    ),
    (
        "CA in its last third",
        state(leaf=cert("leaf1", T0 + 190 * DAY, 90 * DAY)),
        LATE,
        Step.ADD_CA,
    ),
    (
        "new CA not yet published: keep serving the old leaf",
        state(cas=(CA2, CA1), leaf=cert("l", LATE, 90 * DAY), published=False),
        LATE + 10 * MINUTE,
        Step.WAIT,
    ),
    (
        "new CA published but not propagated",
        state(cas=(CA2, CA1), leaf=cert("l", LATE, 90 * DAY), bundle_since=LATE),
        LATE + MINUTE,
        Step.WAIT,
    ),
    (
        "new CA propagated: serve a certificate it signed",
        state(cas=(CA2, CA1), leaf=cert("l", LATE, 90 * DAY), bundle_since=LATE),
        LATE + 3 * MINUTE,
        Step.ISSUE,
    ),
    (
        "new serving certificate not yet propagated: keep the old CA",
        state(cas=(CA2, CA1), leaf=cert("l2", LATE, 90 * DAY), issuer="ca2", leaf_since=LATE),
        LATE + MINUTE,
        Step.WAIT,
    ),
    (
        "new serving certificate propagated: drop the old CA",
        state(cas=(CA2, CA1), leaf=cert("l2", LATE, 90 * DAY), issuer="ca2", leaf_since=LATE),
        LATE + 3 * MINUTE,
        Step.DROP_OLD_CAS,
    ),
    (
        "an unusable leaf is replaced at once, even mid-rotation",
        state(cas=(CA2, CA1), leaf=None, issuer=None, published=False),
        LATE,
        Step.ISSUE,
    ),
]


@pytest.mark.parametrize(
    ("the_state", "now", "step"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_rotation_takes_one_safe_step_at_a_time(
    the_state: CertState | None, now: datetime, step: Step
) -> None:
    decision = next_step(the_state, now, POLICY)
    assert decision.step is step, decision.reason
    assert decision.reason


def test_policies_that_cannot_rotate_safely_are_refused() -> None:
    with pytest.raises(ValueError, match="outlive"):
        RotationPolicy(
            ca_validity=DAY, leaf_validity=2 * DAY, overlap=MINUTE, hosts=frozenset({"h"})
        )
    with pytest.raises(ValueError, match="CA's last third"):
        RotationPolicy(
            ca_validity=timedelta(minutes=5),
            leaf_validity=MINUTE,
            overlap=MINUTE,
            hosts=frozenset({"h"}),
        )
    with pytest.raises(ValueError, match="serving certificate's last third"):
        RotationPolicy(
            ca_validity=DAY,
            leaf_validity=timedelta(minutes=5),
            overlap=MINUTE,
            hosts=frozenset({"h"}),
        )
