"""What a node of a machine type offers to pods after system reservations.

Follows GKE's published reservation formulas (Standard clusters): CPU 6% of the first core, 1%
of the next, 0.5% of the next 2, 0.25% above 4 cores; memory 25% of the first 4 GiB, 20% of the
next 4 GiB, 10% of the next 8 GiB, 6% of the next 112 GiB, 2% above 128 GiB, plus a 100 MiB
eviction threshold. Good enough to size nodes; the real scheduler has the final word.

It lives in the API layer because both the policies (sizing) and the providers (the kwok
provider's Node allocatable) need the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccc.api.catalog import MachineType

GIB = 2**30


@dataclass(frozen=True, slots=True)
class Allocatable:
    cpu_m: int
    memory_bytes: int
    gpus: int
    tpus: int
    pods: int


def reserved_cpu_m(vcpus: int) -> int:
    m = 0.0
    steps = ((1, 0.06), (1, 0.01), (2, 0.005))
    left = float(vcpus)
    for size, frac in steps:
        take = min(left, size)
        m += take * 1000 * frac
        left -= take
    m += max(0.0, left) * 1000 * 0.0025
    return int(m + 0.999)


def reserved_memory_bytes(memory_gb: float) -> int:
    total = memory_gb * GIB
    reserved = 0.0
    left = total
    for size_gib, frac in ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06)):
        take = min(left, size_gib * GIB)
        reserved += take * frac
        left -= take
    reserved += max(0.0, left) * 0.02
    return int(reserved) + 100 * 2**20


def allocatable(machine: MachineType, *, max_pods: int | None = None) -> Allocatable:
    """Allocatable resources of one node of ``machine``."""
    acc = machine.accelerator
    return Allocatable(
        cpu_m=machine.vcpus * 1000 - reserved_cpu_m(machine.vcpus),
        memory_bytes=int(machine.memory_gb * GIB) - reserved_memory_bytes(machine.memory_gb),
        gpus=acc.count if acc is not None and machine.is_gpu else 0,
        tpus=acc.count if acc is not None and machine.is_tpu else 0,
        pods=max_pods or machine.max_pods,
    )
