"""Keeps the webhook's serving certificate current in every replica.

Each check period every replica:

1. reads the Secret (and, when it manages certificates, the webhook configuration's
   ``caBundle``);
2. when it manages certificates, asks :func:`policies.certrotation.next_step` what to do and
   writes the result (a new CA, a new serving certificate, a shorter bundle) guarded by the
   Secret's resourceVersion, so two replicas never both rotate: the second gets a 409 and
   re-reads;
3. publishes ``ca.crt`` as the ``caBundle`` of every webhook of the configuration;
4. hands the Secret's serving certificate to the TLS server when it changed.

With ``managed=False`` (cert-manager, or any other issuer) only steps 1 and 4 run: the Secret
is someone else's, and so is the ``caBundle``.

Every replica reads the same Secret, so all of them serve the same certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from ccc.controller.admission import pki
from ccc.controller.admission.cabundle import CaBundlePublisher
from ccc.controller.admission.secret import SecretStore, StoredSecret
from ccc.controller.kube import KubeApiError
from policies.certrotation import RotationPolicy, Step, next_step
from providers.clock import Clock

log = structlog.get_logger("ccc.webhook.certs")

BUNDLE_SINCE = "ccc.dev/ca-bundle-updated-at"
LEAF_SINCE = "ccc.dev/serving-cert-updated-at"
_MAX_STEPS = 6


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def apply_step(
    step: Step, data: dict[str, bytes], now: datetime, policy: RotationPolicy
) -> tuple[dict[str, bytes], dict[str, str]]:
    """The Secret's new data and the annotations to merge after taking ``step``.

    Raises:
        ValueError: ``step`` changes nothing (``none``, ``wait``).
    """
    stamp = now.isoformat()
    out = dict(data)
    if step is Step.CREATE:
        ca = pki.new_ca(now, policy.ca_validity)
        leaf = pki.new_leaf(ca, policy.hosts, now, policy.leaf_validity)
        out.update({pki.CA_CERT: ca.cert, pki.CA_KEY: ca.key})
        out.update({pki.TLS_CERT: leaf.cert, pki.TLS_KEY: leaf.key})
        return out, {BUNDLE_SINCE: stamp, LEAF_SINCE: stamp}
    cas = pki.split(data.get(pki.CA_CERT, b""))
    if step is Step.ADD_CA:
        ca = pki.new_ca(now, policy.ca_validity)
        out.update({pki.CA_CERT: pki.join(ca.cert, *cas[:1]), pki.CA_KEY: ca.key})
        return out, {BUNDLE_SINCE: stamp}
    if step is Step.ISSUE:
        leaf = pki.new_leaf(
            pki.Pair(cas[0], data[pki.CA_KEY]), policy.hosts, now, policy.leaf_validity
        )
        out.update({pki.TLS_CERT: leaf.cert, pki.TLS_KEY: leaf.key})
        return out, {LEAF_SINCE: stamp}
    if step is Step.DROP_OLD_CAS:
        out[pki.CA_CERT] = pki.join(cas[0])
        return out, {BUNDLE_SINCE: stamp}
    raise ValueError(f"nothing to apply for {step}")


class CertificateKeeper:
    """Creates, rotates, publishes and loads the serving certificate.

    Args:
        secrets: the Secret holding ``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key``.
        publisher: the webhook configuration to keep the ``caBundle`` of (None: nobody's).
        policy: lifetimes and hosts; None means the certificates are managed elsewhere.
        on_serving: called with the serving pair whenever it changes (first call: first load).
        period_s: seconds between checks.
    """

    def __init__(
        self,
        secrets: SecretStore,
        *,
        publisher: CaBundlePublisher | None,
        policy: RotationPolicy | None,
        on_serving: Callable[[pki.Pair], None],
        clock: Clock,
        period_s: float,
        registry: CollectorRegistry,
    ) -> None:
        self._secrets = secrets
        self._publisher = publisher
        self._policy = policy
        self._on_serving = on_serving
        self._clock = clock
        self._period_s = period_s
        self._serving: pki.Pair | None = None
        self.loaded = asyncio.Event()
        self.expiry = Gauge(
            "ccc_webhook_certificate_expiry_timestamp_seconds",
            "When the serving certificate this replica presents expires (Unix seconds).",
            registry=registry,
        )
        self.rotations = Counter(
            "ccc_webhook_certificate_changes_total",
            "Changes this replica made to the webhook's certificates, by step.",
            ["step"],
            registry=registry,
        )

    async def run(self) -> None:
        """Check every period until cancelled; errors are logged and retried next period."""
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "webhook.cert_check_failed",
                    secret=f"{self._secrets.namespace}/{self._secrets.name}",
                    error=str(exc)[:300],
                )
            await self._clock.sleep(self._period_s)

    async def check(self) -> None:
        """One pass: rotate if due, publish the bundle, load the serving pair."""
        stored = await self._secrets.read()
        if self._policy is not None:
            stored = await self._rotate(stored)
            if self._publisher is not None:
                await self._publish(stored.data.get(pki.CA_CERT, b""))
        self._load(stored)

    async def _published(self, bundle: bytes) -> bool:
        if self._publisher is None:
            return True
        try:
            current, _ = await self._publisher.read()
        except KubeApiError as exc:
            if exc.status == 404:
                return False
            raise
        return bool(current) and all(c == bundle for c in current)

    async def _rotate(self, stored: StoredSecret) -> StoredSecret:
        assert self._policy is not None
        for _ in range(_MAX_STEPS):
            now = self._clock.now()
            bundle = stored.data.get(pki.CA_CERT, b"")
            state = pki.cert_state(
                stored.data,
                bundle_since=_parse_time(stored.annotations.get(BUNDLE_SINCE)),
                leaf_since=_parse_time(stored.annotations.get(LEAF_SINCE)),
                bundle_published=await self._published(bundle),
            )
            decision = next_step(state, now, self._policy)
            if decision.step in (Step.NONE, Step.WAIT):
                return stored
            data, annotations = apply_step(decision.step, stored.data, now, self._policy)
            try:
                await self._secrets.write(stored, data, annotations)
            except KubeApiError as exc:
                if exc.status != 409:
                    raise
                log.info("webhook.cert_write_conflict", step=decision.step.value)
            else:
                self.rotations.labels(step=decision.step.value).inc()
                log.info("webhook.cert_changed", step=decision.step.value, reason=decision.reason)
            stored = await self._secrets.read()
        return stored

    async def _publish(self, bundle: bytes) -> None:
        assert self._publisher is not None
        if not bundle:
            return
        try:
            current, version = await self._publisher.read()
        except KubeApiError as exc:
            if exc.status != 404:
                raise
            log.warning(
                "webhook.config_missing",
                webhook_config=self._publisher.name,
                hint="the chart renders it; with webhook.enabled=false run ccc without --webhook",
            )
            return
        if current and all(c == bundle for c in current):
            return
        with contextlib.suppress(KubeApiError):  # a concurrent change: the next pass retries
            await self._publisher.publish(bundle, webhooks=len(current), resource_version=version)
            log.info("webhook.ca_bundle_published", webhook_config=self._publisher.name)

    def _load(self, stored: StoredSecret) -> None:
        cert, key = stored.data.get(pki.TLS_CERT, b""), stored.data.get(pki.TLS_KEY, b"")
        if not cert.strip() or not key.strip():
            log.warning(
                "webhook.cert_missing",
                secret=f"{self._secrets.namespace}/{self._secrets.name}",
                hint="waiting for tls.crt and tls.key (cert-manager, or ccc with managed certs)",
            )
            return
        pair = pki.Pair(cert, key)
        if pair == self._serving:
            return
        self._on_serving(pair)
        self._serving = pair
        leaf = pki.load_bundle(cert)
        if leaf:
            self.expiry.set(leaf[0].not_valid_after_utc.timestamp())
        log.info("webhook.cert_loaded", expires=str(leaf[0].not_valid_after_utc) if leaf else "")
        self.loaded.set()
