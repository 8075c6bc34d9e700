"""ServingGroups in ``ccc simulate``: the production ServingGroup controller runs beside the
provisioning loop in virtual time (ccc.simulate.driver), over the in-memory cluster and
Deployments (nothing real can run in virtual time); served is the group's Ready capacity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from typer.testing import CliRunner

from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.cli.main import app
from ccc.simulate.result import SimulationResult, parse_iso
from ccc.simulate.run import SimulationSpec, simulate
from ccc.simulate.scenario import parse_scenario
from ccc.simulate.serving import ServingDemandError, ServingGroupDemand, serving_demand
from providers.clock import VIRTUAL_EPOCH
from tests.support.memserving import gpu_class, group, template, tpu_class

CATALOG = load_builtin_catalog()
EXAMPLE = Path(__file__).parents[2] / "examples" / "serving" / "llama-3.1-8b"
runner = CliRunner()

#: At 1 h two of the four TPU spot nodes are preempted and TPU spot stays out for 2 h.
LOSE_HALF_THE_TPUS = """
events:
- at: 1h
  preempt: {machineType: ct6e-standard-1t, zone: us-central1-b, nodes: 2}
- at: 1h
  stockout: {machineType: ct6e-standard-1t, zone: us-central1-b, capacityType: spot, for: 2h}
- at: 5h
  demand: {servingGroup: llama, capacity: 16}
"""


def demand(capacity: int = 32) -> ServingGroupDemand:
    return ServingGroupDemand(
        body=group(capacity, obtain_timeout_s=600, stabilization_s=300),
        templates={
            "v6e": template("tpu-v6e-1", tpu=True),
            "h100": template("h100-1g", tpu=False),
        },
    )


def run(scenario: str, *, hours: float = 6, **kw: Any) -> SimulationResult:
    return simulate(
        SimulationSpec(
            classes=[tpu_class(), gpu_class()],
            demand=[demand()],
            start=VIRTUAL_EPOCH,
            duration_s=hours * 3600,
            region="us-central1",
            catalog=CATALOG,
            scenario=parse_scenario(scenario, origin="s.yaml"),
            boot_time_s=240.0,
            **kw,
        )
    )


def at_s(t: str) -> float:
    return (parse_iso(t) - VIRTUAL_EPOCH).total_seconds()


def test_lost_tpu_replicas_shift_to_the_gpu_variant_and_move_back_when_tpus_return() -> None:
    """32 requests/s = 4 TPU replicas of 8. At 1 h two are preempted and TPU spot is out: the
    controller keeps the 2 Ready TPU replicas and moves the lost 16 to ⌈16/13⌉ = 2 H100
    replicas, Ready one boot later. After the stockout it moves back (surge-first) and the
    H100 replicas go. At 5 h the capacity drops to 16 (a demand event)."""
    result = run(LOSE_HALF_THE_TPUS)
    s = result.summary
    timeline = result.timeline
    for p in timeline:
        assert p.capacity is not None
        assert p.served == pytest.approx(sum(p.capacity.values()))
    by_time = [(at_s(p.t), p.capacity or {}) for p in timeline]
    during = [c for t, c in by_time if 3600 + 240 < t < 3 * 3600]
    assert during and all(c["llama/h100"] == 26 and c["llama/v6e"] == 16 for c in during)
    assert by_time[-1][1] == {"llama/v6e": 16.0, "llama/h100": 0.0}
    assert next(p.demand for p in timeline if p.demand != 32) == 16
    # Below target: the first boot, then from the preemption until the H100s are Ready.
    assert 240 + 240 <= s.seconds_below_target <= 240 + 240 + 10
    assert s.preemptions == 2 and s.shifts >= 2
    scales = [d for d in result.decisions if d.command.startswith("scale Deployment")]
    assert any("h100 to 2" in d.command for d in scales)
    assert all(d.cause == "serving-shift" for d in scales)
    assert "ct6e-standard-1t/us-central1-b/spot" in result.prices


def test_a_controller_restart_restarts_the_serving_controller_which_reads_back_its_status() -> None:
    """A restart right after the shift: the new ServingGroup controller reads the split's
    memory from the group's status, keeps the shift (the same Ready capacity throughout) and
    goes on deciding."""
    plain = run(LOSE_HALF_THE_TPUS, hours=2)
    restarted = run(LOSE_HALF_THE_TPUS + "- at: 1h10m\n  restartController: {}\n", hours=2)
    assert restarted.summary.served_fraction == pytest.approx(plain.summary.served_fraction)
    assert [(p.served, p.capacity) for p in restarted.timeline] == [
        (p.served, p.capacity) for p in plain.timeline
    ]
    after = [
        d
        for d in restarted.decisions
        if at_s(d.t) > 4200 and d.command.startswith("scale Deployment")
    ]
    assert after, "the ServingGroup controller did not run after the restart"


def test_a_variant_on_a_workload_that_is_not_given_or_not_a_deployment_is_refused() -> None:
    body = group()
    body["spec"]["variants"][1]["targetRef"] = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "name": "h100",
    }
    with pytest.raises(ServingDemandError) as err:
        serving_demand(body, {})
    lines = str(err.value).splitlines()
    assert lines[0].startswith("ServingGroup/llama: spec.variants[v6e].targetRef: no Deployment")
    assert "LeaderWorkerSet variants are not simulated" in lines[1]


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_the_cli_simulates_the_example_group_and_reports_capacity_per_variant(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("events:\n- at: 2h\n  demand: {servingGroup: llama-3-1-8b, capacity: 80}\n")
    result = runner.invoke(
        app,
        [
            "simulate", str(EXAMPLE / "computeclasses.yaml"), "--serving-group", str(EXAMPLE),
            "--region", "us-central1", "--duration", "4h", "--scenario", str(scenario),
            "-o", "json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = yaml.safe_load(result.stdout)
    group_doc = yaml.safe_load((EXAMPLE / "servinggroup.yaml").read_text())
    assert group_doc["spec"]["capacity"] == 40
    assert doc["timeline"][0]["demand"] == 40
    assert doc["timeline"][-1]["demand"] == 80
    assert set(doc["timeline"][-1]["capacity"]) == {"llama-3-1-8b/v6e", "llama-3-1-8b/h100"}
    # 40 + 8 spare = 48 requests/s = 6 TPU replicas of 8, then 80 + 8 = 88 = 11.
    assert doc["timeline"][-1]["served"] == 88
    assert doc["summary"]["servedFraction"] > 0.95
    assert doc["summary"]["onDemandCost"] > 0


def test_the_cli_names_the_variant_whose_deployment_is_missing(tmp_path: Path) -> None:
    (tmp_path / "sg.yaml").write_text((EXAMPLE / "servinggroup.yaml").read_text())
    result = runner.invoke(
        app,
        [
            "simulate", str(EXAMPLE / "computeclasses.yaml"),
            "--serving-group", str(tmp_path / "sg.yaml"), "--region", "us-central1",
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "spec.variants[v6e].targetRef: no Deployment 'vllm-llama-8b-v6e'" in result.stderr
    assert "add its manifest to the --serving-group file" in result.stderr


def test_the_share_moves_back_when_the_class_backoff_ends_with_nothing_else_changing() -> None:
    """After the shift nothing in the cluster changes (the H100 replicas are Ready, the TPU
    stockout ends at 1 h 20 m). The ServingGroup controller wakes when the TPU class's backoff
    ends (not at the next resync, which in a simulation is a day away, as every wait is on the
    clock), moves the share back after its 300 s stabilization, and the H100s go."""
    scenario = """
events:
- at: 1h
  preempt: {machineType: ct6e-standard-1t, zone: us-central1-b, nodes: 2}
- at: 1h
  stockout: {machineType: ct6e-standard-1t, zone: us-central1-b, capacityType: spot, for: 20m}
"""
    result = run(scenario, hours=3)
    last = result.timeline[-1]
    assert last.capacity == {"llama/v6e": 32.0, "llama/h100": 0.0}
    back = [
        at_s(d.t)
        for d in result.decisions
        if d.command == "scale Deployment/serving/v6e to 4" and at_s(d.t) > 3600
    ]
    assert back and back[-1] < 2 * 3600
