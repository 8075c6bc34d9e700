"""The informer against a real kube-apiserver: list+watch, synced, pagination, resume by
resourceVersion, bookmarks, and the Pod/Node projections it stores. Failure handling (410 Gone,
expired continue tokens, failing lists, network outages) is in test_informer_recovery.py.

Every test watches only its own namespace, so tests sharing the session's API server do not see
each other's objects.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import pytest
from kubernetes_asyncio import client
from structlog.testing import capture_logs

from ccc.api.values import Taint
from ccc.api.workload import Toleration
from ccc.controller.informer import Informer, NodeInfo, PodInfo, Resource, node_info, pod_info
from tests.envtest.informer_helpers import Recorder, configmap, configmap_name, now, running
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, fake_node, temporary_namespace

pytestmark = pytest.mark.controlplane

T = TypeVar("T")
PODS = Resource("", "v1", "pods", True)
CONFIGMAPS = Resource("", "v1", "configmaps", True)
NODES = Resource("", "v1", "nodes", False)


def pod(name: str, **spec: Any) -> Any:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "example.invalid/app"}], **spec},
    }


async def test_informer_lists_existing_pods_then_sees_adds_updates_and_deletes(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "inf") as ns,
    ):
        core = client.CoreV1Api(api)
        await core.create_namespaced_pod(ns, pod("early"))
        recorder: Recorder[PodInfo] = Recorder()
        informer = Informer(api, PODS, project=pod_info, namespace=ns, on_change=recorder)
        async with running(informer):
            await informer.wait_synced(timeout=30)
            assert informer.keys() == [f"{ns}/early"]
            await core.create_namespaced_pod(ns, pod("late"))
            await core.patch_namespaced_pod(
                "early", ns, {"metadata": {"labels": {"ccc.dev/x": "1"}}}
            )
            await core.delete_namespaced_pod("late", ns, grace_period_seconds=0)

            def names(p: PodInfo) -> str:
                return p.name

            expected = [
                ("ADDED", "early"),
                ("ADDED", "late"),
                ("MODIFIED", "early"),
                ("MODIFIED", "late"),  # the deletion timestamp is set first
                ("DELETED", "late"),
            ]
            await eventually(
                "all five notifications",
                lambda: now(recorder.kinds_by_name(names) == expected),
                timeout_s=30,
            )
            early = informer.get(f"{ns}/early")
            assert early is not None and early.labels == {"ccc.dev/x": "1"}
            assert informer.get(f"{ns}/late") is None
            assert len(informer) == 1
            _, old, new = recorder.changes[2]
            assert old is not None and old.labels == {} and new is not None


async def test_informer_reports_synced_only_after_the_whole_initial_list_is_stored(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "sync") as ns,
    ):
        core = client.CoreV1Api(api)
        for i in range(5):
            await core.create_namespaced_config_map(ns, configmap(f"cm-{i}"))
        seen_while: list[bool] = []
        informer: Informer[str] = Informer(
            api,
            CONFIGMAPS,
            project=configmap_name,
            namespace=ns,
            on_change=lambda kind, old, new: seen_while.append(informer.synced),
        )
        assert not informer.synced
        assert informer.resource_version == ""
        with pytest.raises(TimeoutError):
            await informer.wait_synced(timeout=0.05)
        async with running(informer):
            await informer.wait_synced(timeout=30)
            assert informer.synced
            assert sorted(informer.values()) == [f"cm-{i}" for i in range(5)]
            assert seen_while == [False] * 5
            assert int(informer.resource_version) > 0


async def test_informer_pages_through_a_list_larger_than_the_page_limit(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        # A name that sorts before the others: a cluster-wide list filtered by a
        # metadata.namespace field selector would lose every page after the first here.
        temporary_namespace(api, "aaa-page") as ns,
    ):
        core = client.CoreV1Api(api)
        gate = asyncio.Semaphore(32)

        async def create(i: int) -> None:
            async with gate:
                await core.create_namespaced_config_map(ns, configmap(f"cm-{i:04d}"))

        await asyncio.gather(*(create(i) for i in range(1203)))
        informer: Informer[str] = Informer(api, CONFIGMAPS, project=configmap_name, namespace=ns)
        with capture_logs() as logs:
            async with running(informer):
                await informer.wait_synced(timeout=60)
        assert len(informer) == 1203
        listed = [entry for entry in logs if entry["event"] == "informer.listed"]
        assert len(listed) == 1
        # 1203 objects need at least 3 pages of 500; the server may return fewer per page.
        assert listed[0]["count"] == 1203 and listed[0]["pages"] >= 3


async def test_informer_resumes_from_its_resource_version_when_the_watch_times_out(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "resume") as ns,
    ):
        core = client.CoreV1Api(api)
        recorder: Recorder[str] = Recorder()
        informer = Informer(
            api,
            CONFIGMAPS,
            project=configmap_name,
            namespace=ns,
            on_change=recorder,
            watch_timeout_s=1,
        )
        with capture_logs() as logs:
            async with running(informer):
                await informer.wait_synced(timeout=30)
                # Writes spread over ~4 s span several 1 s watch requests.
                for i in range(20):
                    await core.create_namespaced_config_map(ns, configmap(f"cm-{i}"))
                    await asyncio.sleep(0.2)
                await eventually("20 notifications", lambda: now(len(recorder.changes) >= 20))
        assert recorder.kinds_by_name(str) == [("ADDED", f"cm-{i}") for i in range(20)]
        events = [entry["event"] for entry in logs]
        assert events.count("informer.listed") == 1
        assert events.count("informer.watch_ended") >= 3
        assert "informer.relist" not in events


async def test_a_restarted_informer_resumes_its_watch_and_catches_up_without_relisting(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "restart") as ns,
    ):
        core = client.CoreV1Api(api)
        await core.create_namespaced_config_map(ns, configmap("kept"))
        await core.create_namespaced_config_map(ns, configmap("doomed"))
        recorder: Recorder[str] = Recorder()
        informer = Informer(
            api,
            CONFIGMAPS,
            project=configmap_name,
            namespace=ns,
            on_change=recorder,
        )
        async with running(informer):
            await informer.wait_synced(timeout=30)
        recorder.changes.clear()
        await core.delete_namespaced_config_map("doomed", ns)
        await core.create_namespaced_config_map(ns, configmap("newcomer"))
        with capture_logs() as logs:
            async with running(informer):
                await eventually("two notifications", lambda: now(len(recorder.changes) >= 2))
        assert recorder.kinds_by_name(str) == [("DELETED", "doomed"), ("ADDED", "newcomer")]
        assert sorted(informer.keys()) == [f"{ns}/kept", f"{ns}/newcomer"]
        assert "informer.listed" not in [entry["event"] for entry in logs]


async def test_bookmarks_advance_the_resource_version_without_notifying(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "bookmark") as ns,
    ):
        core = client.CoreV1Api(api)
        recorder: Recorder[str] = Recorder()
        informer = Informer(
            api,
            CONFIGMAPS,
            project=configmap_name,
            label_selector="watched=yes",
            namespace=ns,
            on_change=recorder,
            watch_timeout_s=3,
        )
        with capture_logs() as logs:
            async with running(informer):
                await informer.wait_synced(timeout=30)
                listed_at = int(informer.resource_version)
                # Writes the informer does not select still move the server's resourceVersion.
                for i in range(3):
                    await core.create_namespaced_config_map(ns, configmap(f"x-{i}"))
                await eventually(
                    "a bookmark past the list's resourceVersion",
                    lambda: now(int(informer.resource_version) > listed_at),
                    timeout_s=20,
                )
        assert recorder.changes == []
        assert any(entry["event"] == "informer.bookmark" for entry in logs)


async def test_pod_projection_carries_requests_selector_tolerations_and_unschedulable_state(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "podinfo") as ns,
    ):
        core = client.CoreV1Api(api)
        manifest: Any = {
            "metadata": {
                "name": "trainer",
                "labels": {"ccc.dev/team": "ml", "unrelated": "dropped"},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": "trainer-abc",
                        "uid": "00000000-0000-0000-0000-000000000001",
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "nodeSelector": {"ccc.dev/compute-class": "gpus"},
                "tolerations": [
                    {
                        "key": "ccc.dev/compute-class",
                        "operator": "Equal",
                        "value": "gpus",
                        "effect": "NoSchedule",
                    },
                ],
                "initContainers": [
                    {"name": "init", "image": "x", "resources": {"requests": {"cpu": "6"}}}
                ],
                "containers": [
                    {
                        "name": "a",
                        "image": "x",
                        "resources": {
                            "requests": {"cpu": "2", "memory": "1Gi"},
                            "limits": {"nvidia.com/gpu": "4"},
                        },
                    },
                    {"name": "b", "image": "x", "resources": {"requests": {"cpu": "500m"}}},
                ],
            },
        }
        await core.create_namespaced_pod(ns, manifest)
        await core.patch_namespaced_pod_status(
            "trainer",
            ns,
            {
                "status": {
                    "conditions": [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "lastTransitionTime": "2026-01-02T03:04:05Z",
                        }
                    ]
                }
            },
        )
        informer = Informer(api, PODS, project=pod_info, namespace=ns)
        async with running(informer):
            await informer.wait_synced(timeout=30)

            async def unschedulable() -> PodInfo | None:
                found = informer.get(f"{ns}/trainer")
                return found if found is not None and found.unschedulable else None

            info = await eventually("the unschedulable condition", unschedulable)
        assert (info.cpu_m, info.memory_bytes, info.gpus, info.tpus) == (6000, 2**30, 4, 0)
        assert info.compute_class == "gpus"
        # The DefaultTolerationSeconds admission plugin adds the not-ready/unreachable ones.
        assert (
            Toleration(
                key="ccc.dev/compute-class", operator="Equal", value="gpus", effect="NoSchedule"
            )
            in info.tolerations
        )
        assert info.unschedulable_since is not None
        assert info.unschedulable_since.isoformat() == "2026-01-02T03:04:05+00:00"
        assert (info.owner_kind, info.owner_name) == ("ReplicaSet", "trainer-abc")
        assert info.labels == {"ccc.dev/team": "ml"}
        assert info.pending and not info.deleting and info.phase == "Pending"
        request = info.request()
        assert (request.gpus, request.compute_class, request.count) == (4, "gpus", 1)


async def test_node_projection_carries_allocatable_taints_readiness_and_ccc_annotations(
    control_plane: ControlPlane,
) -> None:
    async with api_client(control_plane.kubeconfig) as api:
        core = client.CoreV1Api(api)
        name = f"proj-node-{id(api) % 100000}"
        manifest = fake_node(name, labels={"ccc.dev/compute-class": "gpus"}, gpus=8)
        manifest["metadata"]["annotations"]["ccc.dev/flex-start-deadline"] = "2026-01-09T00:00:00Z"
        manifest["spec"] = {
            "unschedulable": True,
            "taints": [{"key": "ccc.dev/compute-class", "value": "gpus", "effect": "NoSchedule"}],
        }
        manifest["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        await core.create_node(manifest)
        try:
            informer = Informer(
                api, NODES, project=node_info, field_selector=f"metadata.name={name}"
            )
            async with running(informer):
                await informer.wait_synced(timeout=30)
            info = informer.get(name)
        finally:
            await core.delete_node(name)
        assert isinstance(info, NodeInfo)
        assert (info.cpu_m, info.memory_bytes, info.gpus, info.pods) == (32000, 256 * 2**30, 8, 110)
        # The TaintNodesByCondition admission plugin adds node.kubernetes.io/not-ready.
        assert Taint(key="ccc.dev/compute-class", value="gpus") in info.taints
        assert info.unschedulable and info.ready
        assert info.labels["ccc.dev/compute-class"] == "gpus"
        assert info.annotations == {"ccc.dev/flex-start-deadline": "2026-01-09T00:00:00Z"}
