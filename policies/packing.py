"""Pack pending pods onto nodes of one machine type.

Pods come as templates with counts (:class:`~ccc.api.workload.PodRequest`), so packing is
arithmetic per template plus a first-fit pass over partially filled nodes: linear in the number
of templates, independent of the number of pods. Multi-host TPU slices are whole units: the node
count is rounded up to a multiple of the hosts per slice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ccc.api.allocatable import Allocatable, allocatable
from ccc.api.catalog import MachineType
from ccc.api.values import Taint
from ccc.api.workload import PodRequest

_MAX_OPEN_NODES = 64


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
    implicit_tolerations: Sequence[str] = (),
) -> Fit:
    """How many pods of ``pod`` one node of ``machine`` holds (0 with a reason if none).

    ``implicit_tolerations`` lists taint keys treated as tolerated (the class taint for pods
    that select the class, mirroring GKE's automatic toleration).
    """
    for k, v in pod.node_selector.items():
        have = node_labels.get(k)
        if have != v:
            return Fit(False, f"node selector {k}={v} does not match the node ({have or 'unset'})")
    for t in taints:
        if t.key in implicit_tolerations or t.effect == "PreferNoSchedule":
            continue
        if not any(tol.tolerates(t.key, t.value, t.effect) for tol in pod.tolerations):
            return Fit(
                False,
                f"pod does not tolerate taint {t.key}={t.value}:{t.effect}; add a toleration",
            )
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
) -> int:
    """Nodes of ``machine`` needed for ``pods`` (pairs of template and pods-per-node from
    :func:`fits`). Full nodes are counted arithmetically; remainders share open nodes first-fit.
    """
    a = allocatable(machine, max_pods=max_pods)
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
        if rest:
            total += 1
            node = _Open(a.cpu_m, a.memory_bytes, a.gpus, a.tpus, a.pods)
            for _ in range(rest):
                _take(node, pod)
            open_nodes.append(node)
            if len(open_nodes) > _MAX_OPEN_NODES:
                open_nodes.sort(key=lambda n: n.cpu_m + n.gpus * 10**6 + n.tpus * 10**6)
                del open_nodes[0]
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
