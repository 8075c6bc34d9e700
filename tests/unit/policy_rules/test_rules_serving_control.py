"""Rules of policies/serving_control.py: how the ServingGroup controller observes each variant's
replicas, says where replicas were lost, prices a replica for ``preference: Cost``, decides when
a class is unobtainable, which workloads it scales and how it names the cause of a shift.

The ServingGroup is ccc's own API (docs/serving-groups.md); offerings and prices follow the
ComputeClass walk (gke-computeclass.md §3.2, walking the priority list).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, OfferingKey
from policies.obtainability import BackoffPolicy, ObtainabilityMemory
from policies.serving import Cause, VariantMemory
from policies.serving_control import (
    TargetView,
    class_unobtainable,
    decide_group,
    observe_variant,
    replica_price,
    vanished_hosts,
)
from tests.builders import NOW, catalog, make_class
from tests.unit.test_policies_serving_control import NODES, group, node, pod

OK = {"offerings_unavailable": False}
GONE_SPOT = node("spot-gone", zone="us-east5-a")  # a preempted node, already deleted


def _ready(prefix: str, n: int, *, tpu: bool = True, on: str = "ok") -> tuple[Any, ...]:
    return tuple(pod(f"{prefix}{i}", on=on, tpu=tpu) for i in range(n))


def _backed_off(*offerings: tuple[str, str, CapacityType]) -> ObtainabilityMemory:
    m = ObtainabilityMemory(policy=BackoffPolicy(180, 3600))
    for machine, zone, ct in offerings:
        key = OfferingKey(machine_type=machine, zone=zone, capacity_type=ct)
        m = m.record_failure(key, reason="STOCKOUT", message="no", now=NOW)
    return m


# --- observation --------------------------------------------------------------------------------


def test_every_pod_of_a_variant_is_counted_once_whatever_the_order() -> None:
    """Finished pods are skipped, each terminating or lost pod counts, each replica on a node
    with a planned disruption is Ready and disrupted, and the nodes of Ready replicas are
    remembered one entry per replica."""
    pods = (
        pod("done", on="ok", phase="Succeeded"),
        pod("old-1", on="ok", deleting=True),
        pod("old-2", on="ok", deleting=True),
        pod("lost-1", on="notready"),
        pod("lost-2", on="tainted"),
        pod("moving-1", on="expiring"),
        pod("moving-2", on="expiring"),
        pod("serving", on="ok"),
    )
    obs, loss, hosts = observe_variant(TargetView(replicas=7, pods=pods), NODES, **OK)
    assert (obs.ready, obs.pending, obs.terminating, obs.disrupted) == (3, 0, 4, 2)
    assert [n.name for n in hosts] == ["expiring", "expiring", "ok"]
    assert loss is not None and loss.count == 2


def test_a_failed_pod_is_neither_ready_pending_nor_terminating() -> None:
    failed = pod("crashed", on="ok", phase="Failed")
    obs, loss, hosts = observe_variant(TargetView(replicas=1, pods=(failed,)), NODES, **OK)
    assert (obs.ready, obs.pending, obs.terminating, obs.disrupted) == (0, 0, 0, 0)
    assert loss is None and hosts == ()


def test_a_replica_on_a_node_already_deleted_is_lost_where_that_node_was_last_seen() -> None:
    view = TargetView(replicas=1, pods=(pod("a", on="spot-gone"),))
    _, loss, _ = observe_variant(view, NODES, **OK, last_known={"spot-gone": GONE_SPOT})
    assert loss is not None and loss.where == "spot preemption in us-east5-a"
    _, unknown, _ = observe_variant(view, NODES, **OK)
    assert unknown is not None and unknown.where == "node loss"


def test_only_hosts_that_are_gone_or_going_count_as_vanished() -> None:
    previous = [NODES["ok"], GONE_SPOT, NODES["tainted"], NODES["expiring"]]
    assert [n.name for n in vanished_hosts(previous, NODES)] == ["spot-gone", "tainted"]


# --- class obtainability ------------------------------------------------------------------------

L4_RULE = {"gpu": {"type": "nvidia-l4", "count": 1}, "location": {"zones": ["us-central1-a"]}}
H100_NODE = {"machineType": "a3-highgpu-8g", "location": {"zones": ["us-central1-a"]}}


def test_a_variant_without_a_class_is_never_unobtainable() -> None:
    assert class_unobtainable(None, catalog(), _backed_off(), NOW) is False


def test_a_class_with_no_offering_to_try_is_not_reported_unobtainable() -> None:
    """Nothing was backed off: a class whose rules offer nothing (only existing node pools
    here) is not what a stockout looks like, so its variant keeps its share."""
    cc = make_class({"nodepools": ["reserved-pool"]}, name="gpu")
    assert class_unobtainable(cc, catalog(), _backed_off(), NOW) is False


def test_only_the_machine_type_the_walk_picks_in_a_zone_decides_obtainability() -> None:
    """The walk picks the smallest machine type of the rule that fits (g2-standard-4 for one
    L4) and does not try the larger ones once it is backed off: the class is unobtainable and a
    replica has no price, although g2-standard-8 is offered in the same zone."""
    cc = make_class(L4_RULE, name="gpu")
    smallest = _backed_off(("g2-standard-4", "us-central1-a", CapacityType.ON_DEMAND))
    assert class_unobtainable(cc, catalog(), smallest, NOW)
    view = TargetView(pods=(pod("a", tpu=False),))
    assert replica_price(cc, view, catalog(), smallest, NOW) is None
    assert replica_price(cc, view, catalog(), _backed_off(), NOW) == pytest.approx(
        catalog().price("g2-standard-4", "us-central1-a", CapacityType.ON_DEMAND)
    )


# --- price of a replica (preference: Cost) -------------------------------------------------------

TPU_4T = {
    "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"},
    "spot": True,
    "location": {"zones": ["us-east5-a", "us-east5-b"]},
}


def _price(
    rule: dict[str, Any], view: TargetView, memory: ObtainabilityMemory | None = None, **kw: Any
) -> float | None:
    cc = make_class(rule, name="c")
    return replica_price(cc, view, catalog(), memory or _backed_off(), NOW, **kw)


def test_a_variant_with_no_pods_to_size_a_replica_by_has_no_price() -> None:
    assert _price(TPU_4T, TargetView()) is None


def test_a_spot_replica_is_priced_at_the_spot_price_by_its_share_of_the_node() -> None:
    one_chip = _price(TPU_4T, TargetView(pods=(pod("a"),)))
    node_price = catalog().price("ct6e-standard-4t", "us-east5-a", CapacityType.SPOT)
    assert node_price is not None and one_chip == pytest.approx(node_price / 4)


@pytest.mark.parametrize(
    ("rule", "machine", "ct"),
    [
        (TPU_4T, "ct6e-standard-4t", CapacityType.SPOT),
        (H100_NODE, "a3-highgpu-8g", CapacityType.ON_DEMAND),
    ],
    ids=["TPU node", "GPU node"],
)
def test_a_replica_that_requests_no_accelerator_is_priced_as_the_whole_node(
    rule: dict[str, Any], machine: str, ct: CapacityType
) -> None:
    plain = replace(pod("a"), tpus=0, gpus=0)
    node_price = catalog().price(machine, rule["location"]["zones"][0], ct)
    assert node_price is not None
    assert _price(rule, TargetView(pods=(plain,))) == pytest.approx(node_price)


def test_a_leader_worker_set_replica_costs_all_of_its_pods() -> None:
    one = _price(TPU_4T, TargetView(pods=(pod("a"),)))
    two = _price(TPU_4T, TargetView(pods=(pod("a"),), lws_size=2))
    assert one is not None and two == pytest.approx(2 * one)


def test_a_backed_off_offering_is_skipped_for_the_next_zone_and_none_left_means_no_price() -> None:
    view = TargetView(pods=(pod("a"),))
    first_out = _backed_off(("ct6e-standard-4t", "us-east5-a", CapacityType.SPOT))
    assert _price(TPU_4T, view, first_out) == pytest.approx(_price(TPU_4T, view))
    all_out = _backed_off(
        ("ct6e-standard-4t", "us-east5-a", CapacityType.SPOT),
        ("ct6e-standard-4t", "us-east5-b", CapacityType.SPOT),
    )
    assert _price(TPU_4T, view, all_out) is None


def test_a_replica_is_priced_in_the_clusters_region_not_in_a_zone_elsewhere() -> None:
    rule = {**TPU_4T, "location": {"zones": ["us-central1-a", "us-east5-a"]}}
    east5 = ClusterLocation(region="us-east5", zones=("us-east5-a", "us-east5-b"), source="test")
    price = _price(rule, TargetView(pods=(pod("a"),)), cluster=east5)
    spot = catalog().price("ct6e-standard-4t", "us-east5-a", CapacityType.SPOT)
    assert spot is not None and price == pytest.approx(spot / 4)


# --- commands and shifts ------------------------------------------------------------------------


def _views(**variants: TargetView) -> dict[str, TargetView]:
    return {"v6e": TargetView(class_name="tpu"), "h100": TargetView(class_name="gpu"), **variants}


def _first_pass_with_four_ready() -> dict[str, VariantMemory]:
    views = _views(v6e=TargetView(replicas=4, class_name="tpu", pods=_ready("p", 4)))
    first = decide_group(group(), views, NODES, frozenset(), now=NOW, memory={})
    assert first.commands == ()
    return {t.name: t.memory for t in first.split.variants}


def test_replicas_recreated_elsewhere_are_lost_where_their_vanished_nodes_were() -> None:
    """Last pass four v6e replicas were Ready, two on a spot node that is gone now; their pods
    were already recreated (Pending), so only the hosts say where they went."""
    hosts = {"v6e": (NODES["ok"], NODES["ok"], GONE_SPOT, GONE_SPOT)}
    pods = (*_ready("p", 2), pod("new-1"), pod("new-2"))
    views = _views(
        v6e=TargetView(replicas=4, class_name="tpu", pods=pods, accelerator="TPU"),
        h100=TargetView(class_name="gpu", accelerator="GPU"),
    )
    memory = _first_pass_with_four_ready()
    d = decide_group(group(), views, NODES, frozenset(), now=NOW, memory=memory, hosts=hosts)
    assert d.shift is not None and d.shift.cause is Cause.LOST_REPLICAS
    assert "lost 2 replica(s) (spot preemption in us-east5-a)" in d.shift.message
    assert d.observations["v6e"].ready == 2 and d.observations["v6e"].pending == 2
    assert [n.name for n in d.hosts["v6e"]] == ["ok", "ok"]


def test_replicas_still_bound_to_a_deleted_node_are_lost_where_it_was_last_seen() -> None:
    hosts = {"v6e": (NODES["ok"], NODES["ok"], GONE_SPOT, GONE_SPOT)}
    pods = (*_ready("p", 2), pod("p2", on="spot-gone"), pod("p3", on="spot-gone"))
    views = _views(v6e=TargetView(replicas=4, class_name="tpu", pods=pods))
    memory = _first_pass_with_four_ready()
    d = decide_group(group(), views, NODES, frozenset(), now=NOW, memory=memory, hosts=hosts)
    assert d.shift is not None and d.shift.cause is Cause.LOST_REPLICAS
    assert "(spot preemption in us-east5-a)" in d.shift.message


def test_a_variant_whose_workload_was_not_read_is_reported_and_never_scaled() -> None:
    """v6e's class is out of stock, so h100 takes the capacity, but h100's workload was not
    read this pass: it gets no command (a blind write could undo someone's change)."""
    views = {"v6e": TargetView(replicas=4, class_name="tpu")}
    d = decide_group(group(), views, NODES, frozenset({"tpu"}), now=NOW, memory={})
    assert "h100" in d.missing
    assert {c.name: c.replicas for c in d.commands} == {"v6e": 0}


def test_a_scale_command_addresses_the_workload_through_its_api_version() -> None:
    d = decide_group(group(), _views(), NODES, frozenset(), now=NOW, memory={})
    assert [(c.api_version, c.kind, c.name) for c in d.commands] == [
        ("apps/v1", "Deployment", "v6e")
    ]


def test_a_workload_another_owner_scales_is_planned_at_the_replicas_that_owner_set() -> None:
    """v6e's Ready replicas cover the capacity, yet h100 is planned at the 2 replicas its
    autoscaler set, not scaled down in the plan."""
    views = _views(
        v6e=TargetView(replicas=4, class_name="tpu", pods=_ready("p", 4)),
        h100=TargetView(
            replicas=2,
            class_name="gpu",
            owners=("HorizontalPodAutoscaler h100",),
            pods=_ready("h", 2, tpu=False),
        ),
    )
    d = decide_group(group(), views, NODES, frozenset(), now=NOW, memory={})
    assert d.split["h100"].replicas == 2
    assert "h100" not in {c.name for c in d.commands}


def test_preference_cost_fills_the_cheapest_variant_per_unit_of_capacity_first() -> None:
    d = decide_group(
        group(preference="Cost"),
        _views(),
        NODES,
        frozenset(),
        now=NOW,
        memory={},
        prices={"v6e": 100.0, "h100": 1.0},
    )
    assert {c.name: c.replicas for c in d.commands} == {"h100": 3}


def test_a_new_groups_first_pass_is_a_fill() -> None:
    d = decide_group(group(), _views(), NODES, frozenset(), now=NOW, memory={})
    assert d.shift is not None and d.shift.cause is Cause.FILL
    assert d.shift.message.startswith("capacity 32: ")


def test_a_pass_that_only_scales_a_substitute_down_is_a_scale_down() -> None:
    views = _views(
        v6e=TargetView(replicas=4, class_name="tpu", pods=_ready("p", 4)),
        h100=TargetView(replicas=3, class_name="gpu", pods=_ready("h", 3, tpu=False)),
    )
    d = decide_group(group(), views, NODES, frozenset(), now=NOW, memory={})
    assert {c.name: c.replicas for c in d.commands} == {"h100": 0}
    assert d.shift is not None and d.shift.cause is Cause.SCALE_DOWN


def test_a_preferred_variant_obtainable_again_moves_back_surge_first() -> None:
    spec = group(rebalance={"stabilizationSeconds": 300})
    memory = {
        "v6e": VariantMemory(unobtainable_since=NOW, obtainable_since=NOW + timedelta(seconds=100)),
        "h100": VariantMemory(ready=3),
    }
    views = _views(
        v6e=TargetView(class_name="tpu", accelerator="TPU"),
        h100=TargetView(replicas=3, class_name="gpu", pods=_ready("h", 3, tpu=False)),
    )
    later = NOW + timedelta(seconds=400)
    d = decide_group(spec, views, NODES, frozenset(), now=later, memory=memory)
    assert {c.name: c.replicas for c in d.commands} == {"v6e": 4}
    assert d.shift is not None and d.shift.cause is Cause.MOVE_BACK
    assert d.shift.message.startswith("TPU variant v6e is obtainable again")


def test_a_pass_that_only_raises_a_variant_to_its_min_replicas_is_a_min_replicas_shift() -> None:
    spec = group()
    spec.spec.variants[1].min_replicas = 1
    views = _views(v6e=TargetView(replicas=4, class_name="tpu", pods=_ready("p", 4)))
    d = decide_group(spec, views, NODES, frozenset(), now=NOW, memory={})
    assert {c.name: c.replicas for c in d.commands} == {"h100": 1}
    assert d.shift is not None and d.shift.cause is Cause.MIN_REPLICAS
