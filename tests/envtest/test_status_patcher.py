"""The one status patcher of ``ccc run`` (:class:`ccc.controller.status.StatusPatcher`) writes
the ``/status`` subresource of a cluster-scoped ComputeClass and of a namespaced ServingGroup
in a real kube-apiserver, and skips a write equal to the last one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.controller.serving_status import KubeGroupStatus
from ccc.controller.status import StatusWriter
from tests.support.controlplane import REPO_ROOT, ControlPlane
from tests.support.crds import apply_ccc_crds
from tests.support.kube import api_client

pytestmark = pytest.mark.controlplane

NAMESPACE = "status-patcher"


def _document(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


async def test_class_and_group_status_are_patched_once_and_read_back(
    control_plane: ControlPlane,
) -> None:
    apply_ccc_crds(control_plane)
    control_plane.kubectl("create", "namespace", NAMESPACE, check=False)
    cc = _document(REPO_ROOT / "examples/computeclasses/l4-serving.yaml")
    cc["metadata"] = {"name": "status-patcher"}
    group = _document(REPO_ROOT / "tests/manifests/servinggroups/valid/minimal.yaml")
    group["metadata"] = {"name": "patched", "namespace": NAMESPACE}
    async with api_client(control_plane.kubeconfig) as api:
        custom = client.CustomObjectsApi(api)
        await custom.create_cluster_custom_object(L.GROUP, L.VERSION, "computeclasses", cc)
        await custom.create_namespaced_custom_object(
            L.GROUP, L.VERSION, NAMESPACE, "servinggroups", group
        )
        classes, groups = StatusWriter(api), KubeGroupStatus(api)
        class_status = {"observedGeneration": 1, "unavailableOfferings": []}
        group_status = {"capacity": 2, "readyCapacity": 1.5, "selector": "app=x"}
        assert await classes.write("status-patcher", class_status)
        assert await groups.write_group_status(NAMESPACE, "patched", group_status)
        # equal to the last write: skipped
        assert not await classes.write("status-patcher", dict(class_status))
        assert not await groups.write_group_status(NAMESPACE, "patched", dict(group_status))
        got_class = await custom.get_cluster_custom_object(
            L.GROUP, L.VERSION, "computeclasses", "status-patcher"
        )
        got_group = await custom.get_namespaced_custom_object(
            L.GROUP, L.VERSION, NAMESPACE, "servinggroups", "patched"
        )
        # (the CRD's defaults fill the rest)
        assert got_class["status"].items() >= class_status.items()
        assert got_group["status"].items() >= group_status.items()
        classes.forget("status-patcher")  # a new leader writes again
        assert await classes.write("status-patcher", class_status)
