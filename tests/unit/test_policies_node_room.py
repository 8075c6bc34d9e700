"""Which nodes are room for pending pods: booting nodes are, whatever their transient boot taints;
cordoned, unreachable and terminating nodes are not, whatever the pods tolerate.

What the scheduler does (Kubernetes' TaintToleration filter and node lifecycle controller):
the kubelet registers a node with ``node.kubernetes.io/not-ready:NoSchedule`` and the node
lifecycle controller removes it once the node is Ready, so a pending pod binds as soon as the
node boots; ``not-ready`` / ``unreachable`` ``NoExecute`` are tolerated for 300 s by every pod
(DefaultTolerationSeconds). A cordon (``spec.unschedulable``, mirrored into the
``node.kubernetes.io/unschedulable:NoSchedule`` taint) keeps off only pods that do not tolerate
that taint: a wildcard ``operator: Exists`` toleration lands on cordoned nodes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from ccc.api.values import Taint
from policies.inflight import absorb
from policies.room import node_slots
from tests.builders import NOW, catalog, make_pods

CLASS_TAINT = Taint(key=L.CLASS_LABEL, value="gpu", effect="NoSchedule")


def _node(
    *taints: Taint, ready: bool = True, age_s: float = 30, cordoned: bool = False
) -> NodeInfo:
    return NodeInfo(
        name="n-1",
        uid="u-1",
        labels={L.CLASS_LABEL: "gpu", L.NODE_POOL_LABEL: "p"},
        taints=(CLASS_TAINT, *taints),
        cpu_m=200_000,
        memory_bytes=2**40,
        gpus=8,
        tpus=0,
        pods=110,
        ready=ready,
        unschedulable=cordoned,
        creation_timestamp=NOW - timedelta(seconds=age_s),
        deletion_timestamp=None,
        provider_id=None,
        annotations={},
    )


def _t(key: str, effect: str = "NoSchedule") -> Taint:
    return Taint(key=key, value="", effect=effect)


@pytest.mark.parametrize(
    ("node", "wildcard", "room"),
    [
        pytest.param(_node(), False, True, id="ready-untainted"),
        pytest.param(_node(_t(L.NOT_READY_TAINT), ready=False), False, True, id="booting"),
        pytest.param(
            _node(_t(L.NOT_READY_TAINT), _t(L.NOT_READY_TAINT, "NoExecute"), ready=False),
            False,
            True,
            id="booting-noexecute",
        ),
        pytest.param(_node(_t(L.UNINITIALIZED_TAINT), ready=False), False, True, id="uninit"),
        pytest.param(_node(_t(L.NOT_READY_TAINT)), False, True, id="ready-stale-taint"),
        pytest.param(
            _node(_t(L.NOT_READY_TAINT), ready=False, age_s=600), True, False, id="never-ready"
        ),
        pytest.param(_node(_t("example.com/dedicated")), False, False, id="other-taint"),
        pytest.param(_node(_t("example.com/dedicated")), True, True, id="other-taint-tolerated"),
        pytest.param(_node(cordoned=True), True, False, id="cordoned-wildcard"),
        pytest.param(_node(_t(L.UNSCHEDULABLE_TAINT)), True, False, id="cordon-taint-only"),
        pytest.param(_node(_t(L.UNREACHABLE_TAINT)), True, False, id="unreachable-wildcard"),
        pytest.param(
            _node(_t(L.UNREACHABLE_TAINT, "NoExecute"), ready=False), True, False, id="unreach-ne"
        ),
        pytest.param(_node(_t(L.IMPENDING_TERMINATION_TAINT)), True, False, id="terminating"),
    ],
)
def test_a_node_is_room_for_a_pending_pod_only_when_the_scheduler_will_keep_it_there(
    node: NodeInfo, wildcard: bool, room: bool
) -> None:
    """``wildcard``: the pod tolerates everything; otherwise only what ccc's admission adds
    (the class taint)."""
    pod = make_pods(1, gpus=8, cpu_m=1000, memory_gib=1, tolerate_all=wildcard)
    slots = node_slots([node], {}, (), catalog(), now=NOW)
    absorbed = absorb([pod], slots)
    assert (absorbed.on_existing == 1) is room
