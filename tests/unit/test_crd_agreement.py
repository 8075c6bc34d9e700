"""The pydantic models and the generated CRD reach the same verdict on every manifest we know.

For the CRD side this test plays the API server's part in Python: it validates each document
against the CRD's OpenAPI schema with ``jsonschema`` (unknown fields rejected, as kubectl's strict
field validation does), applies the schema's defaults, then evaluates every
``x-kubernetes-validations`` CEL rule with ``celpy`` (cel-python) at the node it is declared on.
Nothing is faked: both sides run on the same files. The real kube-apiserver check lives in
``tests/envtest/test_control_plane_crd.py``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from ccc.api.computeclass import CROSS_FIELD_ERROR, ComputeClass, cross_field_rules
from ccc.api.crd import compute_class_schema
from ccc.api.manifest import format_path

REPO = Path(__file__).parents[2]
SHARED_EXAMPLES = REPO.parent / "shared" / "examples" / "computeclasses"
MANIFESTS = REPO / "tests" / "manifests"


@dataclass(frozen=True)
class Case:
    """One ComputeClass document and what its file header promises."""

    id: str
    body: dict[str, Any]
    expect_valid: bool
    expect_path: str | None
    expect_rule: str | None


def _header(text: str, key: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(f"# {key}:"):
            return line.split(":", 1)[1].strip()
    return None


def _rfc3339(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))


def _cases() -> Iterator[Case]:
    files = sorted(SHARED_EXAMPLES.glob("*.yaml"))
    files += sorted((MANIFESTS / "valid").rglob("*.y*ml"))
    files += sorted((MANIFESTS / "invalid").glob("*.yaml"))
    for file in files:
        text = file.read_text()
        if _header(text, "crd"):
            continue  # about apiVersion/metadata, which the API server checks itself
        expect = _header(text, "expect")
        in_valid_dir = "valid" in file.relative_to(file.parents[2]).parts
        expect_valid = in_valid_dir or (expect or "").startswith("valid")
        # As kubectl does: YAML to JSON, so timestamps become RFC 3339 strings.
        docs = [json.loads(json.dumps(d, default=_rfc3339)) for d in yaml.safe_load_all(text) if d]
        for index, body in enumerate(docs):
            body["apiVersion"] = "ccc.dev/v1alpha1"
            yield Case(
                f"{file.parent.name}/{file.name}#{index}",
                body,
                expect_valid,
                _header(text, "expect-error"),
                _header(text, "rule"),
            )


CASES = list(_cases())


# --- the API server's part, in Python -------------------------------------------------------


def _json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A Draft 2020-12 schema that behaves like the API server with strict field validation."""
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if "properties" in node:
        out["properties"] = {k: _json_schema(v) for k, v in node["properties"].items()}
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _json_schema(node["additionalProperties"])
    if "items" in node:
        out["items"] = _json_schema(node["items"])
    return out


def _apply_defaults(schema: dict[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _apply_defaults(sub, value[name])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            _apply_defaults(schema["items"], item)


_CEL = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}


def _cel_holds(rule: str, value: Any) -> bool:
    program = _PROGRAMS.get(rule)
    if program is None:
        program = _PROGRAMS[rule] = _CEL.program(_CEL.compile(rule))
    result = program.evaluate({"self": celpy.json_to_cel(value)})
    return result is True or (isinstance(result, celpy.celtypes.BoolType) and bool(result))


def _escaped(name: str) -> str:
    """A property name as Kubernetes CEL sees it (``net.ipv4.x`` -> ``net__dot__ipv4__dot__x``)."""
    name = name.replace("__", "__underscores__")
    for char, word in ((".", "dot"), ("-", "dash"), ("/", "slash")):
        name = name.replace(char, f"__{word}__")
    return name


def _cel_value(schema: dict[str, Any], value: Any) -> Any:
    """``value`` with the property names of schema objects escaped as the API server does (map
    keys stay as they are)."""
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        return {_escaped(k): _cel_value(props[k], v) if k in props else v for k, v in value.items()}
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        return {k: _cel_value(schema["additionalProperties"], v) for k, v in value.items()}
    if isinstance(value, list) and "items" in schema:
        return [_cel_value(schema["items"], item) for item in value]
    return value


def _cel_failures(schema: dict[str, Any], value: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, rule message) of every CEL rule that does not hold, depth first."""
    rules = schema.get("x-kubernetes-validations", [])
    cel_value = _cel_value(schema, value) if rules else value
    failures = [
        (path + rule.get("fieldPath", ""), rule["message"])
        for rule in rules
        if not _cel_holds(rule["rule"], cel_value)
    ]
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                failures += _cel_failures(sub, value[name], f"{path}.{name}" if path else name)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            failures += _cel_failures(schema["items"], item, f"{path}[{i}]")
    return failures


SCHEMA = compute_class_schema()
VALIDATOR = jsonschema.Draft202012Validator(_json_schema(SCHEMA))
RULE_ID_BY_MESSAGE = {r.message: r.id for rules in cross_field_rules().values() for r in rules}


@dataclass
class Verdict:
    schema_errors: list[str]
    failed_rules: set[str]
    paths: list[str]

    @property
    def valid(self) -> bool:
        return not self.schema_errors and not self.failed_rules


def crd_verdict(body: dict[str, Any]) -> Verdict:
    errors = list(VALIDATOR.iter_errors(body))
    if errors:  # like the API server, CEL runs only on a schema-valid object
        paths = [format_path(list(e.absolute_path)) for e in errors]
        return Verdict([e.message for e in errors], set(), paths)
    defaulted = copy.deepcopy(body)
    _apply_defaults(SCHEMA, defaulted)
    failures = _cel_failures(SCHEMA, defaulted)
    return Verdict([], {RULE_ID_BY_MESSAGE[m] for _, m in failures}, [p for p, _ in failures])


def model_verdict(body: dict[str, Any]) -> Verdict:
    try:
        ComputeClass.model_validate(body, by_alias=True, by_name=False)
    except ValidationError as exc:
        rules = {
            v[2]
            for e in exc.errors()
            if e["type"] == CROSS_FIELD_ERROR
            for v in e["ctx"]["violations"]
        }
        others = [e["msg"] for e in exc.errors() if e["type"] != CROSS_FIELD_ERROR]
        return Verdict(others, rules, [format_path(e["loc"]) for e in exc.errors()])
    return Verdict([], set(), [])


# --- the tests --------------------------------------------------------------------------------


def test_every_manifest_source_contributes_cases() -> None:
    sources = {case.id.split("/")[0] for case in CASES}
    assert {"computeclasses", "valid", "invalid"} <= sources
    assert sum(case.expect_rule is not None for case in CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_models_and_crd_agree_on_the_verdict(case: Case) -> None:
    model = model_verdict(case.body)
    crd = crd_verdict(case.body)
    assert model.valid == case.expect_valid, f"models: {model}"
    assert crd.valid == case.expect_valid, f"CRD: {crd}"


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.expect_rule], ids=[c.id for c in CASES if c.expect_rule]
)
def test_the_same_cross_field_rule_fails_on_both_sides(case: Case) -> None:
    model = model_verdict(case.body)
    crd = crd_verdict(case.body)
    assert case.expect_rule in model.failed_rules, f"models: {model}"
    assert case.expect_rule in crd.failed_rules, f"CRD: {crd}"


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.expect_path and not c.expect_rule],
    ids=[c.id for c in CASES if c.expect_path and not c.expect_rule],
)
def test_schema_errors_point_at_the_same_field(case: Case) -> None:
    assert case.expect_path is not None
    crd = crd_verdict(case.body)
    # jsonschema reports unknown fields on their parent object, everything else on the field.
    assert any(case.expect_path.startswith(path) for path in crd.paths), crd.paths


def test_every_cel_rule_compiles_and_every_rule_has_its_own_id_and_message() -> None:
    rules = [r for rs in cross_field_rules().values() for r in rs]
    for rule in rules:
        _CEL.compile(rule.cel)
    assert len({r.id for r in rules}) == len(rules)
    assert len({r.message for r in rules}) == len(rules)
