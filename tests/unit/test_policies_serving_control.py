"""The ServingGroup controller's decision (policies/serving_control.py): one table per rule.

Observation (what counts as Ready, Pending, terminating, disrupted, lost), class
obtainability, the ScaleTarget commands (only through /scale, never for a workload another owner
scales), and the Event of each shift. The split itself is tested in test_policies_serving.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, PodInfo, node_info, pod_info
from ccc.api.location import ClusterLocation
from ccc.api.servinggroup import ServingGroup
from ccc.api.values import CapacityType, OfferingKey
from policies.commands import Cause as CommandCause
from policies.obtainability import BackoffPolicy, ObtainabilityMemory
from policies.serving import Cause
from policies.serving_control import (
    TargetView,
    class_unobtainable,
    decide_group,
    observe_variant,
    replica_price,
)
from tests.builders import NOW, catalog, make_class

SPOT_TAINT = "cloud.google.com/impending-node-termination"


def node(
    name: str,
    *,
    ready: bool = True,
    taint: str | None = None,
    disruption: str | None = None,
    spot: bool = True,
    zone: str = "us-east5-b",
) -> NodeInfo:
    labels = {L.ZONE_LABEL: zone}
    if spot:
        labels[L.GKE_SPOT_LABEL] = "true"
    meta: dict[str, Any] = {"name": name, "uid": f"u-{name}", "labels": labels}
    if disruption:
        meta["annotations"] = {L.DISRUPTION_ANNOTATION: disruption}
    taints = [{"key": taint, "effect": "NoSchedule"}] if taint else []
    cond = {"type": "Ready", "status": "True" if ready else "False"}
    return node_info(
        {"metadata": meta, "spec": {"taints": taints}, "status": {"conditions": [cond]}}
    )


def pod(
    name: str,
    *,
    on: str | None = None,
    phase: str = "Running",
    ready: bool | None = True,
    deleting: bool = False,
    age_s: float = 0,
    tpu: bool = True,
) -> PodInfo:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "ml",
        "creationTimestamp": (NOW - timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if deleting:
        meta["deletionTimestamp"] = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    limits = {L.TPU_RESOURCE: "1"} if tpu else {L.GPU_RESOURCE: "1"}
    status: dict[str, Any] = {"phase": phase if on else "Pending"}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    return pod_info(
        {
            "metadata": meta,
            "spec": {
                "nodeName": on,
                "nodeSelector": {L.CLASS_LABEL: "tpu"},
                "containers": [{"name": "c", "resources": {"limits": limits}}],
            },
            "status": status,
        }
    )


def group(capacity: int = 32, **extra: Any) -> ServingGroup:
    def variant(name: str, per: float) -> dict[str, Any]:
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        return {"name": name, "targetRef": ref, "capacityPerReplica": per}

    return ServingGroup.model_validate(
        {
            "apiVersion": "ccc.dev/v1alpha1",
            "kind": "ServingGroup",
            "metadata": {"name": "llama", "namespace": "ml"},
            "spec": {
                "capacity": capacity,
                "variants": [variant("v6e", 8), variant("h100", 13)],
                **extra,
            },
        }
    )


# --- observation --------------------------------------------------------------------------------

NODES = {
    n.name: n
    for n in (
        node("ok"),
        node("notready", ready=False),
        node("tainted", taint=SPOT_TAINT),
        node("shutdown", taint="node.cloudprovider.kubernetes.io/shutdown"),
        node("expiring", disruption="expiry"),
    )
}


@pytest.mark.parametrize(
    ("the_pod", "ready", "pending", "terminating", "disrupted"),
    [
        (pod("a", on="ok"), 1, 0, 0, 0),
        (pod("a", on="ok", ready=None), 1, 0, 0, 0),  # no Ready condition: Running counts
        (pod("a", on="ok", ready=False), 0, 1, 0, 0),  # loading the model
        (pod("a"), 0, 1, 0, 0),  # unscheduled
        (pod("a", on="ok", deleting=True), 0, 0, 1, 0),
        (pod("a", on="notready"), 0, 0, 1, 0),  # lost with its node
        (pod("a", on="tainted"), 0, 0, 1, 0),  # spot termination notice
        (pod("a", on="shutdown"), 0, 0, 1, 0),
        (pod("a", on="gone"), 0, 0, 1, 0),  # the node object is already deleted
        (pod("a", on="expiring"), 1, 0, 0, 1),  # planned disruption: Ready, but not covering
        (pod("a", on="ok", phase="Succeeded"), 0, 0, 0, 0),
    ],
)
def test_each_pod_counts_as_ready_pending_terminating_or_disrupted(
    the_pod: PodInfo, ready: int, pending: int, terminating: int, disrupted: int
) -> None:
    obs, _, _ = observe_variant(TargetView(replicas=1, pods=(the_pod,)), NODES, **_ok())
    assert (obs.ready, obs.pending, obs.terminating, obs.disrupted) == (
        ready,
        pending,
        terminating,
        disrupted,
    )


def _ok() -> dict[str, Any]:
    return {"offerings_unavailable": False}


def test_the_oldest_pending_replica_starts_the_obtain_timeout() -> None:
    view = TargetView(replicas=3, pods=(pod("a", age_s=5), pod("b", age_s=50), pod("c", on="ok")))
    obs, _, _ = observe_variant(view, NODES, **_ok())
    assert obs.pending == 2
    assert obs.pending_since == NOW - timedelta(seconds=50)


def test_replicas_lost_with_spot_nodes_say_where() -> None:
    view = TargetView(replicas=2, pods=(pod("a", on="tainted"), pod("b", on="tainted")))
    _, loss, _ = observe_variant(view, NODES, **_ok())
    assert loss is not None
    assert (loss.count, loss.where) == (2, "spot preemption in us-east5-b")


# --- class obtainability ------------------------------------------------------------------------

TPU_RULE = {
    "tpu": {"type": "tpu-v6e-slice", "count": 1, "topology": "1x1"},
    "spot": True,
    "location": {"zones": ["us-east5-a", "us-east5-b"]},
}


def _memory(*zones: str) -> ObtainabilityMemory:
    m = ObtainabilityMemory(policy=BackoffPolicy(180, 3600))
    for z in zones:
        key = OfferingKey(machine_type="ct6e-standard-1t", zone=z, capacity_type=CapacityType.SPOT)
        m = m.record_failure(key, reason="STOCKOUT", message="no", now=NOW)
    return m


@pytest.mark.parametrize(
    ("zones", "expected"),
    [
        ((), False),
        (("us-east5-a",), False),  # one zone left: still obtainable
        (("us-east5-a", "us-east5-b"), True),  # every offering backed off
    ],
)
def test_a_class_is_unobtainable_only_when_every_offering_is_backed_off(
    zones: tuple[str, ...], expected: bool
) -> None:
    cc = make_class(TPU_RULE, name="tpu")
    assert class_unobtainable(cc, catalog(), _memory(*zones), NOW) is expected


def test_a_zone_outside_the_cluster_region_never_keeps_a_class_obtainable() -> None:
    # Node pools live in the cluster's own region: a us-central1 zone the class names is never tried
    # by a us-east5 cluster, so backing off us-east5's zones is enough.
    rule = {**TPU_RULE, "location": {"zones": ["us-central1-b", "us-east5-a", "us-east5-b"]}}
    cc = make_class(rule, name="tpu")
    east5 = ClusterLocation(region="us-east5", zones=("us-east5-a", "us-east5-b"), source="test")
    backed_off = _memory("us-east5-a", "us-east5-b")
    assert class_unobtainable(cc, catalog(), backed_off, NOW, cluster=east5)
    assert not class_unobtainable(cc, catalog(), _memory("us-east5-a"), NOW, cluster=east5)


def test_an_expired_backoff_makes_the_class_obtainable_again() -> None:
    cc = make_class(TPU_RULE, name="tpu")
    later = NOW + timedelta(seconds=181)
    assert not class_unobtainable(cc, catalog(), _memory("us-east5-a", "us-east5-b"), later)


def test_a_replica_is_priced_by_its_share_of_the_node() -> None:
    cc = make_class(
        {"machineType": "a3-highgpu-8g", "location": {"zones": ["us-central1-a"]}}, name="h"
    )
    view = TargetView(pods=(pod("a", tpu=False),))
    one_gpu = replica_price(cc, view, catalog(), _memory(), NOW)
    node_price = catalog().price("a3-highgpu-8g", "us-central1-a", CapacityType.ON_DEMAND)
    assert one_gpu is not None and node_price is not None
    assert one_gpu == pytest.approx(node_price / 8)


# --- commands -----------------------------------------------------------------------------------


def _views(**variants: TargetView) -> dict[str, TargetView]:
    return {"v6e": TargetView(class_name="tpu"), "h100": TargetView(class_name="gpu"), **variants}


def test_a_new_group_scales_only_the_preferred_workload_through_scale() -> None:
    d = decide_group(group(), _views(), NODES, frozenset(), now=NOW, memory={})
    assert [(c.kind, c.name, c.replicas) for c in d.commands] == [("Deployment", "v6e", 4)]
    (c,) = d.commands
    assert c.cause is CommandCause.SERVING_SHIFT and c.namespace == "ml"
    assert c.reason.startswith("variant v6e: ")


def test_an_unobtainable_class_moves_the_share_in_one_pass_with_an_event() -> None:
    views = _views(v6e=TargetView(replicas=4, class_name="tpu", accelerator="TPU"))
    d = decide_group(group(), views, NODES, frozenset({"tpu"}), now=NOW, memory={})
    assert {c.name: c.replicas for c in d.commands} == {"v6e": 0, "h100": 3}
    assert d.shift is not None and d.shift.cause is Cause.STOCKOUT
    assert d.shift.message.startswith("TPU variant v6e: every offering")
    assert "h100 0 → 3" in d.shift.message


def test_a_preemption_event_names_the_lost_replicas_and_the_zone() -> None:
    first = decide_group(
        group(),
        _views(v6e=TargetView(replicas=4, pods=tuple(pod(f"p{i}", on="ok") for i in range(4)))),
        NODES,
        frozenset(),
        now=NOW,
        memory={},
    )
    assert first.commands == ()
    pods = (pod("p0", on="ok"), pod("p1", on="ok"), pod("p2", on="tainted"), pod("p3", on="gone"))
    views = _views(
        v6e=TargetView(replicas=4, pods=pods, accelerator="TPU"),
        h100=TargetView(accelerator="GPU"),
    )
    memory = {t.name: t.memory for t in first.split.variants}
    d = decide_group(group(), views, NODES, frozenset(), now=NOW, memory=memory)
    assert {c.name: c.replicas for c in d.commands} == {"h100": 2}
    assert d.shift is not None and d.shift.cause is Cause.LOST_REPLICAS
    assert d.shift.message == (
        "TPU variant v6e lost 2 replica(s) (spot preemption in us-east5-b);"
        " scaled GPU variant h100 0 → 2"
    )


def test_a_workload_another_owner_scales_is_never_written_and_is_reported() -> None:
    views = _views(v6e=TargetView(replicas=1, owners=("HorizontalPodAutoscaler v6e",)))
    d = decide_group(group(), views, NODES, frozenset(), now=NOW, memory={})
    assert "v6e" not in {c.name for c in d.commands}
    assert d.conflicts == {"v6e": ("HorizontalPodAutoscaler v6e",)}
    # The other variants are planned around the replicas the other owner set (1 x 8).
    assert {c.name: c.replicas for c in d.commands} == {"h100": 2}


def test_a_missing_workload_is_not_written_and_is_reported() -> None:
    views = _views(v6e=TargetView(found=False, error="Deployment v6e: 404 NotFound"))
    d = decide_group(group(), views, NODES, frozenset(), now=NOW, memory={})
    assert "v6e" not in {c.name for c in d.commands}
    assert d.missing == {"v6e": "Deployment v6e: 404 NotFound"}


def test_the_same_observation_decides_the_same_commands() -> None:
    views = _views(v6e=TargetView(replicas=4, class_name="tpu"))
    a = decide_group(group(), views, NODES, frozenset({"tpu"}), now=NOW, memory={})
    b = decide_group(group(), views, NODES, frozenset({"tpu"}), now=NOW, memory={})
    assert a.commands == b.commands and a.shift == b.shift


def test_no_commands_once_the_workloads_have_the_targets() -> None:
    d = decide_group(group(), _views(), NODES, frozenset(), now=NOW, memory={})
    views = _views(v6e=TargetView(replicas=4, class_name="tpu", pods=(pod("x"),) * 4))
    memory = {t.name: t.memory for t in d.split.variants}
    again = decide_group(group(), views, NODES, frozenset(), now=NOW, memory=memory)
    assert again.commands == () and again.shift is None
