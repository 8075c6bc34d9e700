"""Reading ComputeClass manifests: multi-document YAML files and directories, and turning
pydantic's validation errors into problems a person can act on.

Every problem names the camelCase field path (``spec.priorities[2].machineType``) and says what
is wrong and how to fix it; unknown fields get "did you mean" suggestions, including for the
field names that circulate in GKE samples but do not exist in the CRD (``storage.bootDisk``).
Unparseable YAML is reported with file, line and column.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ccc.api.computeclass import API_VERSIONS, CROSS_FIELD_ERROR, KIND, ComputeClass
from ccc.api.errors import ConfigError
from ccc.api.servinggroup.resource import KIND as SERVING_GROUP_KIND

MANIFEST_SUFFIXES = (".yaml", ".yml")

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
    """A document that is not a valid object of its kind (``KIND``).

    Attributes:
        problems: every problem found, each with its field path and a fix.
        name: ``metadata.name`` when the document has one.
    """

    KIND = "object"

    def __init__(self, problems: Sequence[Problem], *, name: str | None = None) -> None:
        self.problems = tuple(problems)
        self.name = name
        first = self.problems[0] if self.problems else Problem("", f"invalid {self.KIND}")
        summary = str(first)
        if len(self.problems) > 1:
            summary += f" (and {len(self.problems) - 1} more)"
        super().__init__(first.message, path=first.path)
        self.args = (summary,)


class InvalidComputeClass(InvalidManifest):
    """A document that is not a valid ComputeClass."""

    KIND = "ComputeClass"


class ManifestError(ConfigError):
    """A file that cannot be read or parsed as YAML.

    Attributes:
        source: the file.
        line, column: 1-based position of the problem, when known.
    """

    def __init__(
        self, message: str, *, source: str, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.column = column
        self.args = (self.location() + ": " + message,)

    def location(self) -> str:
        """``FILE`` or ``FILE:LINE:COLUMN``."""
        if self.line is None:
            return self.source
        return f"{self.source}:{self.line}:{self.column or 1}"


@dataclass(frozen=True, slots=True)
class Document:
    """One non-empty YAML document of a file: ``index`` counts from 0, ``line`` from 1."""

    source: str
    index: int
    line: int
    body: Any

    @property
    def kind(self) -> str | None:
        return _str_field(self.body, "kind")

    @property
    def api_version(self) -> str | None:
        return _str_field(self.body, "apiVersion")

    @property
    def name(self) -> str | None:
        meta = self.body.get("metadata") if isinstance(self.body, Mapping) else None
        return _str_field(meta, "name")

    @property
    def is_compute_class(self) -> bool:
        """True for documents of kind ComputeClass (whatever their apiVersion)."""
        return self.kind == KIND

    @property
    def is_serving_group(self) -> bool:
        """True for documents of kind ServingGroup (whatever their apiVersion)."""
        return self.kind == SERVING_GROUP_KIND


def _str_field(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) else None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, typing.Hashable):
            continue  # construct_mapping below reports "found unhashable key"
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}; keep only one", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def manifest_files(path: str | Path) -> list[Path]:
    """``path`` itself if it is a file, else every ``*.yaml``/``*.yml`` below it, sorted.

    Raises:
        ManifestError: ``path`` does not exist.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in MANIFEST_SUFFIXES)
    raise ManifestError("no such file or directory", source=str(path))


def load_file(path: str | Path) -> list[Document]:
    """The non-empty YAML documents of one file, in order.

    Raises:
        ManifestError: the file cannot be read or is not valid YAML (with line and column).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError("no such file or directory", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read file: {exc}", source=source) from None
    documents: list[Document] = []
    loader = _StrictLoader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            body = loader.construct_document(node)
            if body is not None:
                documents.append(Document(source, index, node.start_mark.line + 1, body))
            index += 1
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source, text) from None
    finally:
        loader.dispose()
    return documents


def load_documents(path: str | Path) -> list[Document]:
    """The non-empty documents of a file, or of every manifest file below a directory.

    Raises:
        ManifestError: a path is missing, or a file is unreadable or not valid YAML.
    """
    return [doc for file in manifest_files(path) for doc in load_file(file)]


def _yaml_error(exc: yaml.YAMLError, source: str, text: str) -> ManifestError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if mark is None:
        return ManifestError(message, source=source)
    lines = text.splitlines()
    near = lines[max(mark.line - 1, 0) : mark.line + 1]
    if any("{{" in line or "{%" in line for line in near):
        message += "; this looks like an unrendered template: render it first (helm template)"
    elif "\t" in "".join(near):
        message += "; YAML does not allow tabs for indentation, use spaces"
    return ManifestError(message, source=source, line=mark.line + 1, column=mark.column + 1)


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
        model = ComputeClass.model_validate(dict(obj))
    except ValidationError as exc:
        problems += [
            p
            for error in exc.errors()
            for p in problems_from_error(error)
            if p.path not in ("apiVersion", "kind") or not problems
        ]
        raise InvalidComputeClass(_dedupe(problems), name=name) from None
    if problems:
        raise InvalidComputeClass(problems, name=name)
    return model


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
