"""The informer recovers from real failures of the API server and the network: a resourceVersion
that etcd compacted away (410 Gone → relist and diff), an expired continue token, a list that
keeps failing, and a network outage between the informer and the API server.

Every test watches only its own namespace.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from structlog.testing import capture_logs

from ccc.controller.informer import Informer, Resource
from ccc.controller.kube import request_json
from tests.envtest.informer_helpers import (
    Recorder,
    compact_etcd,
    configmap,
    configmap_name,
    now,
    running,
)
from tests.support.controlplane import ControlPlane
from tests.support.faultproxy import FaultProxy, apiserver_proxy
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = pytest.mark.controlplane

CONFIGMAPS = Resource("", "v1", "configmaps", True)


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
                await eventually("three notifications", lambda: now(len(recorder.changes) >= 3))
        assert sorted(recorder.kinds_by_name(lambda v: v[0])) == [
            ("ADDED", "arrives"),
            ("DELETED", "goes"),
            ("MODIFIED", "changes"),
        ]
        assert sorted(informer.values()) == [("arrives", "1"), ("changes", "2"), ("stays", "1")]
        assert any(e["event"] == "informer.relist" and e["reason"] == "gone" for e in logs)
        assert [e["event"] for e in logs].count("informer.listed") == 1
        assert int(informer.resource_version) > stopped_at


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
                    lambda: now(sum(e["event"] == "informer.list_error" for e in logs) >= 2),
                    timeout_s=20,
                )
                assert not task.done()
        errors = [e for e in logs if e["event"] == "informer.list_error"]
        assert "404" in errors[0]["error"]
        assert not informer.synced


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


async def test_informer_survives_a_network_outage_and_resumes_without_relisting(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The informer talks to the API server through a fault proxy whose port closes (new
    connections refused) and whose open connections are reset, then reopens."""
    with apiserver_proxy(control_plane.server, control_plane.kubeconfig, tmp_path) as (
        proxy,
        proxied,
    ):
        await _outage_scenario(control_plane, proxy, proxied)


async def _outage_scenario(plane: ControlPlane, proxy: FaultProxy, proxied: Path) -> None:
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
                await core.create_namespaced_config_map(ns, configmap("before"))
                await eventually("before", lambda: now(len(recorder.changes) == 1))
                proxy.close_port()
                assert proxy.cut_established() >= 1
                await core.create_namespaced_config_map(ns, configmap("during"))
                await eventually(
                    "a logged watch error",
                    lambda: now(any(e["event"] == "informer.watch_error" for e in logs)),
                    timeout_s=20,
                )
                assert not task.done()
                proxy.open_port()  # the network is back, same port
                await core.create_namespaced_config_map(ns, configmap("after"))
                await eventually(
                    "three notifications",
                    lambda: now(len(recorder.changes) == 3),
                    timeout_s=60,
                )
        assert recorder.kinds_by_name(str) == [
            ("ADDED", "before"),
            ("ADDED", "during"),
            ("ADDED", "after"),
        ]
        events = [e["event"] for e in logs]
        assert events.count("informer.listed") == 1
        assert "informer.watch_interrupted" in events
