"""ComputeClass manifests: which documents are ccc's kinds, and turning pydantic's validation
errors into problems a person can act on.

Reading files safely (pipes, devices, limits, located YAML errors) is
:mod:`ccc.api.yaml_source`; this module decides what each document is (:func:`classify`): one
of ccc's kinds (a dispatch table, :data:`KINDS`, that other kinds join with
:func:`register_kind`), a near miss of one (``kind: CustomComputeClass``, an unknown kind in the
``ccc.dev`` group: an error, never a silent skip), or some other object (skipped).

Every problem names the camelCase field path (``spec.priorities[2].machineType``) and says what
is wrong and how to fix it; unknown fields get "did you mean" suggestions, including for the
field names that circulate in GKE samples but do not exist in the CRD (``storage.bootDisk``).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ccc.api.computeclass import API_VERSIONS, CROSS_FIELD_ERROR, GROUP, KIND, ComputeClass
from ccc.api.errors import ConfigError
from ccc.api.yaml_source import (
    MANIFEST_SUFFIXES,
    STDIN,
    TEMPLATE_HINT,
    Document,
    ManifestError,
    load_file,
    manifest_files,
    template_paths,
)

__all__ = [
    "KINDS",
    "MANIFEST_SUFFIXES",
    "STDIN",
    "Document",
    "InvalidComputeClass",
    "KindSpec",
    "ManifestError",
    "Problem",
    "classify",
    "load_documents",
    "load_file",
    "manifest_files",
    "parse_compute_class",
    "register_kind",
    "skipped_summary",
]

# Field names seen in GKE samples and skills that are not in the real schema
# (reference/gke-computeclass.md §8), with what to write instead.
KNOWN_MISTAKES: Mapping[str, str] = {
    "bootDisk": "use storage.bootDiskType and storage.bootDiskSize (GB)",
    "localSsd": "use storage.localSSDCount",
    "consumeReservationType": "use reservations.affinity (Specific, AnyBestEffort, None)",
    "consolidationDelay": "use autoscalingPolicy.consolidationDelayMinutes",
    "sizeGb": "use storage.bootDiskSize (GB)",
    "kmsKey": "use storage.bootDiskKMSKey",
    "location.type": "use location.locationPolicy (ANY or BALANCED) and location.zones",
    "reservations.key": "use reservations.specific[].name",
    "reservations.values": "use reservations.specific[].name",
}


class Problem(NamedTuple):
    """One thing wrong with a document: camelCase field ``path`` ("" = whole document) and a
    ``message`` saying what is wrong and how to fix it. Unpacks as ``(path, message)``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidManifest(ConfigError):
    """A document that is not a valid object of its kind.

    Attributes:
        problems: every problem found, each with its field path and a fix.
        name: ``metadata.name`` when the document has one.
    """

    def __init__(self, problems: Sequence[Problem], *, name: str | None = None) -> None:
        self.problems = tuple(problems)
        self.name = name
        first = self.problems[0] if self.problems else Problem("", "invalid manifest")
        summary = str(first)
        if len(self.problems) > 1:
            summary += f" (and {len(self.problems) - 1} more)"
        super().__init__(first.message, path=first.path)
        self.args = (summary,)


class InvalidComputeClass(InvalidManifest):
    """A document that is not a valid ComputeClass."""


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One kind that ccc reads from manifests.

    Attributes:
        kind: the ``kind`` value, e.g. ``ComputeClass``.
        api_versions: the ``apiVersion`` values ccc accepts for it (the first is preferred).
        parse: validates one decoded document; raises :class:`InvalidManifest` with every
            problem (including a wrong ``apiVersion``).
    """

    kind: str
    api_versions: tuple[str, ...]
    parse: Callable[[Mapping[str, Any]], object]


KINDS: dict[str, KindSpec] = {}
"""ccc's kinds by ``kind``; :func:`classify` dispatches on it. Add kinds with
:func:`register_kind`."""

OWN_GROUPS = (GROUP,)
"""API groups that belong to ccc: any other kind in them is a mistake, not someone else's."""


def register_kind(spec: KindSpec) -> None:
    """Make ``ccc validate`` (and :func:`classify`) recognise ``spec.kind``."""
    KINDS[spec.kind] = spec


def classify(doc: Document) -> KindSpec | Problem | None:
    """What ``doc`` is: one of ccc's kinds, a :class:`Problem` when it is not a Kubernetes
    object or looks like one of ccc's kinds but is not (``kind: CustomComputeClass``, an unknown
    kind in the ``ccc.dev`` group), or ``None`` for any other object (to be skipped)."""
    body = doc.body
    if not isinstance(body, Mapping):
        return Problem(
            "",
            f"a document must be a Kubernetes object (a mapping with apiVersion and kind), got"
            f" {_a_type(body)}",
        )
    kind = body.get("kind")
    if kind is None:
        return Problem(
            "kind", f"missing; set kind: {KIND} (every object needs apiVersion and kind)"
        )
    if not isinstance(kind, str):
        return Problem("kind", f"must be a string (got {_a_type(kind)}); set kind: {KIND}")
    spec = KINDS.get(kind)
    if spec is not None:
        return spec
    lowered = kind.lower()
    for known in KINDS:
        similar = difflib.SequenceMatcher(None, lowered, known.lower()).ratio() >= 0.8
        if known.lower() in lowered or similar:
            return Problem(
                "kind",
                f"kind {kind!r} is not a kind ccc knows; did you mean kind: {known}"
                f" (apiVersion {KINDS[known].api_versions[0]})?",
            )
    if doc.group in OWN_GROUPS:
        kinds = ", ".join(sorted(KINDS))
        return Problem(
            "kind", f"the {doc.group} API group has no kind {kind!r}; its kinds are {kinds}"
        )
    return None


def skipped_summary(counts: Mapping[str, int]) -> str:
    """``3 other document(s) skipped (2 ConfigMap, 1 Service)`` for documents skipped by kind,
    or ``""`` when none was."""
    if not counts:
        return ""
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    return f"{sum(counts.values())} other document(s) skipped ({kinds})"


def _a_type(value: object) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def load_documents(path: str | Path) -> list[Document]:
    """The non-empty documents of a file, or of every manifest file below a directory.

    Raises:
        ManifestError: a path is missing, or a file is unreadable or not valid YAML.
    """
    return [doc for file in manifest_files(path) for doc in load_file(file)]


def parse_compute_class(obj: Mapping[str, Any]) -> ComputeClass:
    """Validate one document as a ComputeClass (``ccc.dev/v1alpha1`` or ``cloud.google.com/v1``).

    Args:
        obj: the decoded document.

    Returns:
        The validated model.

    Raises:
        InvalidComputeClass: with every problem found, each with its field path and a fix.
    """
    if not isinstance(obj, Mapping):
        got = type(obj).__name__
        raise InvalidComputeClass([Problem("", f"expected a mapping (an object), got a {got}")])
    name = _str_field(obj.get("metadata"), "name")
    problems = _header_problems(obj)
    try:
        # Manifests use the wire (camelCase) names only, as the API server does.
        model = ComputeClass.model_validate(dict(obj), by_alias=True, by_name=False)
    except ValidationError as exc:
        problems += [
            p
            for error in exc.errors()
            for p in problems_from_error(error)
            if p.path not in ("apiVersion", "kind") or not problems
        ]
        raise InvalidComputeClass(_with_template_hints(_dedupe(problems), obj), name=name) from None
    if problems:
        raise InvalidComputeClass(problems, name=name)
    return model


def _str_field(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) else None


def _with_template_hints(problems: list[Problem], obj: Any) -> list[Problem]:
    """Add "render it first" to problems about values that are unrendered ``{{ }}`` text."""
    templated = set(template_paths(obj))
    if not templated:
        return problems
    return [
        Problem(p.path, f"{p.message}; {TEMPLATE_HINT}") if p.path in templated else p
        for p in problems
    ]


register_kind(KindSpec(KIND, tuple(API_VERSIONS), parse_compute_class))


def _header_problems(obj: Mapping[str, Any]) -> list[Problem]:
    versions = " or ".join(API_VERSIONS)
    problems = []
    api_version = obj.get("apiVersion")
    if api_version is None:
        problems.append(Problem("apiVersion", f"missing; set apiVersion: {API_VERSIONS[0]}"))
    elif api_version not in API_VERSIONS:
        problems.append(
            Problem("apiVersion", f"unsupported apiVersion {api_version!r}; use {versions}")
        )
    kind = obj.get("kind")
    if kind != KIND:
        what = "missing" if kind is None else f"kind {kind!r} is not a ComputeClass"
        problems.append(Problem("kind", f"{what}; set kind: {KIND}"))
    return problems


def _dedupe(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def format_path(loc: Sequence[int | str]) -> str:
    """``("spec", "priorities", 2, "machineType")`` -> ``spec.priorities[2].machineType``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def problems_from_error(
    error: ErrorDetails, *, root: type[BaseModel] = ComputeClass
) -> list[Problem]:
    """Translate one pydantic error of ``root`` (:class:`ComputeClass`, or another API object
    such as a ServingGroup) validation into problems."""
    loc = tuple(error["loc"])
    path = format_path(loc)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == CROSS_FIELD_ERROR:
        return [
            Problem(format_path((*loc, *_split_rel(rel))), message)
            for rel, message, _ in ctx["violations"]
        ]
    if kind == "extra_forbidden":
        return [Problem(path, _unknown_field_message(loc, root))]
    if kind == "missing":
        return [Problem(path, _missing_message(loc, root))]
    return [Problem(path, _value_message(error))]


def _split_rel(rel: str) -> tuple[str, ...]:
    return tuple(part for part in rel.split(".") if part)


def _unknown_field_message(loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    key = str(loc[-1])
    allowed = _aliases(_model_at(loc[:-1], root))
    message = "unknown field"
    parent = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), "")
    hint = KNOWN_MISTAKES.get(f"{parent}.{key}") or KNOWN_MISTAKES.get(key)
    if hint:
        return f"{message}; {hint}"
    by_lower = {a.lower(): a for a in allowed}
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        close = [a.lower() for a in allowed if a.lower().startswith(key.lower()[:4])][:3]
    if close:
        return f"{message}; did you mean {'/'.join(by_lower[c] for c in close)}?"
    if allowed and len(allowed) <= 12:
        return f"{message}; allowed fields here: {', '.join(allowed)}"
    return f"{message}; remove it (see docs/api-reference.md for the fields allowed here)"


def _missing_message(loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    model = _model_at(loc[:-1], root)
    field = _field(model, str(loc[-1])) if model else None
    message = f"required field is missing; add {loc[-1]}"
    if field is None:
        return message
    choices = [a for m in _members(field.annotation) for a in typing.get_args(m)]
    if choices and all(isinstance(c, str) for c in choices):
        return f"{message} (one of {', '.join(choices)})"
    if field.description:
        return f"{message} ({field.description.rstrip('.')})"
    return message


def _value_message(error: ErrorDetails) -> str:
    msg = error["msg"]
    kind = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        msg = "must be an object (a mapping of fields)"
    elif kind == "list_type":
        msg = "must be a list"
    elif kind in ("bool_type", "bool_parsing"):
        msg = "must be true or false"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        msg = "must be a whole number"
    elif kind == "string_type":
        msg = 'must be a string (quote numbers and booleans: "8")'
    elif kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        what = "characters" if isinstance(error.get("input"), str) else "items"
        what = what[:-1] if limit == 1 else what
        msg = f"must have {bound} {limit} {what} (got {ctx.get('actual_length')})"
        return msg
    elif kind == "string_pattern_mismatch":
        msg = f"does not match the required format {ctx.get('pattern')}"
    else:
        msg = msg.replace("Input should be", "must be").replace("Value error, ", "")
        msg = msg.replace("List should have", "must have").replace(
            "String should have", "must have"
        )
        msg = msg.replace("Dictionary should have", "must have")
    got = error.get("input")
    if not isinstance(got, (dict, list)):
        shown = repr(got)
        msg += f" (got {shown if len(shown) <= 40 else shown[:37] + '...'})"
    return msg


def _aliases(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _field(model: type[BaseModel] | None, key: str) -> Any:
    if model is None:
        return None
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _model_at(loc: Sequence[int | str], root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class that validates the object at ``loc`` (None for maps and scalars)."""
    model: type[BaseModel] | None = root
    pending: Any = None
    for part in loc:
        if isinstance(part, int):
            pending = _unwrap_list(pending)
            model = _as_model(pending)
            continue
        field = _field(model, part)
        if field is None:
            return None
        pending = field.annotation
        model = _as_model(pending)
    return model


def _members(annotation: Any) -> Iterator[Any]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            yield from _members(arg)
    else:
        yield annotation


def _as_model(annotation: Any) -> type[BaseModel] | None:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _unwrap_list(annotation: Any) -> Any:
    for member in _members(annotation):
        if typing.get_origin(member) is list:
            return typing.get_args(member)[0]
    return None
