"""Live catalog refresh: the real google-cloud-compute and google-cloud-billing clients talk REST
to the loopback emulator (``tests/emulator``), a fake of Google's APIs that cannot be avoided
without an account. Covers prices derived from Cloud Billing SKUs, zones and shapes from Compute,
fallback to the snapshot when a part fails, and ``ccc catalog --refresh``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog
import typer
from typer.testing import CliRunner

from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.catalog import Catalog
from ccc.api.values import CapacityType
from ccc.cli import catalog_cmd
from ccc.controller.catalog_refresh import refresh_catalog
from providers.gke import GKEProvider
from tests.emulator import faults
from tests.emulator.fixtures import provider_for
from tests.emulator.server import RunningEmulator, running_emulator
from tests.emulator.state import GKEEmulatorState

CENTRAL = ("us-central1",)


def _a3_and_n2_skus(state: GKEEmulatorState) -> None:
    """Real SKU descriptions (as in Cloud Billing) with round test prices."""
    add = state.add_sku
    add("A3 Instance Core running in Americas", group="CPU", price=0.03, regions=CENTRAL)
    add("A3 Instance Ram running in Americas", group="RAM", price=0.003, unit="GiBy.h")
    add("Nvidia H100 80GB GPU running in Americas", group="GPU", price=9.0, regions=CENTRAL)
    add("SSD backed Local Storage in Americas", group="LocalSSD", price=0.08, unit="GiBy.mo")
    add(
        "Spot Preemptible A3 Instance Core running in Americas",
        group="CPU",
        usage_type="Preemptible",
        price=0.006,
    )
    add(
        "Spot Preemptible A3 Instance Ram running in Americas",
        group="RAM",
        usage_type="Preemptible",
        price=0.0005,
        unit="GiBy.h",
    )
    add(
        "Nvidia H100 80GB GPU attached to Spot Preemptible VMs running in Americas",
        group="GPU",
        usage_type="Preemptible",
        price=2.25,
    )
    add(
        "SSD backed Local Storage attached to Spot Preemptible VMs in Americas",
        group="LocalSSD",
        usage_type="Preemptible",
        price=0.04,
        unit="GiBy.mo",
    )
    add("N1 Predefined Instance Core running in Americas", group="N1Standard", price=0.0316)
    add(
        "N1 Predefined Instance Ram running in Americas",
        group="N1Standard",
        price=0.0042,
        unit="GiBy.h",
    )
    add("Nvidia Tesla T4 GPU running in Americas", group="GPU", price=0.35)
    add(
        "Nvidia Tesla T4 GPU attached to Spot Preemptible VMs running in Americas",
        group="GPU",
        usage_type="Preemptible",
        price=0.14,
    )
    # Noise that must not match: a commitment SKU and a Mega CPU SKU.
    add(
        "Commitment v1: A3 Cpu in Americas for 1 Year", group="CPU", usage_type="Commit1Yr", price=1
    )
    add("A3Mega Instance Core running in Americas", group="CPU", price=99.0)


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    state = GKEEmulatorState()
    _a3_and_n2_skus(state)
    with running_emulator(state) as emulator:
        yield emulator


@pytest.fixture
def provider(emu: RunningEmulator) -> Iterator[GKEProvider]:
    p = provider_for(emu)
    yield p
    p.close()


@pytest.fixture(scope="module")
def snapshot() -> Catalog:
    return load_builtin_catalog()


async def test_prices_derived_from_billing_skus_replace_the_snapshot_with_their_formula(
    provider: GKEProvider, snapshot: Catalog
) -> None:
    result = await provider.refresh_catalog(snapshot)

    assert result.failures == () and result.refreshed == ("machine types", "prices")
    cat = result.catalog
    spot = cat.quote("a3-highgpu-8g", "us-central1-a", CapacityType.SPOT)
    assert spot is not None and spot.source == "BILLING"
    # 208 vCPU, 1872 GiB, 8 H100 and 6000 GB of bundled Local SSD (per GiB-month / 730 h).
    assert spot.value == pytest.approx(208 * 0.006 + 1872 * 0.0005 + 8 * 2.25 + 6000 * 0.04 / 730)
    assert spot.formula.startswith("208 vCPU x 0.006 + 1872 GiB x 0.0005 + 8 GPU x 2.25 + ")
    on_demand = cat.quote("a3-highgpu-8g", "us-central1", CapacityType.ON_DEMAND)
    assert on_demand is not None
    assert on_demand.value == pytest.approx(208 * 0.03 + 1872 * 0.003 + 8 * 9 + 6000 * 0.08 / 730)
    assert cat.sources["BILLING"].as_of == result.catalog.sources["BILLING"].as_of
    # A region the SKUs do not cover keeps its snapshot price and source.
    east = cat.price_record("a3-highgpu-8g", "us-east4")
    assert east == snapshot.price_record("a3-highgpu-8g", "us-east4")
    changed = {(c.subject, c.detail) for c in result.changes if c.kind == "price"}
    assert ("a3-highgpu-8g", "us-central1 spot") in changed
    assert ("a3-highgpu-8g", "us-east4 spot") not in changed


async def test_gpus_attached_to_n1_are_priced_per_gpu_on_top_of_the_vm(
    provider: GKEProvider, snapshot: Catalog
) -> None:
    cat = (await provider.refresh_catalog(snapshot)).catalog
    with_t4 = cat.machine_type("n1-standard-8", gpu_type="nvidia-tesla-t4", gpu_count=2)
    assert with_t4 is not None
    quote = cat.quote(with_t4, "us-central1-a", CapacityType.ON_DEMAND)
    vm = 8 * 0.0316 + 30 * 0.0042
    assert quote is not None and quote.value == pytest.approx(vm + 2 * 0.35)
    assert quote.formula.endswith(f"+ 2 nvidia-tesla-t4 x 0.35 (BILLING) = {quote.value:.10g}")
    # The snapshot has no T4 price: that node had no price before the refresh.
    assert snapshot.price(with_t4, "us-central1-a", CapacityType.ON_DEMAND) is None


async def test_zones_and_shapes_come_from_compute_and_are_verified(
    provider: GKEProvider, emu: RunningEmulator, snapshot: Catalog
) -> None:
    emu.state.add_machine_type(
        "c4-standard-8", zones=("us-central1-b", "us-central1-c"), guest_cpus=8, memory_mb=30720
    )
    result = await provider.refresh_catalog(snapshot)

    c4 = result.catalog.machine_type("c4-standard-8")
    assert c4 is not None
    assert (c4.zones, c4.unverified_zones, c4.vcpus, c4.memory_gb) == (
        ("us-central1-b", "us-central1-c"),
        (),
        8,
        30.0,
    )
    assert result.catalog.regions_with_price("c4-standard-8") == ("us-central1",)
    zone_changes = {c.detail for c in result.changes if c.subject == "c4-standard-8"}
    assert {"removed", "now verified"} <= zone_changes


async def test_a_failing_part_keeps_the_snapshot_and_is_reported(
    provider: GKEProvider, emu: RunningEmulator, snapshot: Catalog
) -> None:
    emu.state.inject(
        faults.Fault(
            method="skus",
            message="Cloud Billing API has not been used in project test-project before.",
            status="PERMISSION_DENIED",
            http_status=403,
            times=None,
        )
    )
    emu.state.add_machine_type("n2-standard-8", zones=("us-central1-a",))
    result = await provider.refresh_catalog(snapshot)

    assert result.refreshed == ("machine types",)
    (failure,) = result.failures
    assert failure.startswith("prices: ") and "Cloud Billing API" in failure
    cat = result.catalog
    assert cat.price_record("a3-highgpu-8g", "us-central1") == snapshot.price_record(
        "a3-highgpu-8g", "us-central1"
    )
    n2 = cat.machine_type("n2-standard-8")
    assert n2 is not None and n2.zones == ("us-central1-a",)


async def test_the_controller_uses_the_snapshot_when_the_whole_refresh_fails(
    provider: GKEProvider, snapshot: Catalog
) -> None:
    with structlog.testing.capture_logs() as logs:
        same = await refresh_catalog(provider, snapshot, timeout_s=0.000001)
        refreshed = await refresh_catalog(provider, snapshot)
        untouched = await refresh_catalog(object(), snapshot)
    assert same is snapshot and untouched is snapshot
    assert refreshed is not snapshot
    assert [e["event"] for e in logs] == ["catalog.refresh_failed", "catalog.refreshed"]
    assert logs[1]["changes"]["price"] > 0


app = typer.Typer(pretty_exceptions_enable=False)


@app.callback()
def _root() -> None:
    """Stands in for the ``ccc`` root so ``catalog`` is a sub-command."""


catalog_cmd.register(app)


def _catalog(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["catalog", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_catalog_refresh_prints_what_changed(emu: RunningEmulator) -> None:
    base = ["--refresh", "--gke-project", emu.state.project, "--gke-endpoint", emu.endpoint]
    code, out = _catalog(*base, "--family", "a3", "-o", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["refreshed"] == ["machine types", "prices"] and doc["failures"] == []
    change = next(
        c
        for c in doc["changes"]
        if (c["subject"], c["detail"]) == ("a3-highgpu-8g", "us-central1 spot")
    )
    assert change["before"] == "50.6095" and change["source"] == "BILLING"
    assert {c["subject"] for c in doc["changes"]} <= {
        m.name for m in load_builtin_catalog().machine_types_for(family="a3")
    }
    code, out = _catalog(*base, "--family", "a3")
    assert code == 0
    assert "Catalog refresh:" in out and "a3-highgpu-8g" in out and "BILLING" in out


def test_catalog_refresh_without_a_project_exits_1_with_a_hint() -> None:
    code, out = _catalog("--refresh")
    assert code == 1
    assert "--gke-project" in out and "Traceback" not in out
