"""Everything the webhook needs in one ``ccc run`` replica: the namespace cache, the
certificate keeper, the reviewer and the HTTPS server. Runs in every replica, leader or not
(admission must not wait for a leader election), next to the informers the replica already
has."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from ccc.api.apicall import watched
from ccc.controller.admission.cabundle import CaBundlePublisher
from ccc.controller.admission.certs import CertificateKeeper
from ccc.controller.admission.review import PodReviewer, namespace_labels
from ccc.controller.admission.secret import SecretStore
from ccc.controller.admission.server import WebhookServer
from ccc.controller.config import ControllerConfig, WebhookConfig
from ccc.controller.events import EventRecorder
from ccc.controller.informer import Informer, Resource
from ccc.controller.kube import ApiClient
from policies.certrotation import RotationPolicy
from policies.class_admission import AdmissionSettings
from providers.clock import Clock


def rotation_policy(config: WebhookConfig) -> RotationPolicy:
    """Lifetimes from the flags; the propagation allowance is three check periods (every
    replica has re-read the Secret) plus two seconds (the API server has re-read the webhook
    configuration).

    Raises:
        ValueError: the lifetimes leave no room for a safe rotation, or no host is named.
    """
    if not config.cert_hosts:
        raise ValueError(
            "--webhook-cert-hosts is required with managed certificates: the names the API "
            "server calls the webhook by (the Service's DNS names, or 127.0.0.1 for a URL)"
        )
    return RotationPolicy(
        ca_validity=timedelta(seconds=config.ca_validity_s),
        leaf_validity=timedelta(seconds=config.cert_validity_s),
        overlap=timedelta(seconds=3 * config.check_period_s + 2),
        hosts=frozenset(config.cert_hosts),
    )


#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (*watched("", "namespaces", "the cache of namespace default-class labels"),)


class WebhookService:
    """The admission webhook of one replica."""

    def __init__(
        self,
        api: ApiClient,
        config: ControllerConfig,
        *,
        namespaces: Resource,
        classes: Informer[Any],
        registry: CollectorRegistry,
        clock: Clock,
    ) -> None:
        wc = config.webhook
        assert wc is not None
        self.config = wc
        self.namespaces: Informer[dict[str, str]] = Informer(
            api, namespaces, project=namespace_labels, name="namespaces"
        )
        self.reviewer = PodReviewer(
            api,
            settings=AdmissionSettings(
                accept_gke_label=config.accept_gke_class_label,
                cluster_default=wc.default_class,
                excluded_namespaces=frozenset(
                    {"kube-system", wc.namespace, *wc.exclude_namespaces}
                ),
            ),
            classes=classes,
            namespaces=self.namespaces,
            recorder=EventRecorder(api, namespace=wc.namespace, component="ccc-webhook"),
            registry=registry,
        )
        self.server = WebhookServer(wc.host, wc.port, handler=self.reviewer.review)
        policy = rotation_policy(wc) if wc.manage_certs else None
        publisher = (
            CaBundlePublisher(api, name=wc.config_name)
            if wc.manage_certs and wc.config_name
            else None
        )
        self.keeper = CertificateKeeper(
            SecretStore(api, namespace=wc.namespace, name=wc.secret),
            publisher=publisher,
            policy=policy,
            on_serving=self.server.load,
            clock=clock,
            period_s=wc.check_period_s,
            registry=registry,
        )

    def ready(self) -> bool:
        """Serving, with the namespace cache synced."""
        return self.server.serving and self.namespaces.synced

    async def run(self) -> None:
        """Serve until cancelled."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.namespaces.run(), name="informer-namespaces")
                tg.create_task(self.keeper.run(), name="webhook-certificates")
                await self.keeper.loaded.wait()
                await self.server.start()
        finally:
            await self.server.stop()
