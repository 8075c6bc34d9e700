"""Golden plans: every field of every attempt, for scenarios that cover the walk's semantics.

The plan JSON is a documented, stable interface and its reasons are what users read, so each
scenario's complete output is pinned: attempts with reasons, prices and placements, the node pool
spec the controller would send (labels, taints, reservation affinity, pass-through settings),
the compiled problems and the warnings. The scenarios run against a fixed test catalog
(``tests/golden/catalog.yaml``) so they pin the walk, not the built-in catalog's data.

A deliberate change of behaviour or wording: regenerate with
``CCC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_plan_golden.py`` and review the diff of
``tests/golden/plans/`` like code.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ccc.api.builtin_catalog import load_catalog_file
from ccc.api.values import OfferingKey
from policies.obtainability import ObtainabilityMemory
from policies.offering import WalkContext
from policies.plan import Attempt, Placement
from policies.tiers import compile_class
from policies.walk import plan_class
from tests.builders import NOW, make_class
from tests.unit.plan_scenarios import SCENARIOS

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CATALOG = load_catalog_file(GOLDEN / "catalog.yaml")


def _placement(p: Placement) -> dict[str, Any]:
    return {
        **p.to_json(),
        "targetNodes": p.target_nodes,
        "pods": p.pods,
        "spec": p.spec.model_dump(mode="json") if p.spec is not None else None,
    }


def _attempt(a: Attempt) -> dict[str, Any]:
    return {
        **a.to_json(),
        "pods": a.pods,
        "group": a.group,
        "targetNodes": a.target_nodes,
        "waitS": a.wait_s,
        "spec": a.spec.model_dump(mode="json") if a.spec is not None else None,
        "allPlacements": [_placement(p) for p in a.placements],
    }


def render(name: str) -> dict[str, Any]:
    s = SCENARIOS[name]
    cc = make_class(auto_create=None, name=s.name, **s.spec)
    memory = ObtainabilityMemory()
    for machine, zone, ct, reason in s.blocked:
        key = OfferingKey(machine_type=machine, zone=zone, capacity_type=ct)
        memory = memory.record_failure(
            key, reason=reason, message="", now=NOW - timedelta(seconds=30)
        )
    compiled = compile_class(cc, CATALOG, cluster=s.cluster, node_pools=s.pools)
    ctx = WalkContext(
        catalog=CATALOG, now=NOW, memory=memory, node_pools=s.pools, reservations=s.reservations
    )
    plan = plan_class(cc, compiled, s.pods, ctx)
    return {
        **plan.to_json(),
        "order": list(compiled.order),
        "problems": [[p.rule_index, p.path, p.message, p.kind] for p in compiled.problems],
        "attempts": [_attempt(a) for a in plan.attempts],
    }


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_plan_of_each_scenario_matches_its_golden_file(name: str) -> None:
    got = render(name)
    path = GOLDEN / "plans" / f"{name}.json"
    text = json.dumps(got, indent=1, sort_keys=True) + "\n"
    if os.environ.get("CCC_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with CCC_UPDATE_GOLDEN=1 and review it"
    want = json.loads(path.read_text())
    assert got == want, f"{name}: the plan changed; if intended, regenerate (module docstring)"
