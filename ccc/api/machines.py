"""Machine types of the catalog: shape, accelerators, TPU slice shapes, attachable GPUs, zones.

A machine type either carries its accelerators (``a3-highgpu-8g``: 8 x H100; ``ct6e-standard-4t``:
4 v6e chips) or, for N1, lists the GPUs that can be attached to it (``gpu_attachments``). An N1
type with GPUs attached is the same machine type with ``accelerator`` set
(:meth:`MachineType.with_gpus`): GKE creates it as ``n1-standard-8`` plus an accelerator config,
and Google bills the VM and the GPUs separately (see :mod:`ccc.api.catalog` prices).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ccc.api.values import Accelerator, AcceleratorKind, region_of


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def region_order(region: str) -> tuple[int, str]:
    """Sort key of regions in the catalog: US regions first (``us-central1`` leading), then
    alphabetically. It is the order a plan without zones walks a machine type's zones in."""
    return (0 if region.startswith("us-") else 1, "" if region == "us-central1" else region)


def zone_order(zone: str) -> tuple[tuple[int, str], str]:
    """Sort key of zones: by :func:`region_order`, then by name."""
    return region_order(region_of(zone)), zone


def topology_chips(topology: str) -> int:
    """Chips in a slice shape (``4x4x8`` -> 128).

    Raises:
        ValueError: not of the form AxB or AxBxC with positive integers.
    """
    parts = topology.strip().lower().split("x")
    product = 1
    for p in parts:
        if not p.isdigit() or (n := int(p)) <= 0:
            product = 0
            break
        product *= n
    if len(parts) not in (2, 3) or product == 0:
        raise ValueError(f"topology {topology!r} is not of the form AxB or AxBxC")
    return product


class TpuTopology(_Frozen):
    """One valid slice shape of a TPU machine type (``2x4``: 8 chips on 1 host)."""

    topology: str
    chips: int = Field(ge=1)
    hosts: int = Field(ge=1)
    #: Zones that offer this slice shape, when a source says it is narrower than the machine
    #: type's zones; empty means every zone of the machine type.
    zones: tuple[str, ...] = ()

    @property
    def is_multi_host(self) -> bool:
        return self.hosts > 1

    @model_validator(mode="after")
    def _chips_match_dimensions(self) -> TpuTopology:
        product = topology_chips(self.topology)
        if product != self.chips:
            raise ValueError(
                f"topology {self.topology!r} has {product} chips, not {self.chips}: "
                "chips must be the product of the dimensions"
            )
        return self


class GpuAttachment(_Frozen):
    """GPUs that GKE can attach to an N1 node: the type, the allowed counts and where."""

    type: str
    #: GPU counts this machine type's vCPUs and memory allow (GKE/Compute Engine limits).
    counts: tuple[int, ...]
    #: Zones offering both the machine type and this GPU (subset of the machine's zones).
    zones: tuple[str, ...] = ()
    unverified_zones: tuple[str, ...] = ()


class MachineType(_Frozen):
    """One machine type: its shape, accelerators per node, TPU slice shapes and zones."""

    name: str
    family: str
    vcpus: int
    memory_gb: float
    accelerator: Accelerator | None = None
    #: Valid TPU slice shapes (TPU machine types only). The data file may list bare topology
    #: strings (``[2x2, 2x4]``); chips and hosts are then computed from chips per host.
    tpu_topologies: tuple[TpuTopology, ...] = ()
    #: GPUs that can be attached (N1 only).
    gpu_attachments: tuple[GpuAttachment, ...] = ()
    #: Shared-core machine type (``e2-small``): its vCPUs are a fraction of a core each.
    shared_core: bool = False
    #: Local SSD bundled with the machine type, GB (0: none; ``None``: no source says).
    local_ssd_gb: int | None = None
    zones: tuple[str, ...] = ()
    #: Subset of ``zones`` that no source confirms (see the data file's provenance).
    unverified_zones: tuple[str, ...] = ()
    max_pods: int = 110
    #: Cloud Billing SKU series of its vCPUs and memory (``n2``, ``compute-optimized``), used to
    #: derive prices from SKU components; empty when unknown.
    sku_series: str = ""
    note: str = ""

    @property
    def is_tpu(self) -> bool:
        return self.accelerator is not None and self.accelerator.kind is AcceleratorKind.TPU

    @property
    def is_gpu(self) -> bool:
        return self.accelerator is not None and self.accelerator.kind is AcceleratorKind.GPU

    @property
    def attached_gpu(self) -> GpuAttachment | None:
        """The attachment this (N1) machine type's GPUs come from, if they are attached."""
        acc = self.accelerator
        if acc is None:
            return None
        return next((a for a in self.gpu_attachments if a.type == acc.type), None)

    @property
    def chips_per_host(self) -> int:
        """TPU chips on one node (VM) of this type; 0 for a machine without TPUs."""
        return self.accelerator.count if self.is_tpu and self.accelerator is not None else 0

    @property
    def regions(self) -> tuple[str, ...]:
        """Regions of :attr:`zones`, in first-seen order."""
        return tuple(dict.fromkeys(region_of(z) for z in self.zones))

    def topology(self, topology: str) -> TpuTopology | None:
        """The slice shape named ``topology`` (``"2x4"``), or ``None`` if this type lacks it."""
        wanted = topology.strip().lower()
        return next((t for t in self.tpu_topologies if t.topology == wanted), None)

    def zones_for(self, topology: TpuTopology | None) -> tuple[str, ...]:
        """Zones offering this machine type with ``topology`` (all its zones when the topology
        names none, or when no topology is given)."""
        if topology is None or not topology.zones:
            return self.zones
        return tuple(z for z in self.zones if z in topology.zones)

    def accelerator_types(self) -> tuple[str, ...]:
        """Built-in accelerator type, or the attachable GPU types (N1)."""
        if self.accelerator is not None and self.attached_gpu is None:
            return (self.accelerator.type,)
        return tuple(a.type for a in self.gpu_attachments)

    def with_gpus(self, gpu_type: str, count: int | None = None) -> MachineType | None:
        """This N1 machine type with ``count`` GPUs of ``gpu_type`` attached (the smallest
        allowed count when ``None``), restricted to the zones offering them; ``None`` when the
        GPU cannot be attached in that number."""
        att = next((a for a in self.gpu_attachments if a.type == gpu_type), None)
        if att is None or not att.counts:
            return None
        n = att.counts[0] if count is None else count
        if n not in att.counts:
            return None
        return self.model_copy(
            update={
                "accelerator": Accelerator(kind=AcceleratorKind.GPU, type=gpu_type, count=n),
                "zones": att.zones,
                "unverified_zones": att.unverified_zones,
            }
        )

    @model_validator(mode="before")
    @classmethod
    def _expand_topology_strings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        topos = data.get("tpu_topologies")
        if not topos or not any(isinstance(t, str) for t in topos):
            return data
        acc = data.get("accelerator")
        per_host = acc.get("count") if isinstance(acc, dict) else getattr(acc, "count", None)
        if not isinstance(per_host, int) or per_host < 1:
            return data  # the after-validator reports the missing accelerator
        expanded: list[Any] = []
        for t in topos:
            if not isinstance(t, str):
                expanded.append(t)
                continue
            chips = topology_chips(t)
            hosts = max(1, chips // per_host)
            expanded.append({"topology": t.strip().lower(), "chips": chips, "hosts": hosts})
        return {**data, "tpu_topologies": expanded}

    @model_validator(mode="after")
    def _consistent(self) -> MachineType:
        zones = set(self.zones)  # computed once: the built-in catalog has 531 machine types
        if len(zones) != len(self.zones):
            raise ValueError(f"{self.name}: zones has duplicates")
        stray = sorted(set(self.unverified_zones) - zones)
        if stray:
            raise ValueError(f"{self.name}: unverified_zones {stray} are not in zones")
        if self.tpu_topologies and not self.is_tpu:
            raise ValueError(f"{self.name}: tpu_topologies on a machine type without TPUs")
        per_host = self.chips_per_host
        for t in self.tpu_topologies:
            if t.chips != t.hosts * per_host:
                raise ValueError(
                    f"{self.name}: topology {t.topology} has {t.chips} chips, but "
                    f"{t.hosts} hosts x {per_host} chips per host"
                )
        for a in self.gpu_attachments:
            outside = sorted(set(a.zones) - zones)
            if outside:
                raise ValueError(f"{self.name}: {a.type} zones {outside} are not in zones")
        return self
