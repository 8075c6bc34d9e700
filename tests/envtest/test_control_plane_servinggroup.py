"""Proof that the ServingGroup CRD printed by `ccc crd` works in a real kube-apiserver.

- `ccc crd` (both CRDs) applies, and the ServingGroup CRD is Established, namespaced and
  structural; `kubectl explain` shows the descriptions generated from the models.
- For every manifest under tests/manifests/servinggroups/, a server-side `dryRun=All` create
  (strict field validation, as kubectl does) accepts exactly what `ccc validate` accepts.
- The scale subresource works as the HPA and `kubectl scale` use it: scaling sets
  `spec.capacity`, and the scale object reports `status.capacity` and `status.selector`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from typer.testing import CliRunner

from ccc.cli.main import app
from tests.support.controlplane import REPO_ROOT, ControlPlane
from tests.support.crds import apply_ccc_crds
from tests.support.kube import api_client, eventually

pytestmark = pytest.mark.controlplane

GROUP, VERSION, PLURAL = "ccc.dev", "v1alpha1", "servinggroups"
CRD_NAME = f"{PLURAL}.{GROUP}"
NAMESPACE = "sg-envtest"
MANIFESTS = sorted((REPO_ROOT / "tests" / "manifests" / "servinggroups").rglob("*.yaml"))


@pytest.fixture(scope="module")
def installed_crds(control_plane: ControlPlane) -> Iterator[dict[str, Any]]:
    """Every CRD from `ccc crd`, applied with kubectl; yields the ServingGroup CRD once
    Established, and a namespace for the tests."""
    assert apply_ccc_crds(control_plane) == ["computeclasses.ccc.dev", CRD_NAME]
    control_plane.kubectl("create", "namespace", NAMESPACE, check=False)
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
    yield json.loads(control_plane.get(path)[1])


def test_serving_group_crd_is_established_namespaced_and_structural(
    installed_crds: dict[str, Any],
) -> None:
    conditions = {c["type"]: c for c in installed_crds["status"]["conditions"]}
    assert conditions["Established"]["status"] == "True"
    assert conditions["NamesAccepted"]["status"] == "True"
    assert "NonStructuralSchema" not in conditions
    assert installed_crds["spec"]["scope"] == "Namespaced"
    [version] = installed_crds["spec"]["versions"]
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.capacity"


async def test_kubectl_explain_shows_the_variant_descriptions(
    control_plane: ControlPlane, installed_crds: dict[str, Any]
) -> None:
    schema = installed_crds["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    variant = schema["properties"]["spec"]["properties"]["variants"]["items"]["properties"]

    async def explained() -> str | None:
        output = await asyncio.to_thread(
            control_plane.kubectl,
            "explain",
            "servinggroup.spec.variants",
            f"--api-version={GROUP}/{VERSION}",
            check=False,
        )
        return output if "FIELDS:" in output else None

    output = " ".join((await eventually("kubectl explain servinggroup", explained)).split())
    for name in ("capacityPerReplica", "targetRef", "minReplicas", "maxReplicas"):
        assert " ".join(variant[name]["description"].split()) in output, name


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


async def _server_verdict(plane: ControlPlane, documents: list[dict[str, Any]]) -> tuple[bool, str]:
    async with api_client(plane.kubeconfig) as api:
        custom = client.CustomObjectsApi(api)
        for document in documents:
            try:
                await custom.create_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    NAMESPACE,
                    PLURAL,
                    document,
                    dry_run="All",
                    field_validation="Strict",
                )
            except ApiException as error:
                if error.status in (400, 422):
                    return False, str(error.body)
                raise
    return True, ""


@pytest.mark.parametrize(
    "manifest", MANIFESTS, ids=[f"{p.parent.name}/{p.name}" for p in MANIFESTS]
)
async def test_server_side_validation_agrees_with_ccc_validate_on_serving_groups(
    control_plane: ControlPlane, installed_crds: dict[str, Any], manifest: Path
) -> None:
    documents = _documents(manifest)
    for doc in documents:
        doc["metadata"]["namespace"] = NAMESPACE
    local = CliRunner().invoke(app, ["validate", str(manifest)])
    assert local.exit_code in (0, 1), f"ccc validate crashed: {local.output}"
    server_valid, server_message = await _server_verdict(control_plane, documents)
    assert server_valid == (local.exit_code == 0), (
        f"{manifest}: ccc validate says {'valid' if local.exit_code == 0 else 'invalid'}"
        f" ({local.output.strip()}); the API server says "
        f"{'valid' if server_valid else 'invalid'} ({server_message})"
    )
    assert server_valid == (manifest.parent.name == "valid")


async def test_kubectl_scale_sets_the_capacity_and_the_scale_object_reads_the_status(
    control_plane: ControlPlane, installed_crds: dict[str, Any]
) -> None:
    [group] = _documents(REPO_ROOT / "tests/manifests/servinggroups/valid/minimal.yaml")
    group["metadata"] = {"name": "scaled", "namespace": NAMESPACE}
    async with api_client(control_plane.kubeconfig) as api:
        custom = client.CustomObjectsApi(api)
        await custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, group)
        await asyncio.to_thread(
            control_plane.kubectl, "scale", "-n", NAMESPACE, "servinggroup/scaled", "--replicas=25"
        )
        got = await custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "scaled")
        assert got["spec"]["capacity"] == 25
        status = {"capacity": 20, "readyCapacity": 20.5, "selector": "ccc.dev/serving-group=scaled"}
        await asyncio.to_thread(
            control_plane.kubectl,
            "patch",
            "-n",
            NAMESPACE,
            "servinggroup/scaled",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
        )
        scale = await custom.get_namespaced_custom_object_scale(
            GROUP, VERSION, NAMESPACE, PLURAL, "scaled"
        )
    assert scale["spec"]["replicas"] == 25
    assert scale["status"] == {"replicas": 20, "selector": "ccc.dev/serving-group=scaled"}
    table = await asyncio.to_thread(control_plane.kubectl, "get", "sg", "-n", NAMESPACE, "scaled")
    header, row = table.splitlines()
    assert header.split()[:3] == ["NAME", "CAPACITY", "READY"]
    assert row.split()[:3] == ["scaled", "25", "20.5"]
