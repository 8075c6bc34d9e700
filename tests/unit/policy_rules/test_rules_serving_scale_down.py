"""Rules of policies/serving_control.py for a variant's scale-down: which of its pods should go
first (``ScaleTarget.delete_first``).

A ReplicaSet that scales down removes unscheduled, then not-Ready pods first; among Ready pods it
takes the lowest ``controller.kubernetes.io/pod-deletion-cost``, and otherwise chooses by age
and spreading, not by the fate of the node (Kubernetes: "ReplicaSet", pod deletion cost). A
replica on a spot node under a termination notice still reports Ready, so without a mark the
ReplicaSet may remove the healthy replicas the split counted on keeping and leave the doomed
ones, and the group's capacity falls until the GPU variant catches up. ccc's own API
(docs/serving-groups.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from policies.commands import ScaleTarget
from policies.serving_control import TargetView, decide_group, leaving_pods
from tests.builders import NOW
from tests.unit.test_policies_serving_control import NODES, group, pod


@pytest.mark.parametrize(
    ("the_pod", "leaves"),
    [
        (pod("a", on="ok"), False),  # a healthy node keeps its replica
        (pod("a", on="notready"), True),  # a NotReady node is lost
        (pod("a", on="tainted"), True),  # spot termination notice
        (pod("a", on="shutdown"), True),  # the cloud says the node is shut down
        (pod("a", on="expiring"), True),  # a planned disruption (flex-start expiry) drains it
        (pod("a", on="vanished"), True),  # the node object is already gone
        (pod("a", on="tainted", deleting=True), False),  # already going by itself
        (pod("a", on="tainted", phase="Succeeded"), False),  # finished pods are not replicas
        (pod("a", on="tainted", phase="Failed"), False),
        (pod("a"), False),  # unscheduled: the ReplicaSet removes those first anyway
    ],
)
def test_a_pod_goes_first_only_when_it_is_live_and_its_node_is_leaving(
    the_pod: Any, leaves: bool
) -> None:
    view = TargetView(replicas=1, pods=(the_pod,))
    assert leaving_pods(view, NODES) == (("a",) if leaves else ())


def test_leaving_pods_are_named_once_each_in_name_order() -> None:
    pods = (pod("z", on="tainted"), pod("b", on="ok"), pod("m", on="expiring"), pod("c", on="x"))
    assert leaving_pods(TargetView(replicas=4, pods=pods), NODES) == ("c", "m", "z")


def test_a_pod_passed_over_does_not_end_the_search_for_leaving_ones() -> None:
    """Unscheduled, deleting and finished pods are skipped, and the pods after them are still
    looked at."""
    pods = (
        pod("pending"),
        pod("going", on="tainted", deleting=True),
        pod("done", on="tainted", phase="Succeeded"),
        pod("doomed", on="tainted"),
    )
    assert leaving_pods(TargetView(replicas=4, pods=pods), NODES) == ("doomed",)


def _scale(commands: tuple[ScaleTarget, ...], name: str) -> ScaleTarget:
    return next(c for c in commands if c.name == name)


def test_a_variant_scaled_down_after_a_preemption_names_the_replicas_of_the_doomed_node() -> None:
    """Four v6e replicas, two on a spot node with a termination notice; every TPU offering is
    unavailable now, so v6e keeps its two Ready replicas and the GPU variant takes the rest.
    The scale-down names the two doomed pods; the scale-up names none."""
    pods = (
        pod("keep-0", on="ok"),
        pod("keep-1", on="ok"),
        pod("doomed-0", on="tainted"),
        pod("doomed-1", on="tainted"),
    )
    views = {
        "v6e": TargetView(replicas=4, class_name="tpu", pods=pods, accelerator="TPU"),
        "h100": TargetView(class_name="gpu", accelerator="GPU"),
    }
    d = decide_group(group(), views, NODES, frozenset({"tpu"}), now=NOW, memory={})
    v6e, h100 = _scale(d.commands, "v6e"), _scale(d.commands, "h100")
    assert v6e.replicas == 2 and v6e.delete_first == ("doomed-0", "doomed-1")
    assert h100.replicas > 0 and h100.delete_first == ()


def test_a_scale_up_names_no_pod_even_when_some_sit_on_a_leaving_node() -> None:
    """Nothing is removed on a scale-up, so no pod is marked (a mark is a write per pod)."""
    pods = (pod("p0", on="ok"), pod("p1", on="tainted"))
    views = {
        "v6e": TargetView(replicas=2, class_name="tpu", pods=pods, accelerator="TPU"),
        "h100": TargetView(class_name="gpu", accelerator="GPU"),
    }
    d = decide_group(group(), views, NODES, frozenset(), now=NOW, memory={})
    v6e = _scale(d.commands, "v6e")
    assert v6e.replicas > 2 and v6e.delete_first == ()
