"""End to end with the GKE provider: ``ccc run --provider gke`` (a real process) on the local
cluster, its real google-cloud clients talking REST to the GKE emulator in this test process.

The emulator (``tests/emulator``) is a fake of Google's APIs, unavoidable without an account;
everything from the controller down to the HTTP bytes is production code. The KWOK bridge
(``tests/emulator/kwok_bridge.py``) turns the node pools the emulator creates into KWOK Nodes, so
the scheduler binds the pending pods to them and kwok runs them, as GKE's VMs would.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from providers.gke import GKEProvider
from tests.e2e.controller_harness import (
    ControllerProcess,
    class_status,
    controller,
    create_class,
    create_pods,
    events_until,
    gpu_pod,
    install_crd,
    pods_running,
)
from tests.emulator import faults
from tests.emulator.fixtures import ccc_run_args, provider_for
from tests.emulator.kwok_bridge import KwokBridge, kwok_bridge
from tests.emulator.server import RunningEmulator, running_emulator
from tests.emulator.state import GKEEmulatorState
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
ZONES = ("us-central1-a", "us-central1-b", "us-central1-c")
MACHINE = "a3-highgpu-8g"
DEDICATED = {"key": "example.com/dedicated", "value": "inference", "effect": "NoSchedule"}


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def _h100_class(name: str, zones: Sequence[str]) -> dict[str, Any]:
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": name},
        "spec": {
            "priorities": [
                {
                    "machineType": MACHINE,
                    "spot": True,
                    "gpu": {"type": "nvidia-h100-80gb", "count": 8, "driverVersion": "latest"},
                    "location": {"zones": list(zones)},
                }
            ],
            "nodePoolConfig": {"taints": [DEDICATED], "nodeLabels": {"team": "inference"}},
            "nodePoolAutoCreation": {"enabled": True},
        },
    }


def _diagnostics(proc: ControllerProcess, bridge: KwokBridge, emu: RunningEmulator) -> str:
    pools = ", ".join(f"{n}: {p.get('status')}" for n, p in emu.state.node_pools.items())
    return (
        f"emulator pools: {pools or 'none'}\nbridge errors: {bridge.errors[-5:]}\n"
        f"controller log:\n{proc.tail()}"
    )


@pytest.mark.parametrize("stockout", ["injected_fault", "exhausted_capacity"])
async def test_gpu_pods_run_on_emulated_gke_nodes_in_the_next_zone_after_a_stockout(
    cluster: ControlPlane, tmp_path: Path, stockout: str
) -> None:
    """Zone a is stocked out either by an injected fault or by the emulator's capacity model
    (no spot a3-highgpu-8g left there); both fail the create operation with GCE's
    ZONE_RESOURCE_POOL_EXHAUSTED text."""
    cls = f"e2e-gke-{_uid()}"
    state = GKEEmulatorState(cluster=f"e2e-{_uid()}")
    if stockout == "injected_fault":
        state.inject(faults.stockout(ZONES[0], project=state.project, times=None))
    else:
        state.set_capacity(ZONES[0], MACHINE, 0, model="spot")
    with running_emulator(state) as emu, kwok_bridge(emu, cluster.kubeconfig) as bridge:
        async with api_client(cluster.kubeconfig) as api:
            await install_crd(api)
            await create_class(api, _h100_class(cls, ZONES[:2]))
            async with (
                temporary_namespace(api, "e2e") as ns,
                controller(cluster, tmp_path, provider_args=ccc_run_args(emu)) as proc,
            ):
                await create_pods(api, ns, [gpu_pod(f"vllm-{i}", cls, gpus=2) for i in range(8)])
                try:
                    running = await eventually(
                        "8 pods Running", lambda: pods_running(api, ns, 8), timeout_s=150
                    )
                except TimeoutError:
                    raise AssertionError(_diagnostics(proc, bridge, emu)) from None

                core = client.CoreV1Api(api)
                nodes = {p.spec.node_name for p in running}
                for name in nodes:
                    node = await core.read_node(name)
                    labels = node.metadata.labels
                    assert labels[L.ZONE_LABEL] == ZONES[1]
                    assert labels[L.CLASS_LABEL] == cls
                    assert labels[L.GKE_SPOT_LABEL] == "true"
                    assert labels[L.GKE_ACCELERATOR_LABEL] == "nvidia-h100-80gb"
                    assert name in emu.state.instances[labels[L.GKE_NODE_POOL_LABEL]]

                await events_until(
                    api,
                    kind="ComputeClass",
                    name=cls,
                    done=lambda evs: any(f"after stockout in {ZONES[0]}" in e.message for e in evs),
                )
                status = await class_status(api, cls)
                marked = status["unavailableOfferings"]
                assert [(o["zone"], o["capacityType"]) for o in marked] == [(ZONES[0], "spot")]

                await _assert_pool_is_what_the_rule_implies(emu, cls)


async def _assert_pool_is_what_the_rule_implies(emu: RunningEmulator, cls: str) -> None:
    """The emulator holds one pool, in zone b, with every field the rule implies; the failed
    pool of zone a was cleaned up (GKE would leave it in ERROR, retrying behind ccc's back)."""
    with emu.state.lock:
        # Only this class's pools: other tests' classes may still be live in the shared plane.
        raw = {
            name: dict(p)
            for name, p in emu.state.node_pools.items()
            if name.startswith(f"ccc-{cls}-")
        }
    assert len(raw) == 1, list(raw)
    pool = next(iter(raw.values()))
    cfg = pool["config"]
    assert pool["locations"] == [ZONES[1]]
    assert cfg["machineType"] == MACHINE
    assert cfg["spot"] is True
    [accelerator] = cfg["accelerators"]
    assert accelerator["acceleratorType"] == "nvidia-h100-80gb"
    assert int(accelerator["acceleratorCount"]) == 8
    # GPUDriverInstallationConfig.GPUDriverVersion.LATEST (enums travel as ints).
    assert accelerator["gpuDriverInstallationConfig"] == {"gpuDriverVersion": 3}
    labels = cfg["labels"]
    assert labels[L.CLASS_LABEL] == cls
    assert labels[L.RULE_INDEX_LABEL] == "0"
    assert labels[L.CAPACITY_TYPE_LABEL] == "spot"
    assert labels[L.NODE_POOL_LABEL] == pool["name"]
    assert labels["team"] == "inference"
    assert cfg["resourceLabels"]["managed-by"] == "ccc"
    taints = {(t["key"], t.get("value", ""), t["effect"]) for t in cfg["taints"]}
    # NodeTaint.Effect.NO_SCHEDULE == 1; nvidia.com/gpu is left to GKE.
    assert taints == {(L.CLASS_LABEL, cls, 1), (DEDICATED["key"], DEDICATED["value"], 1)}
    assert pool.get("autoscaling", {}).get("enabled") is not True

    provider: GKEProvider = provider_for(emu)
    try:
        [seen] = [p for p in await provider.list_node_pools() if p.name.startswith(f"ccc-{cls}-")]
    finally:
        provider.close()
    assert seen.managed and seen.class_name == cls and seen.node_count == 2
    assert seen.zones == (ZONES[1],)


async def test_emptied_nodes_leave_through_the_instance_group_and_an_empty_pool_is_deleted(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """Scale-down on GKE: an empty node is removed with ``instanceGroupManagers.deleteInstances``
    (node name = VM name), the last empty node takes its pool with it, and the bridge removes
    the Nodes as the emulator's instances go."""
    cls = f"e2e-gke-down-{_uid()}"
    state = GKEEmulatorState(cluster=f"e2e-{_uid()}")
    with running_emulator(state) as emu, kwok_bridge(emu, cluster.kubeconfig) as bridge:
        async with api_client(cluster.kubeconfig) as api:
            await install_crd(api)
            await create_class(api, _h100_class(cls, ZONES[:1]))
            core = client.CoreV1Api(api)
            async with (
                temporary_namespace(api, "e2e") as ns,
                controller(
                    cluster,
                    tmp_path,
                    provider_args=ccc_run_args(emu),
                    extra=["--consolidation-delay", "1"],
                ) as proc,
            ):
                await create_pods(api, ns, [gpu_pod(f"vllm-{i}", cls, gpus=2) for i in range(8)])
                try:
                    running = await eventually(
                        "8 pods Running", lambda: pods_running(api, ns, 8), timeout_s=150
                    )
                    by_node: dict[str, list[str]] = {}
                    for p in running:
                        by_node.setdefault(p.spec.node_name, []).append(p.metadata.name)
                    assert len(by_node) == 2, by_node
                    emptied, kept = sorted(by_node)
                    for pod in by_node[emptied]:
                        await core.delete_namespaced_pod(pod, ns, grace_period_seconds=0)

                    async def node_removed() -> bool:
                        with emu.state.lock:
                            pools = [list(v) for v in emu.state.instances.values()]
                        nodes = await core.list_node(label_selector=f"{L.CLASS_LABEL}={cls}")
                        names = {n.metadata.name for n in nodes.items}
                        return pools == [[kept]] and names == {kept}

                    await eventually("empty node removed", node_removed, timeout_s=90)
                    assert emu.calls("POST", "/deleteInstances")

                    for pod in by_node[kept]:
                        await core.delete_namespaced_pod(pod, ns, grace_period_seconds=0)

                    async def pool_deleted() -> bool:
                        nodes = await core.list_node(label_selector=f"{L.CLASS_LABEL}={cls}")
                        return not emu.state.node_pools and not nodes.items

                    await eventually("empty pool deleted", pool_deleted, timeout_s=90)
                except (TimeoutError, AssertionError) as exc:
                    raise AssertionError(f"{exc}\n{_diagnostics(proc, bridge, emu)}") from None
