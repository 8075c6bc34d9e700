"""Proof that the ComputeClass CRD printed by `ccc crd` works in a real kube-apiserver, and that the
API server and `ccc validate` reach the same verdict on every manifest we know.

- The CRD installs, is Established, and is structural (no NonStructuralSchema condition), so
  pruning, defaulting and CEL rules apply.
- `kubectl explain computeclass.spec.priorities` shows the descriptions generated from the models.
- For each shared example (apiVersion rewritten to `ccc.dev/v1alpha1`), each shipped example
  under `examples/computeclasses/` and each test manifest
  under `tests/manifests/{valid,invalid}/`, a server-side `dryRun=All` create (with strict field
  validation, as kubectl does) accepts exactly the files that `ccc validate` accepts.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
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
from tests.support.kube import api_client, eventually

pytestmark = pytest.mark.controlplane

GROUP, VERSION, PLURAL = "ccc.dev", "v1alpha1", "computeclasses"
CRD_NAME = f"{PLURAL}.{GROUP}"
SHARED_EXAMPLES = Path(
    os.environ.get(
        "CCC_SHARED_EXAMPLES", REPO_ROOT.parent / "shared" / "examples" / "computeclasses"
    )
)
REPO_EXAMPLES = REPO_ROOT / "examples" / "computeclasses"
TEST_MANIFESTS = REPO_ROOT / "tests" / "manifests"


def _manifest_files() -> list[Path]:
    files = sorted(SHARED_EXAMPLES.glob("*.yaml")) + sorted(REPO_EXAMPLES.glob("*.yaml"))
    for verdict in ("valid", "invalid"):
        files += sorted((TEST_MANIFESTS / verdict).glob("*.yaml"))
    return files


def _case_id(path: Path) -> str:
    if path.parent == SHARED_EXAMPLES:
        return f"shared/{path.name}"
    if path.parent == REPO_EXAMPLES:
        return f"examples/{path.name}"
    return f"{path.parent.name}/{path.name}"


MANIFESTS = _manifest_files()


@pytest.fixture(scope="module")
def installed_crd(control_plane: ControlPlane) -> Iterator[dict[str, Any]]:
    """The CRD from `ccc crd`, applied with kubectl and read back once Established."""
    ccc = Path(sys.executable).with_name("ccc")
    printed = subprocess.run(
        [str(ccc), "crd", "--kind", "ComputeClass"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert printed.returncode == 0, f"ccc crd failed: {printed.stderr}"
    assert yaml.safe_load(printed.stdout)["metadata"]["name"] == CRD_NAME
    # Server-side apply: a CRD this size would overflow the client-side last-applied annotation.
    control_plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=printed.stdout
    )
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"

    def established() -> bool:
        # Not `kubectl wait`: it errors out when .status.conditions is not yet set.
        status, body = control_plane.get(path)
        conditions = json.loads(body).get("status", {}).get("conditions") or []
        return status == 200 and any(
            c["type"] == "Established" and c["status"] == "True" for c in conditions
        )

    control_plane.wait_until(f"CRD {CRD_NAME} to be Established", established, timeout_s=60)
    yield json.loads(control_plane.get(path)[1])


def test_crd_printed_by_ccc_crd_is_established_and_structural(
    installed_crd: dict[str, Any],
) -> None:
    conditions = {c["type"]: c for c in installed_crd["status"]["conditions"]}
    assert conditions["Established"]["status"] == "True"
    assert conditions["NamesAccepted"]["status"] == "True"
    assert "NonStructuralSchema" not in conditions
    assert installed_crd["spec"]["scope"] == "Cluster"
    assert [v["name"] for v in installed_crd["spec"]["versions"] if v["served"]] == [VERSION]


def _normalized(text: str) -> str:
    return " ".join(text.split())


async def test_kubectl_explain_shows_the_descriptions_of_spec_priorities(
    control_plane: ControlPlane, installed_crd: dict[str, Any]
) -> None:
    schema = installed_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    priorities = schema["properties"]["spec"]["properties"]["priorities"]
    rule_fields = priorities["items"]["properties"]
    described = {name: f["description"] for name, f in rule_fields.items() if f.get("description")}
    assert priorities.get("description"), "spec.priorities has no description in the CRD"
    assert described, "no field of a priority rule has a description in the CRD"

    async def explained() -> str | None:
        # The OpenAPI document is republished shortly after the CRD is established.
        output = await asyncio.to_thread(
            control_plane.kubectl,
            "explain",
            "computeclass.spec.priorities",
            f"--api-version={GROUP}/{VERSION}",
            check=False,
        )
        return output if "FIELDS:" in output else None

    output = await eventually("kubectl explain to know the ComputeClass CRD", explained)
    flat = _normalized(output)
    assert _normalized(priorities["description"]) in flat
    for name, description in described.items():
        assert f"{name}\t" in output or f"{name} " in output, f"{name} missing from explain"
        assert _normalized(description) in flat, f"description of {name} missing from explain"


def _rewritten_documents(path: Path) -> list[dict[str, Any]]:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for doc in documents:
        if doc.get("apiVersion") == "cloud.google.com/v1":
            doc["apiVersion"] = f"{GROUP}/{VERSION}"
    return documents


async def _server_verdict(plane: ControlPlane, documents: list[dict[str, Any]]) -> tuple[bool, str]:
    async with api_client(plane.kubeconfig) as api:
        custom = client.CustomObjectsApi(api)
        for document in documents:
            try:
                await custom.create_cluster_custom_object(
                    GROUP, VERSION, PLURAL, document, dry_run="All", field_validation="Strict"
                )
            except ApiException as error:
                if error.status in (400, 422):
                    return False, str(error.body)
                raise
    return True, ""


@pytest.mark.parametrize("manifest", MANIFESTS, ids=[_case_id(p) for p in MANIFESTS])
async def test_server_side_validation_agrees_with_ccc_validate(
    control_plane: ControlPlane,
    installed_crd: dict[str, Any],
    manifest: Path,
    tmp_path: Path,
) -> None:
    documents = _rewritten_documents(manifest)
    rewritten = tmp_path / manifest.name
    rewritten.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    local = CliRunner().invoke(app, ["validate", str(rewritten)])
    assert local.exit_code in (0, 1), f"ccc validate crashed: {local.output}"
    server_valid, server_message = await _server_verdict(control_plane, documents)
    assert server_valid == (local.exit_code == 0), (
        f"{manifest}: ccc validate says {'valid' if local.exit_code == 0 else 'invalid'}"
        f" ({local.output.strip()}); the API server says "
        f"{'valid' if server_valid else 'invalid'} ({server_message})"
    )


def test_every_source_of_manifests_is_present() -> None:
    assert sorted(SHARED_EXAMPLES.glob("*.yaml")), f"no shared examples in {SHARED_EXAMPLES}"
    for verdict in ("valid", "invalid"):
        assert sorted((TEST_MANIFESTS / verdict).glob("*.yaml")), f"no manifests in {verdict}/"
