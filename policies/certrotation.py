"""When to create, rotate and retire the webhook's serving certificate and its CA.

The webhook's Secret holds a CA bundle (``ca.crt``, newest first, one or two CAs), the newest
CA's key, and the serving certificate and key (``tls.crt``/``tls.key``) signed by one of the
CAs. The MutatingWebhookConfiguration's ``caBundle`` is kept equal to ``ca.crt``. Every
replica serves ``tls.crt`` and re-reads the Secret periodically, so a change reaches all of
them within a check period; the API server picks a new ``caBundle`` up within seconds.

Nothing may be served that the API server does not trust, so rotation goes in steps that each
wait for the previous one to propagate (``overlap``):

1. ``create``: no usable CA: a new CA and a serving certificate (first start, broken Secret).
2. ``add_ca``: the CA enters its last third of life: a new CA is put in front of the bundle,
   next to the old one. The serving certificate is unchanged.
3. ``issue``: the serving certificate enters its last third of life, names the wrong hosts, or
   was signed by an older CA: a new one from the newest CA, but only once that CA has been in
   the *published* bundle for ``overlap`` (else ``wait``).
4. ``drop_old_cas``: the serving certificate from the newest CA has been out for ``overlap``:
   the old CA leaves the bundle.

Pure: the caller parses certificates into :class:`CertInfo` values and passes ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Step(StrEnum):
    NONE = "none"
    CREATE = "create"
    ADD_CA = "add_ca"
    ISSUE = "issue"
    DROP_OLD_CAS = "drop_old_cas"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What rotation needs to know of one certificate."""

    fingerprint: str
    not_before: datetime
    not_after: datetime
    hosts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CertState:
    """The Secret's certificates as parsed by the caller.

    Attributes:
        cas: the CA bundle, newest first.
        ca_key_ok: the stored CA key belongs to ``cas[0]``.
        leaf: the serving certificate (None if absent or unparsable).
        leaf_key_ok: the stored serving key belongs to ``leaf``.
        leaf_issuer: fingerprint of the CA in ``cas`` whose signature ``leaf`` carries.
        bundle_since: when ``ca.crt`` last changed.
        leaf_since: when ``tls.crt`` last changed.
        bundle_published: the webhook configuration's ``caBundle`` equals ``ca.crt``.
    """

    cas: Sequence[CertInfo]
    ca_key_ok: bool
    leaf: CertInfo | None
    leaf_key_ok: bool
    leaf_issuer: str | None
    bundle_since: datetime | None
    leaf_since: datetime | None
    bundle_published: bool


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """Lifetimes, the propagation allowance and the names the serving certificate must carry."""

    ca_validity: timedelta
    leaf_validity: timedelta
    overlap: timedelta
    hosts: frozenset[str]

    def __post_init__(self) -> None:
        if self.leaf_validity > self.ca_validity:
            raise ValueError("the serving certificate cannot outlive its CA")
        # A new CA waits one overlap before it signs, and the old one leaves the bundle one
        # overlap later: both inside the old CA's last third. A serving certificate that enters
        # its last third during that wait must still be valid when the new CA may sign.
        for what, validity in (
            ("CA", self.ca_validity),
            ("serving certificate", self.leaf_validity),
        ):
            if self.overlap * 2 > validity / 3:
                raise ValueError(
                    f"the {what}'s last third of life must hold two propagation periods "
                    f"({self.overlap * 2}); lengthen its validity or shorten the check period"
                )


@dataclass(frozen=True, slots=True)
class Decision:
    step: Step
    reason: str


def _renewing(cert: CertInfo, validity: timedelta, now: datetime) -> bool:
    return now >= cert.not_after - validity / 3


def next_step(state: CertState | None, now: datetime, policy: RotationPolicy) -> Decision:
    """The one step to take now (``NONE`` when everything is current)."""
    if state is None or not state.cas or not state.ca_key_ok:
        return Decision(Step.CREATE, "no usable CA in the Secret")
    newest = state.cas[0]
    if now >= newest.not_after:
        return Decision(Step.CREATE, "the CA has expired")
    leaf = state.leaf
    usable_leaf = (
        leaf is not None
        and state.leaf_key_ok
        and state.leaf_issuer is not None
        and leaf.not_after > now
    )
    if len(state.cas) == 1 and _renewing(newest, policy.ca_validity, now):
        return Decision(Step.ADD_CA, "the CA enters its last third of life")
    if not usable_leaf:
        return Decision(Step.ISSUE, "no valid serving certificate in the Secret")
    assert leaf is not None  # usable_leaf
    why = ""
    if state.leaf_issuer != newest.fingerprint:
        why = "the serving certificate was signed by an older CA"
    elif _renewing(leaf, policy.leaf_validity, now):
        why = "the serving certificate enters its last third of life"
    elif not policy.hosts <= leaf.hosts:
        missing = ", ".join(sorted(policy.hosts - leaf.hosts))
        why = f"the serving certificate does not name {missing}"
    if why:
        if state.leaf_issuer != newest.fingerprint:
            trusted_since = state.bundle_since
            if not state.bundle_published or trusted_since is None:
                return Decision(Step.WAIT, f"{why}; waiting for the new CA to be published")
            if now < trusted_since + policy.overlap:
                return Decision(Step.WAIT, f"{why}; waiting for the new CA to propagate")
        return Decision(Step.ISSUE, why)
    if len(state.cas) > 1:
        if state.leaf_since is None or now >= state.leaf_since + policy.overlap:
            return Decision(Step.DROP_OLD_CAS, "every replica serves a certificate of the new CA")
        return Decision(Step.WAIT, "waiting for the new serving certificate to propagate")
    return Decision(Step.NONE, "current")
