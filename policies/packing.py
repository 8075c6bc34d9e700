"""Pack pending pods onto nodes of one machine type, as the nodes will really advertise.

Pods come as templates with counts (:class:`~ccc.api.workload.PodRequest`), so packing is
arithmetic per template plus a first-fit pass over partially filled nodes: linear in the number
of templates, independent of the number of pods. Multi-host TPU slices are whole units: the node
count is rounded up to a multiple of the hosts per slice.

What a node advertises (:func:`node_allocatable`) follows GKE: ``maxPodsPerNode`` caps the pods
per node; GPU time-sharing and MPS multiply the ``nvidia.com/gpu`` a node advertises by
``maxSharedClientsPerGPU``; MIG partitions (``gpuPartitionSize``) turn each GPU into its
partitions (reference gke-computeclass.md §2.2, ``gpu.gpuSharing``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ccc.api.allocatable import Allocatable, allocatable
from ccc.api.catalog import MachineType
from ccc.api.computeclass import PriorityRule
from ccc.api.gke_facts import mig_partitions_per_gpu
from ccc.api.values import Taint
from ccc.api.workload import PodRequest
from policies.admission import selector_mismatch, untolerated

_MAX_OPEN_NODES = 64
#: ``maxSharedClientsPerGPU`` assumed when a rule names a sharing strategy but no client count
#: (GKE's smallest useful value; the same value is sent to GKE).
DEFAULT_MAX_SHARED_CLIENTS = 2


def shared_clients_per_gpu(rule: PriorityRule | None) -> int | None:
    """Clients per GPU under time-sharing or MPS (``None`` without a sharing strategy)."""
    sharing = rule.gpu.gpu_sharing if rule is not None and rule.gpu is not None else None
    if sharing is None or sharing.sharing_strategy is None:
        return None
    return sharing.max_shared_clients_per_gpu or DEFAULT_MAX_SHARED_CLIENTS


def gpus_advertised(machine: MachineType, rule: PriorityRule | None) -> int:
    """``nvidia.com/gpu`` one node of ``machine`` advertises under ``rule``'s GPU sharing."""
    acc = machine.accelerator
    if acc is None or not machine.is_gpu:
        return 0
    count = acc.count
    sharing = rule.gpu.gpu_sharing if rule is not None and rule.gpu is not None else None
    if sharing is not None and sharing.gpu_partition_size:
        per_gpu = mig_partitions_per_gpu(acc.type, sharing.gpu_partition_size)
        count *= per_gpu or 1
    clients = shared_clients_per_gpu(rule)
    return count * clients if clients else count


def node_allocatable(machine: MachineType, rule: PriorityRule | None = None) -> Allocatable:
    """What one node of ``machine`` created for ``rule`` offers pods (module docstring)."""
    a = allocatable(machine, max_pods=rule.max_pods_per_node if rule is not None else None)
    return replace(a, gpus=gpus_advertised(machine, rule)) if machine.is_gpu else a


@dataclass(frozen=True, slots=True)
class Fit:
    """Whether a pod template fits a node shape, and why not."""

    ok: bool
    reason: str = ""
    per_node: int = 0


def fits(
    pod: PodRequest,
    machine: MachineType,
    node_labels: Mapping[str, str],
    taints: Sequence[Taint],
    *,
    alloc: Allocatable | None = None,
    ignore_labels: Sequence[str] = (),
) -> Fit:
    """How many pods of ``pod`` one node of ``machine`` holds (0 with a reason if none).

    Tolerations GKE's admission adds (the class taint, ``nvidia.com/gpu``/``google.com/tpu``
    for pods requesting them) are implied (:mod:`policies.admission`). ``ignore_labels`` are
    selector keys not checked here (checked per offering by the walk). ``alloc`` defaults to
    the machine's plain allocatable.
    """
    why = selector_mismatch(pod, node_labels, ignore=ignore_labels)
    if why:
        return Fit(False, why)
    a = alloc or allocatable(machine)
    limits: list[int] = [a.pods]
    need = (
        ("cpu", pod.cpu_m, a.cpu_m, "m"),
        ("memory", pod.memory_bytes, a.memory_bytes, "B"),
        ("nvidia.com/gpu", pod.gpus, a.gpus, ""),
        ("google.com/tpu", pod.tpus, a.tpus, ""),
    )
    for name, want, have_n, unit in need:
        if want <= 0:
            continue
        if want > have_n:
            return Fit(
                False,
                f"pod requests {_fmt(want, unit)} {name}; {machine.name} offers "
                f"{_fmt(have_n, unit)} allocatable",
            )
        limits.append(have_n // want)
    # Resources first: "needs 8 GPUs, has 0" says more than the missing TPU toleration.
    t = untolerated(pod, taints)
    if t is not None:
        return Fit(
            False, f"pod does not tolerate taint {t.key}={t.value}:{t.effect}; add a toleration"
        )
    return Fit(True, per_node=max(1, min(limits)))


def _fmt(n: int, unit: str) -> str:
    if unit == "B":
        return f"{n / 2**30:.1f}Gi"
    if unit == "m":
        return f"{n}m" if n % 1000 else str(n // 1000)
    return str(n)


@dataclass(slots=True)
class _Open:
    cpu_m: int
    memory_bytes: int
    gpus: int
    tpus: int
    pods: int


def nodes_needed(
    pods: Sequence[tuple[PodRequest, int]],
    machine: MachineType,
    *,
    hosts_per_slice: int = 1,
    max_pods: int | None = None,
    alloc: Allocatable | None = None,
) -> int:
    """Nodes of ``machine`` needed for ``pods`` (pairs of template and pods-per-node from
    :func:`fits`). Full nodes are counted arithmetically; remainders share open nodes first-fit.
    ``alloc`` (what one node offers) defaults to the machine's allocatable with ``max_pods``.
    """
    a = alloc or allocatable(machine, max_pods=max_pods)
    total = 0
    open_nodes: list[_Open] = []
    ordered = sorted(pods, key=lambda p: (-p[0].gpus, -p[0].tpus, -p[0].cpu_m, -p[0].memory_bytes))
    for pod, per_node in ordered:
        count = pod.count
        # Fill partially used nodes first.
        for node in open_nodes:
            while count and _take(node, pod):
                count -= 1
            if not count:
                break
        if not count:
            continue
        full, rest = divmod(count, per_node)
        total += full
        # What full nodes have left stays open for smaller templates (up to the cap).
        open_nodes.extend(
            _Open(
                a.cpu_m - per_node * pod.cpu_m,
                a.memory_bytes - per_node * pod.memory_bytes,
                a.gpus - per_node * pod.gpus,
                a.tpus - per_node * pod.tpus,
                a.pods - per_node,
            )
            for _ in range(min(full, _MAX_OPEN_NODES))
        )
        if rest:
            total += 1
            node = _Open(a.cpu_m, a.memory_bytes, a.gpus, a.tpus, a.pods)
            for _ in range(rest):
                _take(node, pod)
            open_nodes.append(node)
        if len(open_nodes) > _MAX_OPEN_NODES:
            # Keep the roomiest nodes: accelerators first, then CPU.
            open_nodes.sort(key=lambda n: n.gpus * 10**6 + n.tpus * 10**6 + n.cpu_m, reverse=True)
            del open_nodes[_MAX_OPEN_NODES:]
    if hosts_per_slice > 1:
        total = -(-total // hosts_per_slice) * hosts_per_slice
    return total


def _take(node: _Open, pod: PodRequest) -> bool:
    if (
        node.pods < 1
        or node.cpu_m < pod.cpu_m
        or node.memory_bytes < pod.memory_bytes
        or node.gpus < pod.gpus
        or node.tpus < pod.tpus
    ):
        return False
    node.pods -= 1
    node.cpu_m -= pod.cpu_m
    node.memory_bytes -= pod.memory_bytes
    node.gpus -= pod.gpus
    node.tpus -= pod.tpus
    return True
