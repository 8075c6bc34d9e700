"""Time from a stockout error to the controller's next create request (issue 4, item 9c;
target <= 1 s).

The controller runs in this process (:class:`ccc.controller.run.Controller`, no leader
election) against a local cluster, with the real kwok provider underneath a subclass that
records ``time.perf_counter()`` when ``create_node_pool`` is entered and when it raises. Zone a
of ``a3-highgpu-8g`` spot is stocked out (kwok capacity 0). Each repetition creates a fresh
ComputeClass (zones a then b, so its obtainability memory starts empty) and one pod asking for
8 GPUs, and measures from the zone-a error to the entry of the zone-b create.

    .venv/bin/python -m benchmarks.stockout_latency [--repeat 20]

Prints every sample, the median and the max, and the same interval as seen in the controller's
JSON log (``offering.marked_unavailable`` -> ``provisioning.requested``; the latter is logged
after the create returns, so it includes the zone-b create itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks._cluster import (
    GPU_MACHINE,
    api_for,
    create_class,
    create_namespace,
    create_pods,
    gpu_class,
    gpu_pod,
    local_cluster,
)
from ccc.api.values import CapacityType, NodePool, NodePoolSpec
from ccc.controller.config import ControllerConfig
from ccc.controller.logs import configure_logging
from ccc.controller.run import Controller
from providers.errors import ProviderError
from providers.kwok import KwokProvider

ZONES = ("us-central1-a", "us-central1-b")
CLOUD = "stockout-cloud"
NAMESPACE = "stockout"


class TimedKwok(KwokProvider):
    """The kwok provider, recording ``(what, class, zone, perf_counter)`` per create call."""

    def __init__(self, api: Any, **kwargs: Any) -> None:
        super().__init__(api, **kwargs)
        self.marks: list[tuple[str, str, str, float]] = []

    async def create_node_pool(self, spec: NodePoolSpec) -> NodePool:
        self.marks.append(("call", spec.class_name, spec.zone, time.perf_counter()))
        try:
            pool = await super().create_node_pool(spec)
        except ProviderError:
            self.marks.append(("error", spec.class_name, spec.zone, time.perf_counter()))
            raise
        self.marks.append(("done", spec.class_name, spec.zone, time.perf_counter()))
        return pool

    def created(self, cls: str) -> bool:
        return any((w, c) == ("done", cls) for w, c, _, _ in self.marks)

    def latency_s(self, cls: str) -> float | None:
        """Zone-a error -> next zone-b create call, for class ``cls``."""
        error = next(
            (t for w, c, z, t in self.marks if (w, c, z) == ("error", cls, ZONES[0])), None
        )
        if error is None:
            return None
        return next(
            (
                t - error
                for w, c, z, t in self.marks
                if (w, c, z) == ("call", cls, ZONES[1]) and t > error
            ),
            None,
        )


def log_latencies(path: Path, classes: Sequence[str]) -> list[float]:
    marked: dict[str, float] = {}
    out = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            rec = json.loads(line)
            cls, event = rec.get("class_name"), rec.get("event")
            at = datetime.fromisoformat(str(rec.get("timestamp"))).timestamp()
            if cls in classes and event == "offering.marked_unavailable":
                marked[cls] = at
            elif cls in marked and event == "provisioning.requested":
                out.append(at - marked.pop(cls))
    return out


async def measure(repeat: int, work: Path) -> None:
    with local_cluster(work / "cluster") as plane:
        async with api_for(plane) as api:
            provider = TimedKwok(api, namespace=CLOUD)
            await provider.set_capacity(GPU_MACHINE, ZONES[0], CapacityType.SPOT, 0)
            await create_namespace(api, NAMESPACE)
            config = ControllerConfig(leader_elect=False, metrics_port=0)
            controller = Controller(api, provider, config=config)
            task = asyncio.create_task(controller.run())
            classes: list[str] = []
            try:
                informers = (controller.pods, controller.nodes, controller.classes)
                await asyncio.gather(*(i.wait_synced() for i in informers))
                for i in range(repeat):
                    cls = f"stockout-{i:03d}"
                    classes.append(cls)
                    await create_class(api, gpu_class(cls, ZONES))
                    await create_pods(api, NAMESPACE, [gpu_pod(f"{cls}-0", cls, gpus=8)])
                    deadline = time.monotonic() + 120
                    while (got := provider.latency_s(cls)) is None or not provider.created(cls):
                        if task.done() or time.monotonic() > deadline:
                            raise RuntimeError(f"no zone-b create for {cls}; see the log")
                        await asyncio.sleep(0.05)
                    print(f"{cls}: {got * 1000:7.1f} ms", flush=True)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            samples = [s for s in (provider.latency_s(c) for c in classes) if s is not None]
            ms = sorted(s * 1000 for s in samples)
            print(
                f"stockout -> next create (in process, n={len(ms)}): "
                f"median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms, min {ms[0]:.1f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ccc-bench-stockout-"))
    log_path = work / "ccc.log"
    with log_path.open("w") as log, contextlib.redirect_stderr(log):
        configure_logging("json", "info")  # the controller's JSON log, to a file
        asyncio.run(measure(args.repeat, work))
    classes = [f"stockout-{i:03d}" for i in range(args.repeat)]
    from_log = sorted(s * 1000 for s in log_latencies(log_path, classes))
    if from_log:
        print(
            f"marked_unavailable -> provisioning.requested (JSON log, n={len(from_log)}): "
            f"median {statistics.median(from_log):.1f} ms, max {from_log[-1]:.1f} ms"
        )
    print(f"# controller log: {log_path}")


if __name__ == "__main__":
    main()
