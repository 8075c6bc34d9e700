"""One kind of Kubernetes API request ccc makes, as RBAC sees it: (API group, resource, verb).

Every module that talks to the API server declares the requests it makes in a module-level
``API_CALLS`` tuple, next to the code that makes them; :mod:`ccc.controller.apicalls` collects
them, and the chart's RBAC is checked against that list both ways (tests/e2e/test_rbac.py: a
call without a rule, or a rule without a call, fails).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiCall:
    """A request kind: ``resource`` with its subresource (``pods/eviction``), the RBAC verb
    (``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``, ``delete``) and why."""

    group: str
    resource: str
    verb: str
    why: str

    @property
    def rule(self) -> tuple[str, str, str]:
        """``(group, resource, verb)``, as an RBAC rule grants it."""
        return (self.group, self.resource, self.verb)


def watched(group: str, resource: str, why: str) -> tuple[ApiCall, ApiCall]:
    """The ``list`` and ``watch`` an informer of ``resource`` makes."""
    return (ApiCall(group, resource, "list", why), ApiCall(group, resource, "watch", why))
