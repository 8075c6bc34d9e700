"""Rules of policies/packing.py: what a shared GPU node advertises when the MIG partition does
not apply (reference/gke-computeclass.md §2.2 ``gpu.gpuSharing``), and how pods of several
templates share nodes: the pods cap of a node counts every pod on it, and with more partly
filled nodes than it tracks, packing keeps the roomiest for later pods."""

from __future__ import annotations

from ccc.api.allocatable import allocatable
from policies.packing import gpus_advertised, nodes_needed
from tests.builders import catalog, make_class, make_pods, make_rule


def test_a_partition_size_the_gpu_type_has_no_mig_profile_for_leaves_each_gpu_whole() -> None:
    """``gpuPartitionSize`` splits only MIG-capable GPUs (A100, H100); on an L4 it gives no
    partitions, and the node advertises its one GPU."""
    sharing = {"gpuPartitionSize": "1g.5gb"}
    rule = make_class(
        make_rule("g2-standard-4", gpu={"type": "nvidia-l4", "count": 1, "gpuSharing": sharing})
    ).spec.priorities[0]
    machine = catalog().machine_type("g2-standard-4")
    assert machine is not None
    assert gpus_advertised(machine, rule) == 1


def test_the_pods_cap_of_a_node_counts_the_pods_of_every_template_packed_on_it() -> None:
    """``maxPodsPerNode: 8``: 3 large pods and 5 small ones share one node (8 pods)."""
    machine = catalog().machine_type("n2-standard-32")
    assert machine is not None
    large = make_pods(3, gpus=0, cpu_m=2000, memory_gib=1, name="large")
    small = make_pods(5, gpus=0, cpu_m=500, memory_gib=1, name="small")
    assert nodes_needed([(large, 8), (small, 8)], machine, max_pods=8) == 1


def _tracked_beyond_the_cap(machine_name: str, resource: str) -> int:
    """64 nodes each left with 1 accelerator (and most of their CPU) by one 7-accelerator pod,
    one node left with 3 accelerators (and less CPU) by a 5-accelerator pod, then one
    3-accelerator pod: it fits on the node with 3 left, if packing kept that one."""
    machine = catalog().machine_type(machine_name)
    assert machine is not None

    def pods(count: int, n: int, cpu_m: int, name: str) -> object:
        need = {"gpus": 0, "tpus": 0, resource: n}
        return make_pods(count, cpu_m=cpu_m, memory_gib=1, name=name, **need)  # type: ignore[arg-type]

    seven = pods(64, 7, 1000, "seven")
    five = pods(1, 5, 100_000, "five")
    three = pods(1, 3, 1000, "three")
    return nodes_needed(
        [(seven, 1), (five, 1), (three, 1)],  # type: ignore[list-item]
        machine,
        alloc=allocatable(machine),
    )


def test_beyond_the_nodes_it_tracks_packing_keeps_those_with_the_most_gpus_left() -> None:
    assert _tracked_beyond_the_cap("a3-highgpu-8g", "gpus") == 65


def test_beyond_the_nodes_it_tracks_packing_keeps_those_with_the_most_tpus_left() -> None:
    assert _tracked_beyond_the_cap("ct5lp-hightpu-8t", "tpus") == 65
