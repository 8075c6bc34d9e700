"""``ccc simulate`` is not a second implementation: one scripted scenario through ``ccc simulate``
(the loop over the in-memory cluster, the simulated cloud and virtual time) and through ``ccc
run`` (a real process on the local control plane: kube-apiserver, etcd, kube-scheduler, kwok
nodes, the kwok provider) issues the same sequence of decisions: the same command kinds, causes,
offerings and node counts (timestamps differ: one runs in virtual time).

The scenario: 8 pods of 1 GPU for a class of a3-highgpu-1g Spot in two zones, the first of
which has no spot capacity; the pods exist before the controller starts, so both see one batch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from ccc.api.values import CapacityType
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    REPO,
    controller,
    create_class,
    create_pods,
    gpu_class,
    gpu_pod,
    install_crd,
    pods_running,
)
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
ZONES = ("us-central1-a", "us-central1-c")
MACHINE = "a3-highgpu-1g"
PODS = 8


def simulated(tmp_path: Path, cls: dict[str, object], name: str) -> list[tuple[str, str]]:
    (tmp_path / "class.yaml").write_text(yaml.safe_dump(cls))
    workload = gpu_pod("vllm", name, gpus=1)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "vllm", "namespace": "e2e"},
        "spec": {"replicas": PODS, "template": {"spec": workload["spec"]}},
    }
    (tmp_path / "vllm.yaml").write_text(yaml.safe_dump(deployment))
    scenario = {
        "events": [
            {
                "at": 0,
                "capacity": {
                    "machineType": MACHINE,
                    "zone": ZONES[0],
                    "capacityType": "spot",
                    "available": 0,
                },
            }
        ]
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario))
    done = subprocess.run(
        [
            sys.executable, "-m", "ccc", "simulate", str(tmp_path / "class.yaml"),
            "--workload", str(tmp_path / "vllm.yaml"), "--scenario", str(tmp_path / "s.yaml"),
            "--zones", ",".join(ZONES), "--duration", "30m", "-o", "json",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [(d["command"], d["cause"]) for d in json.loads(done.stdout)["decisions"]]


async def test_simulate_and_run_on_the_control_plane_take_the_same_decisions(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    name, cloud_ns = f"xcheck-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    cls = gpu_class(name, ZONES, machine_type=MACHINE)
    expected = simulated(tmp_path, cls, name)
    assert [c.split(" ", 2)[:2] for c, _ in expected] == [
        ["provision", f"{MACHINE}/{ZONES[0]}/spot"],
        ["mark-unavailable", f"{MACHINE}/{ZONES[0]}/spot"],
        ["provision", f"{MACHINE}/{ZONES[1]}/spot"],
    ], expected
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        await cloud.set_capacity(MACHINE, ZONES[0], CapacityType.SPOT, 0)
        await create_class(api, cls)
        async with temporary_namespace(api, "e2e") as ns:
            await create_pods(api, ns, [gpu_pod(f"vllm-{i}", name, gpus=1) for i in range(PODS)])
            async with controller(cluster, tmp_path, kwok_namespace=cloud_ns) as proc:
                try:
                    await eventually(
                        f"{PODS} pods Running", lambda: pods_running(api, ns, PODS), timeout_s=90
                    )
                except TimeoutError:
                    raise AssertionError(f"controller log:\n{proc.tail()}") from None
                issued = [
                    (line["command"], line["cause"])
                    for line in proc.log_lines()
                    if line.get("event") == "command.issued"
                ]
    assert issued == expected, proc.tail()
