"""Rules of policies/tiers.py: which machine types a priority rule resolves to
(reference/gke-computeclass.md §2.2: ``machineType`` with ``gpu``, ``minCores``/``minMemoryGb``,
``tpu.count`` as chips per node) and the walk order of rules with equal ``priorityScore``
(§2.2, §3.2)."""

from __future__ import annotations

from typing import Any

import pytest

from ccc.api.catalog import Catalog
from ccc.api.location import ClusterLocation
from policies.commands import Provision
from policies.tiers import CompiledClass, compile_class, rule_order
from tests.builders import US_CENTRAL1, catalog, make_class, make_rule
from tests.unit.test_policies_decide import MACHINE, _class, _of, _pod, _run, _snapshot


def _compile(*rules: dict[str, Any]) -> CompiledClass:
    return compile_class(make_class(*rules), catalog(), cluster=US_CENTRAL1)


@pytest.mark.parametrize("count", [1, 2, 4])
def test_an_n1_machine_type_with_a_gpu_rule_gets_that_many_gpus_attached(count: int) -> None:
    """§2.2 ``machineType`` + ``gpu``: N1 machine types carry attached GPUs; the rule's
    ``gpu.count`` of ``gpu.type`` is what each node gets."""
    cc = _compile(make_rule("n1-standard-8", gpu={"type": "nvidia-tesla-t4", "count": count}))
    assert cc.problems == ()
    [tier] = cc.tiers
    [machine] = tier.machines
    assert machine.name == "n1-standard-8"
    assert machine.accelerator is not None
    assert (machine.accelerator.type, machine.accelerator.count) == ("nvidia-tesla-t4", count)


@pytest.mark.parametrize(
    ("machine", "gpu"),
    [
        pytest.param("a3-highgpu-8g", {"type": "nvidia-l4", "count": 8}, id="other-gpu-type"),
        pytest.param("a3-highgpu-8g", {"type": "nvidia-h100-80gb", "count": 4}, id="other-count"),
        pytest.param("n2-standard-8", {"type": "nvidia-l4", "count": 1}, id="no-gpu-machine"),
    ],
)
def test_a_machine_type_that_cannot_carry_the_rules_gpu_makes_the_rule_unusable_at_gpu(
    machine: str, gpu: dict[str, Any]
) -> None:
    """§2.2: a rule's ``gpu`` must describe what its ``machineType`` carries; otherwise the
    rule gets a problem at ``spec.priorities[0].gpu`` and no tier."""
    cc = _compile(make_rule(machine, gpu=gpu))
    assert cc.tiers == ()
    assert [p.path for p in cc.problems] == ["spec.priorities[0].gpu"]


def test_a_gpu_count_of_zero_accepts_the_machine_types_own_gpus() -> None:
    cc = _compile(make_rule("a3-highgpu-8g", gpu={"type": "nvidia-h100-80gb", "count": 0}))
    assert (cc.problems, [m.name for t in cc.tiers for m in t.machines]) == ((), ["a3-highgpu-8g"])


@pytest.mark.parametrize(
    ("bound", "included"),
    [
        ({"minCores": 8}, "n2-standard-8"),
        ({"minMemoryGb": 32}, "n2-standard-8"),
        ({"minCores": 9}, "n2-standard-16"),
    ],
)
def test_min_cores_and_min_memory_are_inclusive_lower_bounds(
    bound: dict[str, int], included: str
) -> None:
    """§2.2 ``minCores`` / ``minMemoryGb``: the minimum vCPUs / GB of memory; a machine type
    with exactly that much qualifies."""
    cc = _compile(make_rule(None, machineFamily="n2", **bound))
    [tier] = cc.tiers
    assert included in [m.name for m in tier.machines]
    assert all(m.vcpus >= bound.get("minCores", 0) for m in tier.machines)
    assert all(m.memory_gb >= bound.get("minMemoryGb", 0) for m in tier.machines)


def test_tpu_count_is_chips_per_node_so_a_smaller_count_makes_a_multi_host_slice() -> None:
    """§2.2 ``tpu.count`` is chips per node: ``tpu-v5-lite-podslice`` with ``topology: 2x4`` and
    ``count: 4`` is a slice of two ``ct5lp-hightpu-4t`` hosts, not one 8-chip host."""
    cc = _compile(
        make_rule(None, tpu={"type": "tpu-v5-lite-podslice", "count": 4, "topology": "2x4"})
    )
    [tier] = cc.tiers
    assert [m.name for m in tier.machines] == ["ct5lp-hightpu-4t"]
    assert tier.hosts_per_slice == 2


def test_among_rules_of_equal_score_a_rule_with_no_known_price_comes_last() -> None:
    """§3.2: equal ``priorityScore`` is broken by the lowest unit cost; a rule whose cost is
    unknown (a ``nodepools`` rule) is tried after the priced ones of its score."""
    cc = make_class(
        {"nodepools": ["manual-pool"], "priorityScore": 10},
        make_rule("a3-highgpu-8g", priorityScore=10),
        make_rule("g2-standard-4", priorityScore=5),
    )
    assert rule_order(cc, catalog(), US_CENTRAL1) == (1, 0, 2)


def _with_slice_zones(zones: tuple[str, ...]) -> Catalog:
    """The built-in catalog, in which the two-host ``2x4`` slice of ``ct5lp-hightpu-4t`` is
    offered only in ``zones`` (as a refreshed catalog says when a source lists slice shapes
    narrower than the machine type)."""
    base = catalog()
    types = []
    for m in base.machine_types:
        if m.name == "ct5lp-hightpu-4t":
            topologies = tuple(
                t.model_copy(update={"zones": zones}) if t.topology == "2x4" else t
                for t in m.tpu_topologies
            )
            m = m.model_copy(update={"tpu_topologies": topologies})
        types.append(m)
    return base.model_copy(update={"machine_types": types})


SLICE = {"type": "tpu-v5-lite-podslice", "count": 4, "topology": "2x4"}


def test_a_tpu_machine_type_is_a_candidate_only_in_zones_that_offer_the_rules_slice_shape() -> None:
    cat = _with_slice_zones(("us-central1-a",))
    [tier] = compile_class(make_class(make_rule(None, tpu=SLICE)), cat, cluster=US_CENTRAL1).tiers
    assert tier.zones == ("us-central1-a",)
    assert [m.name for m in tier.machines_in("us-central1-a")] == ["ct5lp-hightpu-4t"]
    assert tier.machines_in("us-east1-b") == ()


def test_a_slice_shape_offered_outside_the_cluster_region_has_no_price_there() -> None:
    """§3.2 ties are broken by the unit cost in the cluster's region: a rule whose slice is
    offered only in another region has no cost there and comes after a priced rule of its
    score, however expensive."""
    cat = _with_slice_zones(("europe-west4-a",))
    cc = make_class(
        make_rule(None, zones=None, tpu=SLICE, priorityScore=10),
        make_rule("a3-highgpu-8g", priorityScore=10),
    )
    assert rule_order(cc, cat, US_CENTRAL1) == (1, 0)


def test_a_failed_reservation_listing_does_not_hold_a_class_with_a_nodepools_rule() -> None:
    """A ``nodepools`` rule (§3.6) consumes no reservation of its own: when the reservation
    listing fails, a class whose other rules use none still provisions."""
    cc = _class({"nodepools": ["manual-pool"]}, make_rule(MACHINE, spot=True))
    decision = _run(_snapshot(classes=[cc], pods=[_pod("b")], reservations_failed=True))
    assert [c.attempt.rule for c in _of(Provision, decision)] == [1]  # type: ignore[attr-defined]


def test_ties_are_broken_by_prices_in_the_clusters_region_not_the_classs_default_one() -> None:
    """§3.2: the unit cost that breaks a tie is the one in the cluster's region. The slice is
    offered only in europe-west4: in a europe-west4 cluster it is priced (and cheaper than an
    8-GPU H100 node), though the other rule names us-central1 zones."""
    cat = _with_slice_zones(("europe-west4-a",))
    cc = make_class(
        make_rule(None, zones=None, tpu=SLICE, priorityScore=10),
        make_rule("a3-highgpu-8g", priorityScore=10),
    )
    europe = ClusterLocation(region="europe-west4", zones=("europe-west4-a", "europe-west4-b"))
    assert compile_class(cc, cat, cluster=europe).order == (0, 1)


@pytest.mark.parametrize(
    ("tpu", "path"),
    [
        pytest.param({"count": 8, "topology": "2x4"}, "machineType", id="other-machine-fits"),
        pytest.param({"count": 3, "topology": "2x4"}, "tpu", id="no-such-count"),
        pytest.param({"count": 4, "topology": "3x3"}, "tpu", id="no-such-topology"),
    ],
)
def test_a_tpu_rule_whose_machine_type_does_not_fit_points_at_the_field_to_fix(
    tpu: dict[str, Any], path: str
) -> None:
    """§2.2 ``tpu``: with ``machineType: ct5lp-hightpu-4t``, a ``tpu`` that another machine
    type serves is a ``machineType`` problem; one that no machine type serves (a chip count or
    a topology the TPU type does not have) is a ``tpu`` problem."""
    cc = _compile(make_rule("ct5lp-hightpu-4t", tpu={"type": "tpu-v5-lite-podslice", **tpu}))
    assert cc.tiers == ()
    assert [p.path for p in cc.problems] == [f"spec.priorities[0].{path}"]
