"""The informer against a real kube-apiserver: list+watch, resume by resourceVersion, relist on
410 Gone, bookmarks, pagination, error handling, and the Pod/Node projections it stores.

Every test watches only its own namespace, so tests sharing the session's API server do not see
each other's objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
import yaml
from kubernetes_asyncio import client
from structlog.testing import capture_logs

from ccc.api.values import Taint
from ccc.api.workload import Toleration
from ccc.controller.informer import Informer, NodeInfo, PodInfo, Resource, node_info, pod_info
from ccc.controller.kube import request_json
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, fake_node, temporary_namespace

pytestmark = pytest.mark.controlplane

T = TypeVar("T")
PODS = Resource("", "v1", "pods", True)
CONFIGMAPS = Resource("", "v1", "configmaps", True)
NODES = Resource("", "v1", "nodes", False)


@dataclass
class Recorder(Generic[T]):
    """Collects ``on_change`` notifications as (type, old, new) tuples."""

    changes: list[tuple[str, T | None, T | None]] = field(default_factory=list)

    def __call__(self, kind: str, old: T | None, new: T | None) -> None:
        self.changes.append((kind, old, new))

    def kinds_by_name(self, name: Callable[[T], str]) -> list[tuple[str, str]]:
        out = []
        for kind, old, new in self.changes:
            value = new if new is not None else old
            assert value is not None
            out.append((kind, name(value)))
        return out


def pod(name: str, **spec: Any) -> Any:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "example.invalid/app"}], **spec},
    }


def configmap_name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


@contextlib.asynccontextmanager
async def running(informer: Informer[Any]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(informer.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
                lambda: _async(recorder.kinds_by_name(names) == expected),
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
            await core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{i}"}})
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
                await core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{i:04d}"}})

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
                    await core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{i}"}})
                    await asyncio.sleep(0.2)
                await eventually("20 notifications", lambda: _async(len(recorder.changes) >= 20))
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
        await core.create_namespaced_config_map(ns, {"metadata": {"name": "kept"}})
        await core.create_namespaced_config_map(ns, {"metadata": {"name": "doomed"}})
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
        await core.create_namespaced_config_map(ns, {"metadata": {"name": "newcomer"}})
        with capture_logs() as logs:
            async with running(informer):
                await eventually("two notifications", lambda: _async(len(recorder.changes) >= 2))
        assert recorder.kinds_by_name(str) == [("DELETED", "doomed"), ("ADDED", "newcomer")]
        assert sorted(informer.keys()) == [f"{ns}/kept", f"{ns}/newcomer"]
        assert "informer.listed" not in [entry["event"] for entry in logs]


def etcd_url(plane: ControlPlane) -> str:
    """The client URL of the plane's etcd, read from its command line."""
    for pid in plane.pids:
        with contextlib.suppress(OSError):
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            for arg in args:
                if arg.startswith("--listen-client-urls="):
                    return arg.split("=", 1)[1]
    raise AssertionError("no etcd process found in the control plane")


def compact_etcd(plane: ControlPlane) -> int:
    """Compact etcd up to a new revision (what kube-apiserver does every 5 minutes); every
    resourceVersion read before is then too old for etcd."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            etcd_url(plane) + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    # A write first, so that the compaction also covers the revision read last.
    marker = {"key": "Y2NjLXRlc3QtY29tcGFjdGlvbg==", "value": "eA=="}  # ccc-test-compaction
    revision = int(post("/v3/kv/put", marker)["header"]["revision"])
    post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
    return revision


async def test_gone_resource_version_triggers_a_relist_whose_diff_keeps_consumers_correct(
    control_plane: ControlPlane,
) -> None:
    """Events are not in kube-apiserver's watch cache, so their watches are served by etcd: after
    compacting etcd past the stopped informer's resourceVersion, the resumed watch gets the real
    ``ERROR 410 Expired`` ("The resourceVersion for the provided watch is too old")."""
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "gone") as ns,
    ):
        events_path = f"/api/v1/namespaces/{ns}/events"

        async def create_event(name: str) -> None:
            body = {
                "metadata": {"name": name},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
                "reason": "Test",
                "message": "1",
            }
            await request_json(api, "POST", events_path, body=body)

        for name in ("stays", "changes", "goes"):
            await create_event(name)
        recorder: Recorder[tuple[str, str]] = Recorder()

        def name_and_message(obj: dict[str, Any]) -> tuple[str, str]:
            return (str(obj["metadata"]["name"]), str(obj.get("message", "")))

        informer = Informer(
            api,
            Resource("", "v1", "events", True),
            project=name_and_message,
            namespace=ns,
            on_change=recorder,
        )
        async with running(informer):
            await informer.wait_synced(timeout=30)
        stopped_at = int(informer.resource_version)
        recorder.changes.clear()
        await request_json(
            api,
            "PATCH",
            f"{events_path}/changes",
            body={"message": "2"},
            content_type="application/merge-patch+json",
        )
        await request_json(api, "DELETE", f"{events_path}/goes")
        await create_event("arrives")
        assert compact_etcd(control_plane) > stopped_at
        with capture_logs() as logs:
            async with running(informer):
                await eventually("three notifications", lambda: _async(len(recorder.changes) >= 3))
        assert sorted(recorder.kinds_by_name(lambda v: v[0])) == [
            ("ADDED", "arrives"),
            ("DELETED", "goes"),
            ("MODIFIED", "changes"),
        ]
        assert sorted(informer.values()) == [("arrives", "1"), ("changes", "2"), ("stays", "1")]
        assert any(e["event"] == "informer.relist" and e["reason"] == "gone" for e in logs)
        assert [e["event"] for e in logs].count("informer.listed") == 1
        assert int(informer.resource_version) > stopped_at


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
                    await core.create_namespaced_config_map(ns, {"metadata": {"name": f"x-{i}"}})
                await eventually(
                    "a bookmark past the list's resourceVersion",
                    lambda: _async(int(informer.resource_version) > listed_at),
                    timeout_s=20,
                )
        assert recorder.changes == []
        assert any(entry["event"] == "informer.bookmark" for entry in logs)


async def test_informer_retries_a_failing_list_with_backoff_and_keeps_running(
    control_plane: ControlPlane,
) -> None:
    async with api_client(control_plane.kubeconfig) as api:
        informer: Informer[str] = Informer(
            api, Resource("nowhere.example.com", "v1", "things", False), project=configmap_name
        )
        with capture_logs() as logs:
            async with running(informer) as task:
                await eventually(
                    "two logged list errors",
                    lambda: _async(sum(e["event"] == "informer.list_error" for e in logs) >= 2),
                    timeout_s=20,
                )
                assert not task.done()
        errors = [e for e in logs if e["event"] == "informer.list_error"]
        assert "404" in errors[0]["error"]
        assert not informer.synced


async def test_pod_projection_carries_requests_selector_tolerations_and_unschedulable_state(
    control_plane: ControlPlane,
) -> None:
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "podinfo") as ns,
    ):
        core = client.CoreV1Api(api)
        manifest = {
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
            info = await eventually(
                "the unschedulable condition",
                lambda: _async(
                    (p := informer.get(f"{ns}/trainer")) is not None and p.unschedulable and p
                ),
            )
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


async def _async(value: T) -> T:
    return value


async def test_an_expired_continue_token_falls_back_to_one_unpaginated_list(
    control_plane: ControlPlane,
) -> None:
    """Events are listed from etcd, so compacting etcd while the informer is between pages
    expires its continue token for real (410 "the provided continue parameter is too old").
    The compaction is triggered from the projection of the first item, i.e. after the first
    page arrived and before the second is requested."""
    async with (
        api_client(control_plane.kubeconfig) as api,
        temporary_namespace(api, "cont") as ns,
    ):
        gate = asyncio.Semaphore(32)

        async def create(i: int) -> None:
            body = {
                "metadata": {"name": f"ev-{i:04d}"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
                "reason": "Test",
            }
            async with gate:
                await request_json(api, "POST", f"/api/v1/namespaces/{ns}/events", body=body)

        await asyncio.gather(*(create(i) for i in range(620)))
        compacted: list[int] = []

        def project(obj: dict[str, Any]) -> str:
            if not compacted:
                compacted.append(compact_etcd(control_plane))
            return str(obj["metadata"]["name"])

        informer: Informer[str] = Informer(
            api,
            Resource("", "v1", "events", True),
            project=project,
            namespace=ns,
        )
        with capture_logs() as logs:
            async with running(informer):
                await informer.wait_synced(timeout=60)
        assert sorted(informer.values()) == [f"ev-{i:04d}" for i in range(620)]
        restarts = [e for e in logs if e["event"] == "informer.list_restart"]
        assert [e["reason"] for e in restarts] == ["continue_expired"]
        listed = [e for e in logs if e["event"] == "informer.listed"]
        assert [e["count"] for e in listed] == [620]


class CuttableProxy:
    """A TCP proxy to the API server whose connections the test can cut, and whose port it can
    close for a while: a real network failure between the informer and the API server."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close_port_and_cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_informer_survives_a_network_outage_and_resumes_without_relisting(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    host, port = control_plane.server.removeprefix("https://").rsplit(":", 1)
    proxy = CuttableProxy(host, int(port))
    await proxy.open()
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    proxied = tmp_path / "proxied.kubeconfig"
    proxied.write_text(yaml.safe_dump(config))
    try:
        await _outage_scenario(control_plane, proxy, proxied)
    finally:
        await proxy.close_port_and_cut()


async def _outage_scenario(plane: ControlPlane, proxy: CuttableProxy, proxied: Path) -> None:
    async with (
        api_client(plane.kubeconfig) as api,
        api_client(proxied) as proxied_api,
        temporary_namespace(api, "outage") as ns,
    ):
        core = client.CoreV1Api(api)
        recorder: Recorder[str] = Recorder()
        informer = Informer(
            proxied_api, CONFIGMAPS, project=configmap_name, namespace=ns, on_change=recorder
        )
        with capture_logs() as logs:
            async with running(informer) as task:
                await informer.wait_synced(timeout=30)
                await core.create_namespaced_config_map(ns, {"metadata": {"name": "before"}})
                await eventually("before", lambda: _async(len(recorder.changes) == 1))
                await proxy.close_port_and_cut()
                await core.create_namespaced_config_map(ns, {"metadata": {"name": "during"}})
                await eventually(
                    "a logged watch error",
                    lambda: _async(any(e["event"] == "informer.watch_error" for e in logs)),
                    timeout_s=20,
                )
                assert not task.done()
                await proxy.open()  # the network is back, same port
                await core.create_namespaced_config_map(ns, {"metadata": {"name": "after"}})
                await eventually(
                    "three notifications",
                    lambda: _async(len(recorder.changes) == 3),
                    timeout_s=60,
                )
        assert recorder.kinds_by_name(str) == [
            ("ADDED", "before"),
            ("ADDED", "during"),
            ("ADDED", "after"),
        ]
        assert [e["event"] for e in logs].count("informer.listed") == 1
