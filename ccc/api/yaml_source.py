"""Reading YAML manifests safely: from files, named pipes or stdin, into plain JSON-like data.

Whatever the input, the result is a list of :class:`Document` values or one
:class:`ManifestError` whose message says where (``FILE:LINE:COLUMN``) and what to do. Nothing
here hangs or recurses without bound:

* files, pipes and stdin are read by :mod:`ccc.api.file_source` (no blocking, bounded size;
  its names are re-exported here); a document may hold at most :data:`MAX_DOCUMENT_CHARS`
  characters (the API server's request limit);
* control characters (a pasted ANSI colour code, a NUL byte) are reported with their position;
* nesting deeper than :data:`MAX_DEPTH` levels, recursive aliases and alias "bombs" are refused
  before anything is built from them.

Decoding follows what ``kubectl`` sends to the API server (sigs.k8s.io/yaml: YAML to JSON), so
``ccc validate`` and the API server see the same data: timestamps stay strings, scalar map keys
become strings (``1: x`` is ``"1": x``), integral floats are integers, ``.nan``/``.inf`` are
errors (JSON has no such numbers), merge keys (``<<: *defaults``) work and duplicate keys are
errors. ``kind: List`` wrappers (what ``kubectl get -o yaml`` prints) are unwrapped into their
items.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from ccc.api.file_source import (
    MANIFEST_SUFFIXES,
    MAX_FILE_BYTES,
    PIPE_WAIT_S,
    STDIN,
    STDIN_SOURCE,
    ManifestError,
    manifest_files,
    position,
    read_text,
)

__all__ = [
    "MANIFEST_SUFFIXES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_CHARS",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "PIPE_WAIT_S",
    "STDIN",
    "STDIN_SOURCE",
    "TEMPLATE_HINT",
    "Document",
    "ManifestError",
    "check_characters",
    "load_file",
    "manifest_files",
    "parse_documents",
    "read_text",
    "template_paths",
    "yaml_error",
]

MAX_DOCUMENT_CHARS = 3 * 2**20
"""Largest single document: kube-apiserver refuses request bodies over 3 MiB (3145728 bytes)."""

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists (a Deployment needs about 15 levels)."""

MAX_VALUES = 1_000_000
"""Most values (scalars, lists, mappings) one document may expand to through aliases."""

# Characters YAML does not allow in a stream (YAML 1.1 "printable" set, as PyYAML enforces).
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "backspace", 0x1B: "ESC", 0x7F: "DEL", 0xFEFF: "BOM"}


@dataclass(frozen=True, slots=True)
class Document:
    """One non-empty YAML document of a file.

    ``index`` counts documents from 0, ``line`` from 1; ``item`` is the position inside a
    ``kind: List`` wrapper the document was unwrapped from (``None`` otherwise).
    """

    source: str
    index: int
    line: int
    body: Any
    item: int | None = None

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
    def group(self) -> str:
        """API group of ``apiVersion`` (``""`` for the core group or when unset)."""
        version = self.api_version or ""
        return version.rpartition("/")[0]

    def describe(self) -> str:
        """``document 2 (line 14)``, or ``document 1, items[3] (line 20)`` for List items."""
        where = f"document {self.index + 1}"
        if self.item is not None:
            where += f", items[{self.item}]"
        return f"{where} (line {self.line})"


def _str_field(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) else None


def check_characters(text: str, source: str) -> None:
    """Refuse characters YAML does not allow, naming the character and where it is.

    Raises:
        ManifestError: at the first such character.
    """
    match = _NOT_PRINTABLE.search(text)
    if match is None:
        return
    char = match.group()
    code = ord(char)
    name = _CONTROL_NAMES.get(code) or unicodedata.name(char, "control character")
    hint = "remove it"
    if code == 0x1B:
        hint = "a pasted terminal colour code? remove the escape sequence"
    elif code == 0:
        hint = "is this a binary file? remove the NUL bytes"
    line, column = position(text, match.start())
    raise ManifestError(
        f"control character U+{code:04X} ({name}) is not allowed in YAML; {hint}",
        source=source,
        line=line,
        column=column,
    )


# --- parsing ---------------------------------------------------------------------------------


class _Resolver(Resolver):
    """YAML 1.1 implicit types as kubectl resolves them: no timestamps (they stay strings)."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}


_NO_JSON_FORM = ("binary", "set", "omap", "pairs")


class _Constructor(SafeConstructor):
    """Plain JSON-like data with kubectl's conversions (see the module docstring)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        _refuse_duplicate_keys(node)
        self.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _json_key(self.construct_object(key_node, deep=True), key_node)
            out[key] = self.construct_object(value_node, deep=deep)
        return out

    def construct_yaml_float(self, node: ScalarNode) -> float | int:
        value: float = super().construct_yaml_float(node)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConstructorError(
                None,
                None,
                f"{node.value} (not a number / infinity) has no JSON form; use a string or a"
                " number",
                node.start_mark,
            )
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value

    def construct_unsupported(self, node: Node) -> None:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise ConstructorError(
            None,
            None,
            f"the YAML tag {tag} has no JSON form (Kubernetes manifests are JSON); remove it",
            node.start_mark,
        )


_Constructor.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    **{f"tag:yaml.org,2002:{t}": _Constructor.construct_unsupported for t in _NO_JSON_FORM},
    "tag:yaml.org,2002:float": _Constructor.construct_yaml_float,
}


def _refuse_duplicate_keys(node: MappingNode) -> None:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, ScalarNode):
            continue
        key = key_node.value
        if key in seen:
            raise ConstructorError(
                None, None, f"duplicate key {key!r}; keep only one", key_node.start_mark
            )
        seen.add(key)


def _json_key(key: Any, node: Node) -> str:
    """A mapping key as sigs.k8s.io/yaml turns it into a JSON object key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float):
        return str(key)
    what = "null" if key is None else ("a list" if isinstance(key, list) else "a mapping")
    raise ConstructorError(
        None,
        None,
        f"mapping key is {what}; Kubernetes manifests only have string keys",
        node.start_mark,
    )


if yaml.__with_libyaml__:
    from yaml._yaml import CParser  # libyaml, shipped in the PyYAML wheels

    class _Loader(CParser, _Constructor, _Resolver):
        """libyaml's parser with the kubectl-like constructor and resolver."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        _Constructor,
        _Resolver,
    ):
        """Pure-Python parser with the kubectl-like constructor and resolver."""

        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)


def _check_structure(text: str, source: str) -> None:
    """Depth and document size from the event stream, before any node is built."""
    loader = _Loader(text)
    depth = 0
    start = 0
    try:
        while True:
            event = loader.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            if isinstance(event, yaml.DocumentStartEvent):
                start = _index(event.start_mark)
            elif isinstance(event, yaml.DocumentEndEvent):
                if _index(event.end_mark) - start > MAX_DOCUMENT_CHARS:
                    raise _error_at(
                        event.start_mark,
                        f"document is larger than {MAX_DOCUMENT_CHARS // 2**20} MiB, the most"
                        " the API server accepts for one object; split it",
                        source,
                        text,
                        mark_from=start,
                    )
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _error_at(
                        event.start_mark,
                        f"nested more than {MAX_DEPTH} levels deep; no Kubernetes object is"
                        " this deep, is the file corrupted?",
                        source,
                        text,
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise yaml_error(exc, source, text) from None
    finally:
        loader.dispose()


def _index(mark: Any) -> int:
    return int(mark.index) if mark is not None else 0


def _error_at(
    mark: Any, message: str, source: str, text: str, *, mark_from: int | None = None
) -> ManifestError:
    if mark_from is not None:
        line, column = position(text, mark_from)
        return ManifestError(message, source=source, line=line, column=column)
    return ManifestError(message, source=source, line=mark.line + 1, column=mark.column + 1)


def _check_expansion(root: Node, source: str) -> None:
    """Refuse recursive aliases, and aliases that expand past the depth or size limits."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) once finished
    active: set[int] = set()

    def visit(node: Node, level: int) -> tuple[int, int]:
        key = id(node)
        done = sizes.get(key)
        if done is not None:
            return done
        if key in active:
            raise ManifestError(
                "an alias refers to a node that contains it (recursive alias); remove it",
                source=source,
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
            )
        if level > MAX_DEPTH:
            raise ManifestError(
                f"aliases expand to more than {MAX_DEPTH} levels of nesting; inline the values",
                source=source,
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
            )
        active.add(key)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        values, deepest = 1, 0
        for child in children:
            child_values, child_depth = visit(child, level + 1)
            values += child_values
            deepest = max(deepest, child_depth)
            if values > MAX_VALUES:
                raise ManifestError(
                    f"aliases expand this document to more than {MAX_VALUES:,} values (an"
                    " alias bomb?); inline the values or remove the aliases",
                    source=source,
                    line=node.start_mark.line + 1,
                    column=node.start_mark.column + 1,
                )
        active.discard(key)
        result = (values, deepest + (1 if children else 0))
        sizes[key] = result
        return result

    visit(root, 0)


def parse_documents(text: str, source: str) -> list[Document]:
    """The non-empty documents of ``text``, ``kind: List`` wrappers unwrapped.

    Raises:
        ManifestError: the text is not YAML that a Kubernetes client would accept (located).
    """
    check_characters(text, source)
    _check_structure(text, source)
    documents: list[Document] = []
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            _check_expansion(node, source)
            body = loader.construct_document(node)
            if body is not None:
                doc = Document(source, index, node.start_mark.line + 1, body)
                documents.extend(_unwrap(doc, node))
            index += 1
    except yaml.YAMLError as exc:
        raise yaml_error(exc, source, text) from None
    except RecursionError:  # pragma: no cover - the checks above bound the depth
        raise ManifestError("nested too deeply to read", source=source) from None
    finally:
        loader.dispose()
    return documents


def _unwrap(doc: Document, node: Node) -> list[Document]:
    body = doc.body
    kind = doc.kind
    items = body.get("items") if isinstance(body, dict) else None
    if not (kind and kind.endswith("List") and isinstance(items, list)):
        return [doc]
    item_nodes = _value_node(node, "items")
    out = []
    for i, item in enumerate(items):
        line = doc.line
        if isinstance(item_nodes, SequenceNode) and i < len(item_nodes.value):
            line = item_nodes.value[i].start_mark.line + 1
        out.append(Document(doc.source, doc.index, line, item, item=i))
    return out


def _value_node(node: Node, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None


def load_file(path: str | Path) -> list[Document]:
    """The non-empty YAML documents of one file (``-``: standard input), in order.

    Raises:
        ManifestError: the file cannot be read or is not valid YAML (with line and column).
    """
    source, text = read_text(path)
    return parse_documents(text, source)


def yaml_error(exc: yaml.YAMLError, source: str, text: str) -> ManifestError:
    """A located :class:`ManifestError` for a PyYAML error, with a hint for the usual causes
    (unrendered templates, tabs)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if mark is None:
        return ManifestError(message, source=source)
    lines = text.splitlines()
    near = lines[max(mark.line - 1, 0) : mark.line + 1]
    if any("{{" in line or "{%" in line for line in near):
        message += "; " + TEMPLATE_HINT
    elif "\t" in "".join(near):
        message += "; YAML does not allow tabs for indentation, use spaces"
    return ManifestError(message, source=source, line=mark.line + 1, column=mark.column + 1)


TEMPLATE_HINT = "this looks like an unrendered template: render it first (helm template)"


def template_paths(body: Any, prefix: str = "") -> Iterator[str]:
    """Field paths (``metadata.name``) of string values that look like ``{{ template }}``
    text, which a chart must render before the manifest means anything."""
    if isinstance(body, str):
        if "{{" in body and "}}" in body:
            yield prefix
    elif isinstance(body, dict):
        for key, value in body.items():
            yield from template_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(body, list):
        for i, value in enumerate(body):
            yield from template_paths(value, f"{prefix}[{i}]")
