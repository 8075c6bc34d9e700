"""Rules of policies/naming.py: node pool names obey GKE's naming rule (at most 40 characters,
``[a-z]([-a-z0-9]*[a-z0-9])?``) and carry the class name with runs of hyphens collapsed, also
where a long class name is cut."""

from __future__ import annotations

import re

import pytest

from ccc.api.values import CapacityType
from policies.naming import node_pool_name

GKE_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


@pytest.mark.parametrize(
    ("class_name", "head"),
    [
        ("team--gpu", "ccc-team-gpu-"),
        # 22 characters fit before the tail "-0-od-<hash>": the cut falls on a hyphen
        ("abcdefghijklmnopqrstu-vwxyz", "ccc-abcdefghijklmnopqrstu-"),
    ],
    ids=["doubled-hyphen", "cut-at-a-hyphen"],
)
def test_a_pool_name_carries_the_class_name_without_doubled_hyphens(
    class_name: str, head: str
) -> None:
    name = str(
        node_pool_name(class_name, 0, "a3-highgpu-8g", "us-central1-a", CapacityType.ON_DEMAND)
    )
    assert GKE_NAME.fullmatch(name) and len(name) <= 40
    assert name.startswith(head + "0-od-") and "--" not in name
