"""Validating a ServingGroup document, with problems a person can act on.

The same translation of pydantic errors as for ComputeClass (:mod:`ccc.api.manifest`): every
problem names the camelCase field path (``spec.variants[1].capacityPerReplica``) and says what
to fix; unknown fields get "did you mean" suggestions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ccc.api.manifest import InvalidManifest, KindSpec, Problem, problems_from_error, register_kind
from ccc.api.servinggroup.resource import API_VERSION, KIND, ServingGroup


class InvalidServingGroup(InvalidManifest):
    """A document that is not a valid ServingGroup (``problems``: each with a path and a fix)."""

    KIND = "ServingGroup"


def parse_serving_group(obj: Mapping[str, Any]) -> ServingGroup:
    """Validate one decoded document as a ``ccc.dev/v1alpha1`` ServingGroup.

    Raises:
        InvalidServingGroup: with every problem found, each with its field path and a fix.
    """
    if not isinstance(obj, Mapping):
        got = type(obj).__name__
        raise InvalidServingGroup([Problem("", f"expected a mapping (an object), got a {got}")])
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    name = name if isinstance(name, str) else None
    header: list[Problem] = []
    if obj.get("apiVersion") != API_VERSION:
        got = obj.get("apiVersion")
        what = "missing" if got is None else f"unsupported apiVersion {got!r}"
        header.append(Problem("apiVersion", f"{what}; set apiVersion: {API_VERSION}"))
    if obj.get("kind") != KIND:
        header.append(Problem("kind", f"set kind: {KIND}"))
    try:
        model = ServingGroup.model_validate(dict(obj))
    except ValidationError as exc:
        found = [
            p
            for error in exc.errors()
            for p in problems_from_error(error, root=ServingGroup)
            if p.path not in ("apiVersion", "kind")
        ]
        raise InvalidServingGroup(list(dict.fromkeys(header + found)), name=name) from None
    if header:
        raise InvalidServingGroup(header, name=name)
    return model


register_kind(KindSpec(KIND, (API_VERSION,), parse_serving_group))
