"""Facts about GKE that decisions depend on and that the machine-type catalog does not hold.

Each constant cites its source. A catalog file may override the TPU flex-start zones
(:attr:`ccc.api.catalog.Catalog.tpu_flex_start_zones`); these are the built-in values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

#: Zones where GKE offers DWS flex-start for each TPU accelerator type. Source: reference
#: gke-computeclass.md §4, from GKE's "About Dynamic Workload Scheduler / flex-start" page:
#: TPUs need GKE 1.33.0-gke.1712000+, single-host TPU slices only; "TPU v6e in
#: asia-northeast1-b/us-east5-a/us-east5-b, v5e in us-west4-a, v5p in us-east5-a; v3/v4
#: unsupported". Both GKE names of TPU v5e (podslice and device) are v5e. A TPU type missing
#: here has no flex-start zone.
TPU_FLEX_START_ZONES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "tpu-v6e-slice": ("asia-northeast1-b", "us-east5-a", "us-east5-b"),
        "tpu-v5-lite-podslice": ("us-west4-a",),
        "tpu-v5-lite-device": ("us-west4-a",),
        "tpu-v5p-slice": ("us-east5-a",),
    }
)

#: GPU memory in GB per GKE accelerator type, for the MIG partition arithmetic below. Source:
#: Compute Engine "GPU machine types" page (A100 40 GB / 80 GB, H100 80 GB, H200 141 GB).
GPU_MEMORY_GB: Final[Mapping[str, int]] = MappingProxyType(
    {
        "nvidia-tesla-a100": 40,
        "nvidia-a100-80gb": 80,
        "nvidia-h100-80gb": 80,
        "nvidia-h100-mega-80gb": 80,
        "nvidia-h200-141gb": 141,
    }
)

_PARTITION = re.compile(r"^(\d+)g\.(\d+)gb$")
#: A MIG-capable GPU has 7 compute slices and 8 memory slices (NVIDIA MIG user guide,
#: "Supported MIG profiles"); GKE exposes each partition as one ``nvidia.com/gpu``
#: (GKE "Running multi-instance GPUs": e.g. A100 40 GB 1g.5gb -> 7, 2g.10gb -> 3, 3g.20gb -> 2,
#: 7g.40gb -> 1; H100 80 GB 1g.20gb -> 4).
_COMPUTE_SLICES = 7
_MEMORY_SLICES = 8


def mig_partitions_per_gpu(gpu_type: str, partition_size: str) -> int | None:
    """How many MIG partitions of ``partition_size`` (``1g.5gb``) one GPU of ``gpu_type`` holds.

    ``min(7 // compute slices, 8 // memory slices)``, where memory slices are the partition's
    memory over one eighth of the GPU's memory, rounded. ``None`` when the size does not parse
    or the GPU's memory is unknown (not a MIG-capable type of this table).
    """
    m = _PARTITION.match(partition_size.strip().lower())
    memory = GPU_MEMORY_GB.get(gpu_type)
    if m is None or memory is None:
        return None
    compute, memory_gb = int(m.group(1)), int(m.group(2))
    if compute < 1 or compute > _COMPUTE_SLICES:
        return None
    memory_slices = max(1, round(memory_gb / (memory / _MEMORY_SLICES)))
    if memory_slices > _MEMORY_SLICES:
        return None
    return max(1, min(_COMPUTE_SLICES // compute, _MEMORY_SLICES // memory_slices))
