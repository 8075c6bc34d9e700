"""Minting and reading the webhook's CA and serving certificates (``cryptography``).

Keys are ECDSA P-256. A CA is self-signed, ``pathlen=0``; a serving certificate carries the
hosts as DNS or IP subject alternative names, ``serverAuth``, and never outlives its CA. Times
are backdated by a minute to absorb clock skew between the controller and the API server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from policies.certrotation import CertInfo, CertState

_SKEW = dt.timedelta(minutes=1)
#: Secret keys (the layout cert-manager writes too).
CA_CERT, CA_KEY, TLS_CERT, TLS_KEY = "ca.crt", "ca.key", "tls.crt", "tls.key"


@dataclass(frozen=True, slots=True)
class Pair:
    """A PEM certificate (chain) and its PEM private key."""

    cert: bytes
    key: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_encipherment=False,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def new_ca(now: dt.datetime, validity: dt.timedelta) -> Pair:
    """A self-signed CA valid from ``now`` (minus skew) for ``validity``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"ccc-webhook-ca-{int(now.timestamp())}")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Pair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _san(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in sorted(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def new_leaf(ca: Pair, hosts: Iterable[str], now: dt.datetime, validity: dt.timedelta) -> Pair:
    """A serving certificate for ``hosts`` signed by ``ca``, ending no later than the CA."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    hosts = sorted(hosts)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(hosts), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Pair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _hosts(cert: x509.Certificate) -> frozenset[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset()
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return frozenset([*dns, *ips])


def info(cert: x509.Certificate) -> CertInfo:
    return CertInfo(
        fingerprint=fingerprint(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        hosts=_hosts(cert),
    )


def load_bundle(pem: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM bundle, in order ([] when empty or unparsable)."""
    if not pem.strip():
        return []
    try:
        return list(x509.load_pem_x509_certificates(pem))
    except ValueError:
        return []


def _key_matches(key_pem: bytes, cert: x509.Certificate) -> bool:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return False
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(key.public_key().public_bytes(der, pub) == cert.public_key().public_bytes(der, pub))


def issuer_fingerprint(leaf: x509.Certificate, cas: Iterable[x509.Certificate]) -> str | None:
    """Fingerprint of the first of ``cas`` whose signature ``leaf`` carries, else None."""
    for ca in cas:
        try:
            leaf.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return fingerprint(ca)
    return None


def cert_state(
    data: Mapping[str, bytes],
    *,
    bundle_since: dt.datetime | None,
    leaf_since: dt.datetime | None,
    bundle_published: bool,
) -> CertState:
    """Parse the Secret's data into the rotation policy's view of it."""
    cas = load_bundle(data.get(CA_CERT, b""))
    leaves = load_bundle(data.get(TLS_CERT, b""))
    leaf = leaves[0] if leaves else None
    return CertState(
        cas=[info(c) for c in cas],
        ca_key_ok=bool(cas) and _key_matches(data.get(CA_KEY, b""), cas[0]),
        leaf=info(leaf) if leaf is not None else None,
        leaf_key_ok=leaf is not None and _key_matches(data.get(TLS_KEY, b""), leaf),
        leaf_issuer=issuer_fingerprint(leaf, cas) if leaf is not None else None,
        bundle_since=bundle_since,
        leaf_since=leaf_since,
        bundle_published=bundle_published,
    )


def join(*pems: bytes) -> bytes:
    """Concatenate PEM blocks, each ending in one newline."""
    return b"".join(p.strip() + b"\n" for p in pems if p.strip())


def split(bundle: bytes) -> list[bytes]:
    """The PEM blocks of a bundle."""
    return [c.public_bytes(serialization.Encoding.PEM) for c in load_bundle(bundle)]
