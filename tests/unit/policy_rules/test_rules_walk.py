"""Rules of policies/walk.py: the walk stops after as many viable attempts as it is asked
for (reference/gke-computeclass.md §3.2: rules, then zones, are tried in order; the controller
needs only the first, ``ccc plan`` lists every fallback)."""

from __future__ import annotations

import pytest

from policies.obtainability import ObtainabilityMemory
from policies.offering import WalkContext
from policies.tiers import compile_class
from policies.walk import walk_group
from tests.builders import NOW, US_CENTRAL1, catalog, make_class, make_pods, make_rule


@pytest.mark.parametrize(("max_viable", "kept"), [(1, 1), (2, 2), (3, 3), (None, 4)])
def test_the_walk_keeps_as_many_viable_attempts_as_asked_for(
    max_viable: int | None, kept: int
) -> None:
    """Two rules of two zones each: four viable attempts in all."""
    cc = make_class(make_rule("a3-highgpu-8g", spot=True), make_rule("a3-highgpu-8g"))
    compiled = compile_class(cc, catalog(), cluster=US_CENTRAL1)
    ctx = WalkContext(catalog=catalog(), now=NOW, memory=ObtainabilityMemory())
    plan = walk_group(cc, compiled, make_pods(1), ctx, max_viable=max_viable)
    assert len([a for a in plan.attempts if a.decision != "skip"]) == kept
