"""``ccc run`` learns where the cluster lives from its provider and plans only there: GKE through
``clusters.get`` on the emulator (the real google-cloud-container client, REST), the kwok and
simulated clouds from ``--region``/``--zones``; the catalog's zones come from the Compute API on
GKE. Pods selecting the class through node affinity are demand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.location import ClusterLocation
from ccc.controller.catalog_refresh import refresh_catalog
from ccc.controller.config import ControllerConfig
from ccc.controller.projections import pod_info
from ccc.controller.run import Controller, ProviderOptions, build_provider
from policies.room import pending_pods
from providers.clock import VirtualClock
from providers.simulated import SimulatedCloud
from tests.builders import catalog
from tests.emulator.fixtures import provider_for
from tests.emulator.server import RunningEmulator, running_emulator
from tests.emulator.state import GKEEmulatorState


class _NoApi:
    """No Kubernetes API: these tests call only the provider-facing start-up steps."""


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    state = GKEEmulatorState(location="us-east5", zones=("us-east5-a", "us-east5-b"))
    state.machine_types = {
        "us-east5-b": [{"name": "ct6e-standard-4t", "zone": "us-east5-b"}],
    }
    with running_emulator(state) as emulator:
        yield emulator


async def test_a_leader_on_gke_plans_in_the_region_clusters_get_reports(
    emu: RunningEmulator,
) -> None:
    provider = provider_for(emu)
    try:
        # As ``ccc run`` does: the catalog is refreshed once at start-up, then the leader asks
        # where the cluster lives.
        refreshed = await refresh_catalog(provider, load_builtin_catalog())
        c = Controller(
            _NoApi(), provider, config=ControllerConfig(leader_elect=False), catalog=refreshed
        )
        await c.reconciler.learn_location()
    finally:
        provider.close()
    assert c.reconciler.cluster is not None
    assert (c.reconciler.cluster.region, c.reconciler.cluster.zones) == (
        "us-east5",
        ("us-east5-a", "us-east5-b"),
    )
    m = c.reconciler.catalog.machine_type("ct6e-standard-4t")
    assert m is not None and m.zones == ("us-east5-b",)


async def test_zones_flag_narrows_the_provider_location() -> None:
    cloud = SimulatedCloud(
        clock=VirtualClock(),
        location=ClusterLocation(region="us-central1", zones=("us-central1-a", "us-central1-b")),
    )
    cfg = ControllerConfig(leader_elect=False, default_zones=("us-central1-b", "us-east4-a"))
    c = Controller(_NoApi(), cloud, config=cfg, clock=cloud.clock)
    await c.reconciler.learn_location()
    assert c.reconciler.cluster is not None
    assert c.reconciler.cluster.zones == ("us-central1-b",)


async def test_a_failing_location_call_falls_back_to_the_flags() -> None:
    class Broken(SimulatedCloud):
        async def cluster_location(self) -> ClusterLocation:
            raise RuntimeError("boom")

    cloud = Broken(clock=VirtualClock())
    c = Controller(
        _NoApi(), cloud, config=ControllerConfig(leader_elect=False, region="europe-west4")
    )
    await c.reconciler.learn_location()
    assert c.reconciler.cluster is not None and c.reconciler.cluster.region == "europe-west4"


@pytest.mark.parametrize("name", ["kwok", "simulated"])
async def test_kwok_and_simulated_clouds_take_the_configured_region_and_zones(name: str) -> None:
    opts = ProviderOptions(name=name, region="us-east5", zones=("us-east5-b",))  # type: ignore[arg-type]
    provider = await build_provider(opts, _NoApi(), catalog(), VirtualClock())
    location = await provider.cluster_location()  # type: ignore[attr-defined]
    assert (location.region, location.zones) == ("us-east5", ("us-east5-b",))
    default = await build_provider(ProviderOptions(name=name), _NoApi(), catalog(), VirtualClock())  # type: ignore[arg-type]
    assert (await default.cluster_location()).region == "us-central1"  # type: ignore[attr-defined]


def test_a_pod_selecting_the_class_through_node_affinity_is_demand() -> None:
    pod = pod_info(
        {
            "metadata": {"name": "p", "namespace": "ml", "uid": "u"},
            "spec": {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": L.GKE_CLASS_LABEL,
                                            "operator": "In",
                                            "values": ["c"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                },
                "containers": [{"name": "x", "resources": {"limits": {L.GPU_RESOURCE: "1"}}}],
            },
            "status": {"phase": "Pending"},
        }
    )
    assert pod.compute_class == "c" and pod.wants_capacity
    demand, _ = pending_pods([pod], accept_gke_label=True)
    assert [d.compute_class for d in demand] == ["c"]
    assert pending_pods([pod], accept_gke_label=False)[0] == []
