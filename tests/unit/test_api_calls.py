"""The registry of Kubernetes API calls (ccc/controller/apicalls.py): every module that makes
requests declares them next to its code, so the chart's RBAC can be checked against the
declarations (tests/e2e/test_rbac.py) rather than against patterns in the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccc.api.apicall import ApiCall
from ccc.controller import apicalls, scale

REPO = Path(__file__).resolve().parents[2]
#: What makes a request: the request helpers, an informer, a status patcher, the kwok
#: provider's typed client.
REQUEST_MARKS = ("request_json(", "open_request(", "Informer(", "StatusPatcher(", "self.core.")
#: The helpers themselves: the resource comes from the module that calls them.
GENERIC = {"ccc/controller/kube.py", "ccc/controller/informer.py"}
RBAC_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}


def _making_requests() -> set[str]:
    files = [*(REPO / "ccc").rglob("*.py"), *(REPO / "providers/kwok").rglob("*.py")]
    return {
        str(f.relative_to(REPO))
        for f in files
        if any(mark in f.read_text() for mark in REQUEST_MARKS)
    } - GENERIC


def test_every_module_that_makes_requests_declares_them() -> None:
    declared = {m.replace(".", "/") + ".py" for m in apicalls.CALLERS}
    undeclared = _making_requests() - declared
    assert not undeclared, f"add API_CALLS next to the requests and list the module: {undeclared}"
    assert not declared - _making_requests(), "a listed module no longer makes requests"


@pytest.mark.parametrize("module", apicalls.CALLERS)
def test_each_declared_call_names_a_resource_an_rbac_verb_and_why(module: str) -> None:
    calls = apicalls.declared()[module]
    assert calls, f"{module} declares no API_CALLS"
    for call in calls:
        assert isinstance(call, ApiCall)
        assert call.resource and call.verb in RBAC_VERBS and call.why, call


@pytest.mark.parametrize(("kind", "resource"), list(scale.WELL_KNOWN.items()))
def test_every_workload_kind_the_scaler_knows_has_its_scale_calls_declared(
    kind: tuple[str, str], resource: str
) -> None:
    """A variant may name any of these kinds, and the scaler then reads and patches its
    ``/scale`` (ccc/controller/scale.py): the declarations, and so the chart's RBAC
    (tests/e2e/test_rbac.py), must cover each of them, or the write is forbidden."""
    group = kind[0].rpartition("/")[0]
    declared = {(c.group, c.resource, c.verb) for c in scale.API_CALLS}
    for wanted in [(resource, "get"), (f"{resource}/scale", "get"), (f"{resource}/scale", "patch")]:
        assert (group, *wanted) in declared, f"{kind}: {wanted} is not declared"
