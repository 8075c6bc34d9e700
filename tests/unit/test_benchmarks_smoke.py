"""The controller benchmarks stay runnable: each module imports and parses its arguments, and the
log reading they report from pairs the controller's events correctly. (Running them needs a
cluster and minutes; see docs/benchmarks.md.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.stockout_latency import log_latencies

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "module",
    [
        "benchmarks.time_to_running",
        "benchmarks.controller_memory",
        "benchmarks.stockout_latency",
        "benchmarks.chaos",
        "benchmarks.simulate_inputs",
        "benchmarks.serving_shift",
        "benchmarks.admission_latency",
        "benchmarks.simulate_speed",
        "benchmarks.decision_quality",
        "benchmarks.flex_start_expiry",
    ],
)
def test_each_controller_benchmark_prints_its_usage(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_stockout_latency_from_the_log_pairs_each_class_marking_with_its_next_request(
    tmp_path: Path,
) -> None:
    def line(event: str, cls: str, at: str) -> str:
        return json.dumps({"event": event, "class_name": cls, "timestamp": f"{at}Z"})

    log = tmp_path / "ccc.log"
    log.write_text(
        "\n".join(
            [
                "# not JSON",
                line("provisioning.requested", "a", "2026-01-01T00:00:00.000"),
                line("offering.marked_unavailable", "a", "2026-01-01T00:00:01.000"),
                line("offering.marked_unavailable", "b", "2026-01-01T00:00:01.100"),
                line("provisioning.requested", "b", "2026-01-01T00:00:01.150"),
                line("provisioning.requested", "a", "2026-01-01T00:00:01.250"),
                line("provisioning.requested", "a", "2026-01-01T00:00:09.000"),
                line("offering.marked_unavailable", "other", "2026-01-01T00:00:10.000"),
                line("provisioning.requested", "other", "2026-01-01T00:00:10.500"),
            ]
        )
    )
    got = log_latencies(log, ["a", "b"])
    assert got == pytest.approx([0.05, 0.25], abs=1e-3)


def test_chaos_percentiles_are_nearest_rank() -> None:
    from benchmarks.chaos import percentile

    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == 5.0
    assert percentile(values, 90) == 9.0
    assert percentile(values, 100) == 10.0
    assert percentile([3.0], 90) == 3.0
