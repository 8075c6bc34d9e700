"""End to end: the real kube-apiserver calls ccc's admission webhook, served by a real
``ccc run``, through the chart's MutatingWebhookConfiguration (its matchConditions and
namespaceSelectors decide which pods reach ccc). The control plane runs the
ExtendedResourceToleration admission plugin, as GKE does.

One webhook install and one controller serve the whole module (tests/e2e/admission_harness.py);
the cluster default class is set for all of it. Pods whose admission is all a test needs are
created as server-side dry runs: admission runs completely (ccc is called, with ``dryRun``),
nothing is stored. GKE's rules: reference/gke-computeclass.md §3.1.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.workload import pod_request_from_spec
from ccc.controller.kube import KubeApiError
from policies.class_admission import AdmissionSettings, admit_request
from providers.kwok import KwokProvider
from tests.e2e.admission_harness import (
    WebhookInstall,
    admitted,
    class_tolerations,
    create_with_kubectl,
    install_crd_now,
    install_webhook,
    kubectl,
    labelled_namespace,
    owned_pods,
    pod_manifest,
    uninstall_webhook,
    wait_published,
)
from tests.e2e.controller_harness import (
    ControllerProcess,
    create_class,
    events_for,
    gpu_class,
    wait_ready_endpoint,
)
from tests.support.controlplane import ControlPlane, free_port
from tests.support.kube import api_client, eventually, fake_node, temporary_nodes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
ZONE = "us-central1-a"


def _uid() -> str:
    return uuid.uuid4().hex[:6]


@dataclass
class Admission:
    install: WebhookInstall
    cloud: str
    default_class: str
    log_dir: Path
    proc: ControllerProcess | None = None
    classes: list[str] = field(default_factory=list)

    @property
    def plane(self) -> ControlPlane:
        return self.install.plane

    def start(self) -> ControllerProcess:
        self.proc = ControllerProcess(
            self.plane,
            self.log_dir,
            kwok_namespace=self.cloud,
            extra=self.install.args(
                extra=("--default-compute-class", self.default_class, "--webhook-cert-check", "1")
            ),
            name="ccc-admission",
        ).start()
        return self.proc

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


@pytest.fixture(scope="module")
def webhook(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admission]:
    uid = _uid()
    install_crd_now(cluster)
    install = install_webhook(
        cluster,
        release=f"adm{uid}",
        namespace=f"adm-{uid}",
        port=free_port(),
        values=(f"webhook.defaultComputeClass=general-{uid}",),
    )
    state = Admission(
        install, f"adm-cloud-{uid}", f"general-{uid}", tmp_path_factory.mktemp("admission")
    )
    try:
        state.start()
        yield state
    finally:
        uninstall_webhook(install)  # first: nothing may call a webhook that no longer answers
        state.stop()
        for name in state.classes:
            kubectl(cluster, "delete", f"computeclasses.{L.GROUP}", name, "--ignore-not-found")


async def ready(api: client.ApiClient, webhook: Admission, *classes: str) -> None:
    """The controller serves, its caBundle is published, and ``classes`` exist (plus the
    cluster default)."""
    for name in (webhook.default_class, *classes):
        if name not in webhook.classes:
            await create_class(api, gpu_class(name, [ZONE]))
            webhook.classes.append(name)
    assert webhook.proc is not None
    await wait_ready_endpoint(webhook.proc)
    await wait_published(api, webhook.install)


def selected(pod: dict[str, Any]) -> str | None:
    return (pod["spec"].get("nodeSelector") or {}).get(L.CLASS_LABEL)


# -- the GKE workload, for real --------------------------------------------------------------


async def test_a_gke_style_deployment_with_only_the_node_selector_runs_on_class_nodes(
    cluster: ControlPlane, webhook: Admission
) -> None:
    """No toleration anywhere in the manifests: the class toleration comes from ccc, the GPU
    toleration from ExtendedResourceToleration. A bare pod that selects the class with a
    required node-affinity term (GKE's key) runs too."""
    cls = f"adm-gpu-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook, cls)
        cloud = KwokProvider(api, namespace=webhook.cloud)
        try:
            async with labelled_namespace(api, "adm-gke") as ns:
                pod = pod_manifest("vllm", selector={L.CLASS_LABEL: cls}, gpus=8)
                deployment = owned_pods("Deployment", "vllm", 2, pod)
                await client.AppsV1Api(api).create_namespaced_deployment(ns, deployment)
                bare = pod_manifest("by-affinity", affinity_class=(L.GKE_CLASS_LABEL, cls), gpus=8)
                await admitted(api, ns, bare, dry_run=False)

                async def three_running() -> list[Any] | None:
                    pods = (await client.CoreV1Api(api).list_namespaced_pod(ns)).items
                    running = [p for p in pods if p.status.phase == "Running"]
                    return running if len(running) == 3 else None

                try:
                    running = await eventually("3 pods Running", three_running, timeout_s=150)
                except TimeoutError:
                    assert webhook.proc is not None
                    raise AssertionError(f"controller log:\n{webhook.proc.tail()}") from None
                for pod in running:
                    node = await client.CoreV1Api(api).read_node(pod.spec.node_name)
                    assert node.metadata.labels[L.CLASS_LABEL] == cls
                    tolerations = {(t.key, t.operator, t.value) for t in pod.spec.tolerations}
                    assert (L.CLASS_LABEL, "Equal", cls) in tolerations
                    assert (L.GPU_RESOURCE, "Exists", None) in tolerations
        finally:
            for pool in await cloud.list_node_pools():
                await cloud.delete_node_pool(pool.name)


async def test_a_manual_node_pool_moved_over_from_gke_keeps_its_taint_and_takes_class_pods(
    cluster: ControlPlane, webhook: Admission
) -> None:
    """A manual pool bound to a class on GKE carries GKE's label and taint
    (``cloud.google.com/compute-class=NAME:NoSchedule``, §3.1) and GKE tolerates that taint for
    the class's pods. Moved to ccc unchanged, the pool still takes them: admission tolerates
    GKE's taint as well as ccc's. The pod is pinned to the manual node, so nothing else
    (a node ccc creates) could run it."""
    cls, name = f"adm-manual-{_uid()}", f"manual-{_uid()}"
    node = fake_node(name, labels={L.GKE_CLASS_LABEL: cls})
    node["spec"]["taints"] = [{"key": L.GKE_CLASS_LABEL, "value": cls, "effect": "NoSchedule"}]
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook, cls)
        core = client.CoreV1Api(api)
        async with temporary_nodes(api, node), labelled_namespace(api, "adm-manual") as ns:
            selector = {L.GKE_CLASS_LABEL: cls, "kubernetes.io/hostname": name}
            await admitted(api, ns, pod_manifest("moved", selector=selector), dry_run=False)

            async def running() -> Any:
                pod = await core.read_namespaced_pod("moved", ns)
                return pod if pod.status.phase == "Running" else None

            try:
                pod = await eventually("the pod Running on the manual node", running, timeout_s=60)
            except TimeoutError:
                pod = await core.read_namespaced_pod("moved", ns)
                raise AssertionError(f"{pod.status}\n{pod.spec.tolerations}") from None
            assert pod.spec.node_name == name
            tolerations = {(t.key, t.value) for t in pod.spec.tolerations}
            assert {(L.CLASS_LABEL, cls), (L.GKE_CLASS_LABEL, cls)} <= tolerations


async def test_gpu_and_tpu_pods_need_no_hand_written_resource_tolerations(
    cluster: ControlPlane, webhook: Admission
) -> None:
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook)
        async with labelled_namespace(api, "adm-ert") as ns:
            for resource, pod in (
                (L.GPU_RESOURCE, pod_manifest("gpu", gpus=1)),
                (L.TPU_RESOURCE, pod_manifest("tpu", tpus=4)),
            ):
                got = await admitted(api, ns, pod)
                assert {
                    "key": resource,
                    "operator": "Exists",
                    "effect": "NoSchedule",
                } in got["spec"]["tolerations"]


# -- who gets which class --------------------------------------------------------------------


async def test_namespace_defaults_follow_the_label_and_its_daemonset_variant(
    cluster: ControlPlane, webhook: Admission
) -> None:
    cls = f"adm-ns-{_uid()}"
    plain = pod_manifest("web")
    daemon = pod_manifest("agent", owner="DaemonSet")
    cases = [
        ({L.DEFAULT_CLASS_LABEL: cls}, cls, cls),
        ({L.DEFAULT_CLASS_NON_DAEMONSET_LABEL: cls}, cls, None),
        ({L.GKE_DEFAULT_CLASS_LABEL: cls}, cls, cls),
        ({L.GKE_DEFAULT_CLASS_NON_DAEMONSET_LABEL: cls}, cls, None),
    ]
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook, cls)
        for labels, for_pods, for_daemonsets in cases:
            async with labelled_namespace(api, "adm-nsdefault", labels) as ns:
                got = await admitted(api, ns, plain)
                assert (selected(got), class_tolerations(got)) == (for_pods, [for_pods]), labels
                got = await admitted(api, ns, daemon)
                expected = [for_daemonsets] if for_daemonsets else []
                assert (selected(got), class_tolerations(got)) == (for_daemonsets, expected), labels


async def test_the_cluster_default_applies_only_where_nothing_else_names_a_class(
    cluster: ControlPlane, webhook: Admission
) -> None:
    cls = f"adm-own-{_uid()}"
    general = webhook.default_class
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook, cls)
        async with labelled_namespace(api, "adm-cluster") as ns:
            got = await admitted(api, ns, pod_manifest("web"))
            assert (selected(got), class_tolerations(got)) == (general, [general])
            got = await admitted(api, ns, pod_manifest("agent", owner="DaemonSet"))
            assert (selected(got), class_tolerations(got)) == (None, [])
            got = await admitted(api, ns, pod_manifest("own", selector={L.CLASS_LABEL: cls}))
            assert (selected(got), class_tolerations(got)) == (cls, [cls])
        async with labelled_namespace(api, "adm-cluster", {L.DEFAULT_CLASS_LABEL: cls}) as ns:
            got = await admitted(api, ns, pod_manifest("web"))
            assert (selected(got), class_tolerations(got)) == (cls, [cls])
        for excluded in ("kube-system", webhook.install.namespace):
            got = await admitted(api, excluded, pod_manifest("sys", selector={L.CLASS_LABEL: cls}))
            assert class_tolerations(got) == [], excluded
            got = await admitted(api, excluded, pod_manifest("sys"))
            assert selected(got) is None, excluded


async def test_a_pod_that_names_its_own_class_keeps_it_and_admission_is_idempotent(
    cluster: ControlPlane, webhook: Admission
) -> None:
    mine, theirs = f"adm-mine-{_uid()}", f"adm-theirs-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook, mine, theirs)
        async with labelled_namespace(api, "adm-own", {L.DEFAULT_CLASS_LABEL: theirs}) as ns:
            for pod in (
                pod_manifest("sel", selector={L.CLASS_LABEL: mine}),
                pod_manifest("gke", selector={L.GKE_CLASS_LABEL: mine}),
                pod_manifest("aff", affinity_class=(L.CLASS_LABEL, mine)),
            ):
                got = await admitted(api, ns, pod)
                assert class_tolerations(got) == [mine]
                assert selected(got) in (None, mine)
                # Admitting the admitted pod again adds nothing (reinvocation, re-creation).
                again = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "again"}}
                again["spec"] = got["spec"]
                twice = await admitted(api, ns, again)
                assert twice["spec"]["tolerations"] == got["spec"]["tolerations"]
                assert twice["spec"].get("nodeSelector") == got["spec"].get("nodeSelector")


async def test_a_missing_class_admits_the_pod_unchanged_with_a_warning_and_an_event(
    cluster: ControlPlane, webhook: Admission
) -> None:
    missing = f"adm-missing-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook)
        async with labelled_namespace(api, "adm-missing") as ns:
            pod_selector = {L.CLASS_LABEL: missing}
            pod = pod_manifest("lost", selector=pod_selector)
            pod["metadata"]["namespace"] = ns
            result = create_with_kubectl(cluster, pod)
            assert result.returncode == 0, result.stderr
            assert f"Warning: ccc: ComputeClass '{missing}'" in result.stderr
            assert class_tolerations(json.loads(result.stdout)) == []

            async def event() -> list[Any] | None:
                events = await events_for(api, kind="Pod", name="lost")
                mine = [e for e in events if e.source.component == "ccc-webhook"]
                return mine or None

            (found,) = await eventually("the webhook's Event on the pod", event, timeout_s=30)
            assert found.reason == "ComputeClassNotFound" and found.type == "Warning"
            assert missing in found.message
            # A pod made by a controller has no name yet at admission: its owner is told.
            rs = owned_pods("ReplicaSet", "lost-rs", 1, pod_manifest("x", selector=pod_selector))
            await client.AppsV1Api(api).create_namespaced_replica_set(ns, rs)

            async def rs_event() -> list[Any] | None:
                events = await events_for(api, kind="ReplicaSet", name="lost-rs")
                return [e for e in events if e.reason == "ComputeClassNotFound"] or None

            await eventually("the webhook's Event on the ReplicaSet", rs_event, timeout_s=30)
        async with labelled_namespace(api, "adm-missing", {L.DEFAULT_CLASS_LABEL: missing}) as ns:
            got = await admitted(api, ns, pod_manifest("web"))
            assert (selected(got), class_tolerations(got)) == (None, [])


async def test_a_class_created_a_moment_before_its_pod_is_not_taken_for_missing(
    cluster: ControlPlane, webhook: Admission
) -> None:
    cls = f"adm-fresh-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook)
        async with labelled_namespace(api, "adm-fresh") as ns:
            pod = pod_manifest("first", selector={L.CLASS_LABEL: cls}, gated=True)
            pod["metadata"]["namespace"] = ns
            both = {"apiVersion": "v1", "kind": "List", "items": [gpu_class(cls, [ZONE]), pod]}
            webhook.classes.append(cls)
            kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(both))
            got = await client.CoreV1Api(api).read_namespaced_pod("first", ns)
            assert [t.value for t in got.spec.tolerations if t.key == L.CLASS_LABEL] == [cls]


async def test_ccc_plan_admits_workload_pods_exactly_as_the_cluster_does(
    cluster: ControlPlane, webhook: Admission
) -> None:
    """``ccc plan --workload`` calls policies.class_admission.admit_request on the workload's pods;
    here the API server admits the same pods through ccc and the results are compared."""
    cls = f"adm-plan-{_uid()}"
    settings = AdmissionSettings(cluster_default=webhook.default_class)
    known = {cls, webhook.default_class}
    pods = [
        pod_manifest("sel", selector={L.CLASS_LABEL: cls}, gpus=8),
        pod_manifest("gke", selector={L.GKE_CLASS_LABEL: cls}),
        pod_manifest("plain", gpus=1),
        pod_manifest("other", selector={"disk": "ssd"}),
    ]
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook, cls)
        for labels in ({}, {L.DEFAULT_CLASS_LABEL: cls}, {L.GKE_DEFAULT_CLASS_LABEL: cls}):
            async with labelled_namespace(api, "adm-plan", labels) as ns:
                for pod in pods:
                    in_cluster = await admitted(api, ns, pod)
                    request = pod_request_from_spec(pod["spec"], name="p", namespace=ns)
                    planned = admit_request(
                        request, namespace_labels=labels, known_classes=known, settings=settings
                    )
                    assert planned.compute_class == (
                        selected(in_cluster)
                        or (in_cluster["spec"].get("nodeSelector") or {}).get(L.GKE_CLASS_LABEL)
                    ), (labels, pod["metadata"])
                    assert [
                        t.value for t in planned.tolerations if t.key == L.CLASS_LABEL
                    ] == class_tolerations(in_cluster), (labels, pod["metadata"])


# -- when ccc is not there ----------------------------------------------------------------------


async def test_while_ccc_is_stopped_class_pods_wait_and_nothing_else_is_blocked(
    cluster: ControlPlane, webhook: Admission
) -> None:
    """failurePolicy Fail for pods that select a class (or get a namespace default): refused
    while no replica answers, created by their controllers once ccc is back. The cluster
    default's webhook is Ignore: other pods are created unchanged. ccc's own namespace and
    kube-system never reach the webhook, so ccc itself can always start."""
    cls = f"adm-down-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook, cls)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        async with labelled_namespace(api, "adm-down") as ns:
            webhook.stop()
            try:
                with pytest.raises(KubeApiError) as refused:
                    await admitted(api, ns, pod_manifest("now", selector={L.CLASS_LABEL: cls}))
                assert refused.value.status == 500
                assert 'failed calling webhook "class-toleration.ccc.dev"' in refused.value.message
                got = await admitted(api, ns, pod_manifest("plain"), dry_run=False)
                assert selected(got) is None and class_tolerations(got) == []
                for excluded in (webhook.install.namespace, "kube-system"):
                    got = await admitted(
                        api, excluded, pod_manifest("own", selector={L.CLASS_LABEL: cls})
                    )
                    assert class_tolerations(got) == []
                pod = pod_manifest("later", selector={L.CLASS_LABEL: cls}, gated=True)
                await apps.create_namespaced_replica_set(
                    ns, owned_pods("ReplicaSet", "later", 2, pod)
                )

                async def failed_create() -> bool:
                    events = await events_for(api, kind="ReplicaSet", name="later")
                    return any(e.reason == "FailedCreate" for e in events)

                await eventually("the ReplicaSet's FailedCreate", failed_create, timeout_s=30)
                assert not [
                    p
                    for p in (await core.list_namespaced_pod(ns)).items
                    if p.metadata.name.startswith("later")
                ]
            finally:
                webhook.start()

            async def created() -> list[Any] | None:
                pods = [
                    p
                    for p in (await core.list_namespaced_pod(ns)).items
                    if p.metadata.name.startswith("later")
                ]
                return pods if len(pods) == 2 else None

            assert webhook.proc is not None
            await wait_ready_endpoint(webhook.proc)
            later = await eventually(
                "the ReplicaSet's pods, once ccc is back", created, timeout_s=90
            )
            for pod in later:
                assert [t.value for t in pod.spec.tolerations if t.key == L.CLASS_LABEL] == [cls]


async def test_the_endpoint_answers_only_admission_reviews_of_pod_creation(
    cluster: ControlPlane, webhook: Admission
) -> None:
    """Straight to ccc over TLS, trusting only the published caBundle: what the API server
    never sends is refused (400) or let through untouched."""
    async with api_client(cluster.kubeconfig) as api:
        await ready(api, webhook)
        bundle = await wait_published(api, webhook.install)
    context = ssl.create_default_context(cadata=bundle.decode())
    url = webhook.install.url()
    pod = pod_manifest("p", selector={L.CLASS_LABEL: webhook.default_class})
    pod["metadata"]["namespace"] = "team"

    def review(operation: str, kind: str = "Pod") -> dict[str, Any]:
        request = {
            "uid": "4b1f",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "operation": operation,
            "namespace": "team",
            "object": pod,
        }
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}

    async with aiohttp.ClientSession() as session:

        async def post(body: bytes) -> tuple[int, Any]:
            async with session.post(url, data=body, ssl=context) as response:
                text = await response.text()
                ok = response.content_type == "application/json"
                return response.status, json.loads(text) if ok else text

        assert (await post(b"{not json"))[0] == 400
        assert (await post(b'{"kind": "AdmissionReview"}'))[0] == 400
        status, body = await post(json.dumps(review("CREATE")).encode())
        assert status == 200 and body["response"]["uid"] == "4b1f"
        assert body["response"]["allowed"] is True and body["response"]["patchType"] == "JSONPatch"
        for operation, kind in (("UPDATE", "Pod"), ("CREATE", "Deployment")):
            status, body = await post(json.dumps(review(operation, kind)).encode())
            assert status == 200 and body["response"] == {"uid": "4b1f", "allowed": True}
