"""Render the field and rule tables of the API references from the models.

docs/api-reference.md (ComputeClass) and docs/servinggroup-reference.md (ServingGroup). The
tables come from the same sources as the CRDs (``compute_class_schema()``,
``serving_group_schema()`` and the cross-field rule registry), so a reference cannot drift from
what ``ccc validate`` and the API server enforce. Prose around the tables (introduction, status
example, differences from GKE) is kept by hand outside the generated block.

Regenerate: ``.venv/bin/python -m ccc.api.reference docs/api-reference.md`` (and
``--kind ServingGroup docs/servinggroup-reference.md``).
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ccc.api.computeclass import ComputeClass, CrossFieldRule, cross_field_rules
from ccc.api.crd import compute_class_schema, serving_group_schema
from ccc.api.servinggroup import ServingGroup

END = "<!-- END GENERATED -->"


@dataclass(frozen=True, slots=True)
class Reference:
    """One generated reference: the root model, its CRD schema, and its document."""

    root: type[BaseModel]
    schema: Callable[[], dict[str, Any]]
    doc: str
    command: str

    @property
    def begin(self) -> str:
        return f"<!-- BEGIN GENERATED: python -m ccc.api.reference {self.command} -->"


COMPUTE_CLASS = Reference(
    ComputeClass, compute_class_schema, "docs/api-reference.md", "docs/api-reference.md"
)
SERVING_GROUP = Reference(
    ServingGroup,
    serving_group_schema,
    "docs/servinggroup-reference.md",
    "--kind ServingGroup docs/servinggroup-reference.md",
)
REFERENCES = {"ComputeClass": COMPUTE_CLASS, "ServingGroup": SERVING_GROUP}
BEGIN = COMPUTE_CLASS.begin


def _type(prop: Mapping[str, Any]) -> str:
    t = prop.get("type", "")
    if t == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if (
        t == "object"
        and "properties" not in prop
        and isinstance(prop.get("additionalProperties"), Mapping)
    ):
        return f"map of {_type(prop['additionalProperties'])}"
    if t == "object" and prop.get("x-kubernetes-preserve-unknown-fields"):
        return "map (free-form values)"
    if prop.get("x-kubernetes-int-or-string"):
        return "integer or string"
    return str(t or "any")


def _constraints(prop: Mapping[str, Any], required: bool) -> str:
    out: list[str] = ["**required**"] if required else []
    items = prop.get("items") if isinstance(prop.get("items"), Mapping) else None
    if items is not None and "enum" in items:
        out.append("items one of " + ", ".join(f"`{v}`" for v in items["enum"]))
    if prop.get("exclusiveMinimum") is True and "minimum" in prop:
        out.append(f"> {prop['minimum']}")
        prop = {k: v for k, v in prop.items() if k != "minimum"}
    for key, text in (
        ("minimum", "≥ {}"),
        ("maximum", "≤ {}"),
        ("minLength", "min length {}"),
        ("maxLength", "max length {}"),
        ("minItems", "min items {}"),
        ("maxItems", "max items {}"),
        ("maxProperties", "max entries {}"),
    ):
        if key in prop:
            out.append(text.format(prop[key]))
    if "enum" in prop:
        out.append("one of " + ", ".join(f"`{v}`" for v in prop["enum"]))
    if "pattern" in prop:
        out.append(f"pattern `{prop['pattern']}`")
    if prop.get("x-kubernetes-list-type") == "set":
        out.append("no duplicates")
    return "; ".join(out)


def _default(prop: Mapping[str, Any]) -> str:
    if "default" not in prop:
        return ""
    value = prop["default"]
    return f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _objects(path: str, schema: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every object schema with properties, depth first, with its field path."""
    if schema.get("type") == "array":
        yield from _objects(f"{path}[]", schema.get("items", {}))
        return
    props = schema.get("properties")
    if not props:
        return
    yield path, schema
    for name, prop in props.items():
        yield from _objects(f"{path}.{name}" if path else name, prop)


def render_fields(ref: Reference = COMPUTE_CLASS) -> str:
    lines: list[str] = ["## Fields", ""]
    for path, obj in _objects("", ref.schema()):
        lines += [f"### `{path or '(root)'}`", ""]
        if obj.get("description"):
            lines += [_cell(obj["description"]), ""]
        lines += [
            "| field | type | default | constraints | description |",
            "|---|---|---|---|---|",
        ]
        required = set(obj.get("required", []))
        for name, prop in obj["properties"].items():
            lines.append(
                f"| `{name}` | {_type(prop)} | {_default(prop)} | "
                f"{_constraints(prop, name in required)} | {_cell(prop.get('description', ''))} |"
            )
        lines.append("")
    return "\n".join(lines)


def _model_paths(root: type[BaseModel] = ComputeClass) -> dict[type[BaseModel], list[str]]:
    """Where each model appears in an object of ``root`` (camelCase paths; lists as ``[]``)."""
    found: dict[type[BaseModel], list[str]] = {root: ["the object"]}

    def walk(model: type[BaseModel], path: str) -> None:
        for name, field in model.model_fields.items():
            wire = field.alias or name
            sub_path = f"{path}.{wire}" if path else wire
            for model_type, suffix in _models_in(field.annotation):
                if model_type in found and len(found[model_type]) >= 3:
                    continue
                found.setdefault(model_type, []).append(sub_path + suffix)
                walk(model_type, sub_path + suffix)

    walk(root, "")
    return found


def rules_under(root: type[BaseModel]) -> dict[type[BaseModel], tuple[CrossFieldRule[Any], ...]]:
    """The registered cross-field rules of ``root`` and of every model nested in it."""
    models = _model_paths(root)
    return {model: rules for model, rules in cross_field_rules().items() if model in models}


def _models_in(annotation: Any, suffix: str = "") -> Iterator[tuple[type[BaseModel], str]]:
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, suffix
        return
    for arg in typing.get_args(annotation):
        inner = "[]" if origin in (list, tuple) else ""
        yield from _models_in(arg, suffix + inner)


def render_rules(ref: Reference = COMPUTE_CLASS) -> str:
    paths = _model_paths(ref.root)
    lines = [
        "## Cross-field rules",
        "",
        "Each rule is declared once next to its model, with a Python predicate (run by `ccc "
        "validate`,",
        "`ccc plan` and the controller) and the equivalent CEL expression (in the CRD's",
        "`x-kubernetes-validations`, run by the API server). The message is what users see from "
        "either.",
        "",
    ]
    for model, rules in rules_under(ref.root).items():
        where = ", ".join(p if p == "the object" else f"`{p}`" for p in paths.get(model, [])[:2])
        lines += [
            f"### {model.__name__} ({where})",
            "",
            "| rule | reported on | message |",
            "|---|---|---|",
        ]
        for rule in rules:
            lines.append(f"| `{rule.id}` | `{rule.field_path or '.'}` | {_cell(rule.message)} |")
        lines.append("")
    return "\n".join(lines)


def render(ref: Reference = COMPUTE_CLASS) -> str:
    """The generated block, markers included."""
    return "\n".join([ref.begin, "", render_fields(ref), render_rules(ref), END])


def update(doc: str, ref: Reference = COMPUTE_CLASS) -> str:
    """``doc`` with its generated block replaced by :func:`render`'s output."""
    head, sep, rest = doc.partition(ref.begin)
    if not sep:
        raise ValueError(f"marker {ref.begin!r} not found")
    _, sep2, tail = rest.partition(END)
    if not sep2:
        raise ValueError(f"marker {END!r} not found")
    return head + render(ref) + tail


def main(argv: list[str]) -> int:
    kind = "ComputeClass"
    if len(argv) == 3 and argv[0] == "--kind":
        kind, argv = argv[1], argv[2:]
    if len(argv) != 1 or kind not in REFERENCES:
        print(
            "usage: python -m ccc.api.reference [--kind ComputeClass|ServingGroup] DOC.md",
            file=sys.stderr,
        )
        return 2
    path = Path(argv[0])
    path.write_text(update(path.read_text(encoding="utf-8"), REFERENCES[kind]), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
