"""The registry of the Kubernetes API calls ``ccc run`` makes (with the kwok provider).

Each module below declares ``API_CALLS`` (:class:`ccc.api.apicall.ApiCall` values) next to the
code that makes the requests; :func:`declared` collects them. The generic request helpers
(:mod:`ccc.controller.kube`, the informer's list and watch) make no call of their own: the
module that points them at a resource declares it.
"""

from __future__ import annotations

import importlib

from ccc.api.apicall import ApiCall

#: Every module that makes Kubernetes API requests, each with a module-level ``API_CALLS``.
CALLERS: tuple[str, ...] = (
    "ccc.controller.run",
    "ccc.controller.view",
    "ccc.controller.events",
    "ccc.controller.status",
    "ccc.controller.serving_status",
    "ccc.controller.nodeops",
    "ccc.controller.scale",
    "ccc.controller.leader",
    "ccc.controller.admission.service",
    "ccc.controller.admission.review",
    "ccc.controller.admission.secret",
    "ccc.controller.admission.cabundle",
    "providers.kwok.kube",
)


def declared() -> dict[str, tuple[ApiCall, ...]]:
    """``API_CALLS`` of every module in :data:`CALLERS`, by module."""
    return {name: tuple(importlib.import_module(name).API_CALLS) for name in CALLERS}
