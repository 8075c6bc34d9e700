"""The controller's loop over the in-memory cluster, the simulated cloud and a virtual clock: a
harness for unit tests over :class:`ccc.simulate.driver.VirtualLoop`, the loop ``ccc simulate``
runs, with short timings and test helpers.

Nothing is faked below the loop except what cannot run in a unit test: the API server and the
scheduler are the in-memory cluster (:mod:`ccc.controller.memcluster`), the cloud is the
simulated cloud; the loop, the decide step, the executor and the recorder are production code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ccc.api import labels as L
from ccc.controller.config import ControllerConfig
from ccc.simulate.driver import VirtualLoop

ZONES = ("us-central1-a", "us-central1-b")
#: Timings for tests: a short batching window, a resync so long it never drives the loop (the
#: loop must wake from its own wait times and from events).
CONFIG = ControllerConfig(batch_idle_s=1.0, batch_max_s=5.0, resync_s=24 * 3600.0)


def gpu_class(
    name: str = "gpu",
    *,
    zones: Sequence[str] = ZONES,
    machine_type: str = "a3-highgpu-8g",
    spot: bool = True,
    extra_rules: Sequence[Mapping[str, Any]] = (),
    **spec: Any,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"machineType": machine_type, "location": {"zones": list(zones)}}
    if spot:
        rule["spot"] = True
    return {
        "apiVersion": L.API_VERSION,
        "kind": "ComputeClass",
        "metadata": {"name": name, "generation": 1},
        "spec": {
            "priorities": [rule, *extra_rules],
            "nodePoolAutoCreation": {"enabled": True},
            **spec,
        },
    }


def gpu_pod(
    name: str, cls: str = "gpu", *, gpus: int = 8, owner: str | None = "ReplicaSet"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ml", "labels": {"app": "vllm"}}
    if owner:
        meta["ownerReferences"] = [
            {"kind": owner, "name": "vllm", "controller": True, "apiVersion": "apps/v1", "uid": "o"}
        ]
    return {
        "metadata": meta,
        "spec": {
            "nodeSelector": {L.CLASS_LABEL: cls},
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "c",
                    "resources": {
                        "requests": {"cpu": "8", "memory": "64Gi"},
                        "limits": {L.GPU_RESOURCE: str(gpus)},
                    },
                }
            ],
        },
        "status": {"phase": "Pending"},
    }


class Loop(VirtualLoop):
    """:class:`~ccc.simulate.driver.VirtualLoop` with the tests' timings and helpers."""

    default_config: ClassVar[ControllerConfig] = CONFIG

    def running(self, cls: str | None = None) -> list[Any]:
        return [
            p
            for p in self.cluster.pods()
            if p.phase == "Running" and (cls is None or p.compute_class == cls)
        ]

    def zones_of_running(self) -> set[str]:
        nodes = {n.name: n for n in self.cluster.nodes()}
        return {nodes[p.node_name].labels[L.ZONE_LABEL] for p in self.running() if p.node_name}

    def event_messages(self, reason: str | None = None) -> list[str]:
        return [e.message for e in self.cluster.events if reason is None or e.reason == reason]

    def status(self, cls: str = "gpu") -> dict[str, Any]:
        for c in self.cluster.classes():
            if c["metadata"]["name"] == cls:
                return dict(c.get("status") or {})
        raise KeyError(cls)
