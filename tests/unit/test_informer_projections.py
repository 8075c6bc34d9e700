"""Pod and Node projections kept by the informer caches: the values decisions depend on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ccc.api.values import Taint
from ccc.controller.projections import node_info, pod_info


def pod(
    *,
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", **(meta or {})},
        "spec": {
            "containers": containers or [{"name": "c"}],
            **({"initContainers": init} if init else {}),
            **spec,
        },
        "status": {"phase": "Pending", "conditions": conditions or []},
    }


def requests(**values: str) -> dict[str, Any]:
    return {"name": "c", "resources": {"requests": values}}


@pytest.mark.parametrize(
    ("containers", "init", "expected"),
    [
        ([requests(cpu="500m", memory="1Gi")], None, (500, 2**30, 0)),
        ([requests(cpu="1"), requests(cpu="250m")], None, (1250, 0, 0)),
        # An init container larger than the sum of the app containers sets the request.
        ([requests(cpu="1")], [requests(cpu="3")], (3000, 0, 0)),
        ([requests(cpu="4")], [requests(cpu="3")], (4000, 0, 0)),
        # GPUs given as limits only count as requests.
        ([{"name": "c", "resources": {"limits": {"nvidia.com/gpu": "8"}}}], None, (0, 0, 8)),
    ],
)
def test_pod_requests_follow_the_schedulers_effective_request_rules(
    containers: list[dict[str, Any]], init: list[dict[str, Any]] | None, expected: tuple[int, ...]
) -> None:
    info = pod_info(pod(containers=containers, init=init))
    assert (info.cpu_m, info.memory_bytes, info.gpus) == expected


@pytest.mark.parametrize(
    ("condition", "unschedulable"),
    [
        ({"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}, True),
        ({"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}, False),
        ({"type": "PodScheduled", "status": "True"}, False),
        ({"type": "Ready", "status": "False", "reason": "Unschedulable"}, False),
    ],
)
def test_only_podscheduled_false_with_reason_unschedulable_marks_a_pod_unschedulable(
    condition: dict[str, Any], unschedulable: bool
) -> None:
    stamped = {**condition, "lastTransitionTime": "2026-03-04T05:06:07Z"}
    info = pod_info(pod(conditions=[stamped]))
    assert info.unschedulable is unschedulable
    expected_since = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC) if unschedulable else None
    assert info.unschedulable_since == expected_since


def test_the_controlling_owner_wins_over_the_first_owner_reference() -> None:
    owners = [
        {"kind": "ConfigMap", "name": "first"},
        {"kind": "Job", "name": "trainer", "controller": True},
    ]
    info = pod_info(pod(meta={"ownerReferences": owners}))
    assert (info.owner_kind, info.owner_name) == ("Job", "trainer")
    assert (pod_info(pod()).owner_kind, pod_info(pod()).owner_name) == (None, None)


def test_a_bound_or_terminating_or_finished_pod_is_not_pending() -> None:
    assert pod_info(pod()).pending
    assert not pod_info(pod(nodeName="n1")).pending
    terminating = pod_info(pod(meta={"deletionTimestamp": "2026-01-01T00:00:00Z"}))
    assert terminating.deleting and not terminating.pending
    finished = pod(meta={})
    finished["status"]["phase"] = "Succeeded"
    assert not pod_info(finished).pending


def test_identical_tolerations_are_shared_between_pods() -> None:
    toleration = {"key": "ccc.dev/compute-class", "operator": "Exists", "effect": "NoSchedule"}
    first = pod_info(pod(tolerations=[toleration]))
    second = pod_info(pod(tolerations=[dict(toleration)]))
    assert first.tolerations is second.tolerations
    assert first.tolerations[0].tolerates("ccc.dev/compute-class", "gpus", "NoSchedule")


def test_equal_pods_project_to_equal_values_so_a_relist_sees_no_change() -> None:
    assert pod_info(pod(nodeSelector={"a": "b"})) == pod_info(pod(nodeSelector={"a": "b"}))
    assert pod_info(pod(nodeSelector={"a": "b"})) != pod_info(pod(nodeSelector={"a": "c"}))


def test_node_projection_reads_allocatable_readiness_and_keeps_only_ccc_annotations() -> None:
    node = {
        "metadata": {
            "name": "n1",
            "uid": "u",
            "labels": {"topology.kubernetes.io/zone": "us-central1-a"},
            "annotations": {"ccc.dev/rule-index": "2", "kubeadm.alpha/whatever": "x"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "taints": [{"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"}],
            "providerID": "gce://p/z/n1",
        },
        "status": {
            "allocatable": {"cpu": "223500m", "memory": "1800Gi", "google.com/tpu": "4"},
            "conditions": [{"type": "Ready", "status": "False"}],
        },
    }
    info = node_info(node)
    assert (info.cpu_m, info.memory_bytes, info.tpus, info.gpus, info.pods) == (
        223500,
        1800 * 2**30,
        4,
        0,
        0,
    )
    assert not info.ready and not info.unschedulable
    assert info.taints == (Taint(key="google.com/tpu", value="present"),)
    assert info.annotations == {"ccc.dev/rule-index": "2"}
    assert info.provider_id == "gce://p/z/n1"
    assert info.creation_timestamp == datetime(2026, 1, 1, tzinfo=UTC)


def _affinity(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": list(t)} for t in terms]
            }
        }
    }


def _class_in(*values: str, key: str = "ccc.dev/compute-class") -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


@pytest.mark.parametrize(
    ("affinity", "selector", "expected"),
    [
        (_affinity([_class_in("h100")]), None, "h100"),
        (_affinity([_class_in("h100", key="cloud.google.com/compute-class")]), None, "h100"),
        (
            _affinity([_class_in("h100")], [_class_in("h100"), _class_in("z", key="x")]),
            None,
            "h100",
        ),
        (_affinity([_class_in("h100", "l4")]), None, None),  # either class: not pinned
        (_affinity([_class_in("h100")], [_class_in("l4")]), None, None),
        (_affinity([_class_in("h100")], [{"key": "x", "operator": "Exists"}]), None, None),
        (_affinity([_class_in("h100")]), {"ccc.dev/compute-class": "l4"}, "l4"),
    ],
    ids=[
        "one-term",
        "gke-key",
        "every-term-pins-it",
        "two-values",
        "two-classes",
        "a-term-without-it",
        "selector-wins",
    ],
)
def test_a_class_pinned_by_required_node_affinity_is_served_like_the_node_selector(
    affinity: dict[str, Any], selector: dict[str, str] | None, expected: str | None
) -> None:
    spec: dict[str, Any] = {"affinity": affinity}
    if selector:
        spec["nodeSelector"] = selector
    assert pod_info(pod(**spec)).compute_class == expected
