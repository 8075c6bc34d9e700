"""Installing CustomResourceDefinitions on a local control plane for tests: ccc's own, as the
`ccc crd` command prints them, and waiting until a CRD is Established."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from .controlplane import ControlPlane, ControlPlaneError


def crd_established(plane: ControlPlane, name: str) -> bool:
    """True once the CRD ``name`` exists and has condition Established=True.

    Not `kubectl wait`: it errors out while `.status.conditions` is still unset.
    """
    status, body = plane.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    conditions = json.loads(body).get("status", {}).get("conditions") or [] if status == 200 else []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def apply_ccc_crds(plane: ControlPlane, *, kind: str | None = None) -> list[str]:
    """Apply what `ccc crd` prints (every CRD, or the one of ``kind``) and wait until each is
    Established. Server-side apply: these CRDs overflow the client-side last-applied annotation.

    Returns:
        The names of the CRDs, in the order `ccc crd` printed them.

    Raises:
        ControlPlaneError: `ccc crd` or kubectl failed, or a CRD was not Established in 60 s.
    """
    ccc = Path(sys.executable).with_name("ccc")
    printed = subprocess.run(
        [str(ccc), "crd", *(["--kind", kind] if kind else [])],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if printed.returncode != 0:
        raise ControlPlaneError(f"ccc crd failed: {printed.stderr}")
    names = [doc["metadata"]["name"] for doc in yaml.safe_load_all(printed.stdout)]
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=printed.stdout)
    for name in names:
        plane.wait_until(
            f"CRD {name} to be Established",
            lambda name=name: crd_established(plane, name),  # type: ignore[misc]
            timeout_s=60,
        )
    return names
