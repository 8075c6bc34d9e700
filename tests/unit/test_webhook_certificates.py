"""The webhook's certificates: what ccc mints, how it reads a Secret back, and a whole year of
rotations replayed on a virtual clock, checking at every tick that what each replica serves is
trusted by the ``caBundle`` the API server has seen.

The replay uses the real minting (``cryptography``) and the real rotation policy; the Secret,
the webhook configuration and the replicas' reload are plain variables here (their I/O is
proven against the real API server in tests/e2e/test_admission.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccc.controller.admission import pki
from ccc.controller.admission.certs import BUNDLE_SINCE, LEAF_SINCE, apply_step
from ccc.controller.admission.service import rotation_policy
from ccc.controller.config import WebhookConfig
from policies.certrotation import Step, next_step

T0 = datetime(2030, 1, 1, tzinfo=UTC)
HOSTS = ("ccc-webhook.ccc-system.svc", "127.0.0.1")


def test_a_minted_serving_certificate_names_its_hosts_and_chains_to_its_ca() -> None:
    ca = pki.new_ca(T0, timedelta(days=10))
    leaf = pki.new_leaf(ca, HOSTS, T0, timedelta(days=3))
    (ca_cert,) = pki.load_bundle(ca.cert)
    (leaf_cert,) = pki.load_bundle(leaf.cert)
    leaf_cert.verify_directly_issued_by(ca_cert)
    san = leaf_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["ccc-webhook.ccc-system.svc"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    eku = leaf_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf_cert.not_valid_after_utc == T0 + timedelta(days=3)
    assert leaf_cert.not_valid_before_utc < T0  # backdated for clock skew


def test_a_serving_certificate_never_outlives_its_ca() -> None:
    ca = pki.new_ca(T0, timedelta(days=1))
    (leaf_cert,) = pki.load_bundle(pki.new_leaf(ca, HOSTS, T0, timedelta(days=30)).cert)
    assert leaf_cert.not_valid_after_utc == T0 + timedelta(days=1)


def test_a_secret_is_read_back_into_the_policy_view() -> None:
    ca = pki.new_ca(T0, timedelta(days=10))
    other = pki.new_ca(T0, timedelta(days=10))
    leaf = pki.new_leaf(ca, HOSTS, T0, timedelta(days=3))
    data = {pki.CA_CERT: pki.join(other.cert, ca.cert), pki.CA_KEY: other.key}
    data |= {pki.TLS_CERT: leaf.cert, pki.TLS_KEY: leaf.key}
    state = pki.cert_state(data, bundle_since=T0, leaf_since=None, bundle_published=True)
    assert len(state.cas) == 2 and state.ca_key_ok
    assert state.leaf is not None and state.leaf.hosts == frozenset(HOSTS)
    assert state.leaf_key_ok
    assert state.leaf_issuer == state.cas[1].fingerprint
    swapped = pki.cert_state(
        {**data, pki.TLS_KEY: other.key, pki.CA_KEY: ca.key},
        bundle_since=None,
        leaf_since=None,
        bundle_published=False,
    )
    assert not swapped.leaf_key_ok and not swapped.ca_key_ok
    garbage = pki.cert_state(
        {pki.CA_CERT: b"not a pem", pki.TLS_CERT: b""},
        bundle_since=None,
        leaf_since=None,
        bundle_published=False,
    )
    assert garbage.cas == [] and garbage.leaf is None


# -- a year of rotations on a virtual clock --------------------------------------------------


@dataclass
class World:
    """The Secret, the published caBundle as the API server sees it, and two replicas."""

    data: dict[str, bytes] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    published: bytes = b""
    #: (time it was published, bundle): the API server uses a bundle once it is this old.
    history: list[tuple[datetime, bytes]] = field(default_factory=list)
    serving: list[pki.Pair | None] = field(default_factory=lambda: [None, None])
    steps: list[Step] = field(default_factory=list)

    def trusted(self, now: datetime, propagation: timedelta) -> list[x509.Certificate]:
        bundles = [b for t, b in self.history if t + propagation <= now]
        return pki.load_bundle(bundles[-1]) if bundles else []


def _pass(world: World, now: datetime, config: WebhookConfig) -> None:
    """One check of the keeper (certs.CertificateKeeper.check) against the World."""
    policy = rotation_policy(config)
    for _ in range(6):
        state = pki.cert_state(
            world.data,
            bundle_since=_time(world.annotations.get(BUNDLE_SINCE)),
            leaf_since=_time(world.annotations.get(LEAF_SINCE)),
            bundle_published=world.published == world.data.get(pki.CA_CERT),
        )
        decision = next_step(state, now, policy)
        if decision.step in (Step.NONE, Step.WAIT):
            break
        world.data, changed = apply_step(decision.step, world.data, now, policy)
        world.annotations.update(changed)
        world.steps.append(decision.step)
    if world.published != world.data[pki.CA_CERT]:
        world.published = world.data[pki.CA_CERT]
        world.history.append((now, world.published))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def test_a_year_of_rotations_never_serves_a_certificate_the_api_server_does_not_trust() -> None:
    day = 86400.0
    config = WebhookConfig(
        cert_hosts=HOSTS,
        cert_validity_s=30 * day,
        ca_validity_s=90 * day,
        check_period_s=12 * 3600.0,  # twice a day: a year is ~1,500 checks
    )
    period = timedelta(seconds=config.check_period_s)
    propagation = timedelta(seconds=2)
    world, now, end = World(), T0, T0 + timedelta(days=365)
    while now < end:
        # Replica 0 does the pass and reloads at once; replica 1 reloads half a period later,
        # one period late (the slowest a replica can be).
        _pass(world, now, config)
        world.serving[0] = pki.Pair(world.data[pki.TLS_CERT], world.data[pki.TLS_KEY])
        for replica, pair in enumerate(world.serving):
            if pair is None:
                continue
            (leaf,) = pki.load_bundle(pair.cert)
            trusted = world.trusted(now, propagation)
            if now >= T0 + propagation:
                assert leaf.not_valid_after_utc > now, f"replica {replica} expired at {now}"
                assert pki.issuer_fingerprint(leaf, trusted) is not None, (
                    f"replica {replica} serves a certificate the caBundle does not trust at {now}"
                )
        world.serving[1] = world.serving[0] if (now - T0) // period % 2 else world.serving[1]
        now += period / 2
    rotations = {s: world.steps.count(s) for s in Step}
    assert rotations[Step.CREATE] == 1
    assert rotations[Step.ADD_CA] >= 5 and rotations[Step.DROP_OLD_CAS] >= 5
    assert rotations[Step.ISSUE] >= 15
