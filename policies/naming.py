"""Deterministic node pool names.

The same (class, rule, machine type, zone, capacity type) always maps to the same name, so a
controller that restarts mid-create finds its pool instead of creating a second one. Names obey
GKE's rule: at most 40 characters, ``[a-z]([-a-z0-9]*[a-z0-9])?``.
"""

from __future__ import annotations

import hashlib
import re

from ccc.api.values import CapacityType, NodePoolName

_SHORT = {
    CapacityType.RESERVATION: "rs",
    CapacityType.FLEX_START: "fs",
    CapacityType.SPOT: "sp",
    CapacityType.ON_DEMAND: "od",
}
MAX_NAME_LEN = 40


def _slug(text: str, limit: int) -> str:
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    s = re.sub(r"-{2,}", "-", s)[:limit].rstrip("-")
    return s or "x"


def node_pool_name(
    class_name: str,
    rule_index: int,
    machine_type: str,
    zone: str,
    capacity_type: CapacityType,
    *,
    slice_index: int | None = None,
) -> NodePoolName:
    """``ccc-<class>-<rule>-<od|sp|fs|rs>-<hash>``; the hash covers every input.

    Multi-host TPU slices are one pool each: ``slice_index`` (0, 1, ...) tells them apart and
    adds ``-s<index>`` before the hash.
    """
    key = f"{class_name}|{rule_index}|{machine_type}|{zone}|{capacity_type.value}"
    if slice_index is not None:
        key += f"|slice-{slice_index}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    part = f"-s{slice_index}" if slice_index is not None else ""
    tail = f"-{rule_index}-{_SHORT[capacity_type]}{part}-{digest}"
    head = "ccc-" + _slug(class_name, MAX_NAME_LEN - 4 - len(tail))
    return NodePoolName(head + tail)
