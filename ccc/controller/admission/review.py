"""One AdmissionReview in, one AdmissionReview out: the shell around
:func:`policies.class_admission.admit`.

Inputs come from the caches of every replica (ComputeClasses and namespaces). A class or a
namespace the cache does not know yet (created a moment before the pod, in the same
``kubectl apply``) is read from the API server before the decision, so a fresh class is never
mistaken for a missing one. Events are recorded in the background, never on dry runs, and are
best effort; the answer does not wait for them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from ccc.api import labels as L
from ccc.api.apicall import ApiCall
from ccc.controller.events import EventRecorder, ObjectRef
from ccc.controller.kube import ApiClient, KubeApiError, request_json
from policies.class_admission import Admission, AdmissionSettings, admit, classes_to_check

log = structlog.get_logger("ccc.webhook")

_LOOKUP_TIMEOUT_S = 2.0

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    ApiCall("", "namespaces", "get", "a namespace the cache lacks yet"),
    ApiCall(L.GROUP, "computeclasses", "get", "a class the cache lacks yet"),
)
_SYNC_WAIT_S = 2.0
#: Namespace labels that matter to admission (the rest are not cached).
NAMESPACE_LABELS = (
    L.DEFAULT_CLASS_LABEL,
    L.DEFAULT_CLASS_NON_DAEMONSET_LABEL,
    L.GKE_DEFAULT_CLASS_LABEL,
    L.GKE_DEFAULT_CLASS_NON_DAEMONSET_LABEL,
)


class Cache(Protocol):
    """What the review needs of an informer."""

    @property
    def synced(self) -> bool: ...

    def __contains__(self, key: object) -> bool: ...

    async def wait_synced(self, timeout: float | None = None) -> None: ...  # noqa: ASYNC109


class LabelCache(Cache, Protocol):
    def get(self, key: str) -> dict[str, str] | None: ...


def namespace_labels(obj: dict[str, Any]) -> dict[str, str]:
    """Projection of a Namespace for the cache: only the default-class labels."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return {k: str(v) for k, v in labels.items() if k in NAMESPACE_LABELS}


class BadReview(ValueError):
    """The request body is not an AdmissionReview the webhook can answer (HTTP 400)."""


class PodReviewer:
    """Answers ``admission.k8s.io/v1`` AdmissionReviews for pod creation."""

    def __init__(
        self,
        api: ApiClient,
        *,
        settings: AdmissionSettings,
        classes: Cache,
        namespaces: LabelCache,
        recorder: EventRecorder,
        registry: CollectorRegistry,
    ) -> None:
        self._api = api
        self.settings = settings
        self._classes = classes
        self._namespaces = namespaces
        self._recorder = recorder
        self._background: set[asyncio.Task[None]] = set()
        self.reviews = Counter(
            "ccc_admission_reviews_total",
            "Pod admission reviews answered by this replica, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "ccc_admission_review_seconds",
            "Time to answer a pod admission review (lookups included).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )

    async def review(self, body: Any) -> dict[str, Any]:
        """The AdmissionReview response for an AdmissionReview request.

        Raises:
            BadReview: the body is not an AdmissionReview with a request.
            KubeApiError, aiohttp.ClientError, TimeoutError: a lookup failed; the API server
                then applies the webhook's failurePolicy.
        """
        began = time.perf_counter()
        try:
            answer, outcome = await self._answer(body)
        except BadReview:
            raise
        except Exception:
            self.reviews.labels(outcome="error").inc()
            raise
        self.reviews.labels(outcome=outcome).inc()
        self.latency.observe(time.perf_counter() - began)
        return answer

    async def _answer(self, body: Any) -> tuple[dict[str, Any], str]:
        request = body.get("request") if isinstance(body, dict) else None
        if not isinstance(request, dict) or not request.get("uid"):
            raise BadReview("expected an admission.k8s.io/v1 AdmissionReview with a request")
        response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        pod = request.get("object")
        kind = (request.get("kind") or {}).get("kind")
        if kind == "Pod" and request.get("operation") == "CREATE" and isinstance(pod, dict):
            result = await self._decide(request, pod)
            if result.patch:
                response["patchType"] = "JSONPatch"
                response["patch"] = base64.b64encode(json.dumps(result.patch).encode()).decode()
            if result.warnings:
                response["warnings"] = [f"ccc: {w}" for w in result.warnings]
            outcome = result.outcome
        else:
            outcome = "ignored"
        answer = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": response,
        }
        return answer, outcome

    async def _decide(self, request: Mapping[str, Any], pod: dict[str, Any]) -> Admission:
        namespace = str(request.get("namespace") or "")
        meta = pod.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        labels = await self._namespace_labels(namespace)
        names = classes_to_check(pod, namespace_labels=labels, settings=self.settings)
        known = {n for n in names if await self._class_exists(n)}
        result = admit(pod, namespace_labels=labels, known_classes=known, settings=self.settings)
        name = str(meta.get("name") or request.get("name") or "")
        log.debug(
            "admission.reviewed",
            namespace=namespace,
            pod=name or f"{meta.get('generateName', '')}*",
            outcome=result.outcome,
            classes=list(result.classes),
            source=result.source,
            ops=len(result.patch),
        )
        if result.events and not request.get("dryRun"):
            self._record(pod, namespace, name, result)
        return result

    async def _namespace_labels(self, namespace: str) -> dict[str, str]:
        cache = self._namespaces
        if not cache.synced:
            await _wait(cache)
        cached = cache.get(namespace) if cache.synced else None
        if cached is not None:
            return cached
        try:
            obj = await request_json(
                self._api, "GET", f"/api/v1/namespaces/{namespace}", timeout_s=_LOOKUP_TIMEOUT_S
            )
        except KubeApiError as exc:
            if exc.status == 404:
                return {}
            raise
        return namespace_labels(obj)

    async def _class_exists(self, name: str) -> bool:
        cache = self._classes
        if not cache.synced:
            await _wait(cache)
        if name in cache:
            return True
        try:
            await request_json(
                self._api,
                "GET",
                f"/apis/{L.GROUP}/{L.VERSION}/computeclasses/{name}",
                timeout_s=_LOOKUP_TIMEOUT_S,
            )
        except KubeApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _record(self, pod: Mapping[str, Any], namespace: str, name: str, result: Admission) -> None:
        meta = pod.get("metadata") or {}
        ref = ObjectRef(kind="Pod", name=name, namespace=namespace, uid=meta.get("uid"))
        if not name:
            # A pod with only generateName has no name yet: tell its controller instead.
            owners = meta.get("ownerReferences") or []
            owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
            if owner is None:
                return
            ref = ObjectRef(
                kind=str(owner.get("kind")),
                name=str(owner.get("name")),
                namespace=namespace,
                uid=owner.get("uid"),
                api_version=str(owner.get("apiVersion") or "v1"),
            )
        for event in result.events:
            task = asyncio.create_task(
                self._recorder.emit(
                    ref,
                    type_="Warning",
                    reason=event.reason,
                    message=event.message,
                    now=datetime.now(UTC),
                )
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)


async def _wait(cache: Cache) -> None:
    with contextlib.suppress(TimeoutError):  # then answer from the API server instead
        await cache.wait_synced(timeout=_SYNC_WAIT_S)
