"""End to end: ``ccc run --provider gke`` refreshes its catalog from Compute and Cloud Billing
before it plans, and walks the refreshed zones.

A real ``ccc run`` process on the local cluster; its google-cloud-compute and
google-cloud-billing clients talk REST to the GKE emulator in this test process (a fake of
Google's APIs, unavoidable without an account).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from tests.e2e.controller_harness import controller, create_class, create_pods, gpu_pod, install_crd
from tests.emulator.server import running_emulator
from tests.emulator.state import GKEEmulatorState
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
MACHINE = "a3-highgpu-8g"


def _class(name: str) -> dict[str, Any]:
    """A rule without zones: the controller walks the catalog's zones for the machine type."""
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": name},
        "spec": {
            "nodePoolAutoCreation": {"enabled": True},
            "priorities": [
                {
                    "machineType": MACHINE,
                    "spot": True,
                    "gpu": {"type": "nvidia-h100-80gb", "count": 8},
                }
            ],
        },
    }


async def test_the_controller_plans_with_the_zones_and_prices_of_the_live_catalog(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    snapshot = load_builtin_catalog().machine_type(MACHINE)
    assert snapshot is not None and snapshot.zones[0] == "us-central1-a"
    state = GKEEmulatorState(cluster=f"e2e-{uuid.uuid4().hex[:6]}")
    # Compute reports the machine type only in zone c of the cluster's region; Billing has SKUs.
    state.add_machine_type(MACHINE, zones=("us-central1-c",), guest_cpus=208, memory_mb=1916928)
    state.add_sku(
        "Spot Preemptible A3 Instance Core running in Americas",
        group="CPU",
        usage_type="Preemptible",
        price=0.006,
    )
    state.add_sku(
        "Spot Preemptible A3 Instance Ram running in Americas",
        group="RAM",
        usage_type="Preemptible",
        price=0.0005,
        unit="GiBy.h",
    )
    cls = f"e2e-refresh-{uuid.uuid4().hex[:6]}"
    with running_emulator(state) as emu:
        args = [
            "--provider", "gke",
            "--gke-project", state.project,
            "--gke-location", state.location,
            "--gke-cluster", state.cluster,
            "--gke-endpoint", emu.endpoint,
        ]  # fmt: skip
        async with api_client(cluster.kubeconfig) as api:
            await install_crd(api)
            await create_class(api, _class(cls))
            async with (
                temporary_namespace(api, "e2e") as ns,
                controller(cluster, tmp_path, provider_args=args) as proc,
            ):
                await create_pods(api, ns, [gpu_pod("vllm-0", cls, gpus=8)])

                async def first_pool() -> dict[str, Any] | None:
                    with emu.state.lock:
                        pools = list(emu.state.node_pools.values())
                    return pools[0] if pools else None

                pool = await eventually("a node pool is requested", first_pool, timeout_s=120)
                assert pool["locations"] == ["us-central1-c"], proc.tail()
                events = [line.get("event") for line in proc.log_lines()]
                assert "catalog.refreshed" in events, proc.tail()
                refreshed = next(
                    x for x in proc.log_lines() if x.get("event") == "catalog.refreshed"
                )
                assert refreshed["refreshed"] == ["machine types", "prices"]
                assert refreshed["changes"]["zones"] >= 1
                assert emu.calls("GET", "/skus")
