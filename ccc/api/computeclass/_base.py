"""Base model and the cross-field rule registry shared by every ComputeClass model.

Why a registry: each cross-field rule (for example "machineType excludes machineFamily") is
declared once, as data, next to the model it constrains. The same declaration feeds two
consumers so they cannot drift apart:

* the pydantic ``model_validator`` below runs the rule's Python predicate;
* :mod:`ccc.api.crd` copies the rule's CEL expression into the CRD's
  ``x-kubernetes-validations`` (through ``__get_pydantic_json_schema__``).

Tests evaluate both sides on the same manifests and check they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic.annotated_handlers import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

CROSS_FIELD_ERROR = "cross_field_rule"
"""pydantic error ``type`` of a broken cross-field rule; its ``ctx["violations"]`` holds
``(field_path, message, rule_id)`` triples (``field_path`` relative, e.g. ``.machineType``)."""

Reason = Literal[
    "FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"
]


def empty_list() -> list[Any]:
    """``default_factory`` of list fields. A Python function rather than ``list``: pydantic
    reads each default factory's signature, and a builtin's is parsed from its text with the
    tokenizer (a few milliseconds of every CLI start)."""
    return []


class ApiModel(BaseModel):
    """Base of all ComputeClass API models.

    Python attributes are snake_case; the wire form is camelCase (``alias_generator``), both are
    accepted on input and the aliases are used on output. Unknown fields are errors, and values
    are strict (``spot: "yes"`` is rejected, as the API server would), except timestamps, which
    may be given as RFC 3339 strings.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        # Build validators on first use, once for the whole tree: a CLI run validates one
        # kind of object, and building every model's validator at import doubled start-up.
        defer_build=True,
    )

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> Self:
        rules = _RULES.get(type(self), ())
        broken = [rule for rule in rules if not rule.check(self)]
        if broken:
            violations = tuple(rule.violation(self) for rule in broken)
            raise PydanticCustomError(
                CROSS_FIELD_ERROR,
                "{detail}",
                {
                    "detail": "; ".join(message for _, message, _ in violations),
                    "violations": violations,
                },
            )
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(core_schema)
        rules = _RULES.get(cls, ())
        if rules:
            target = handler.resolve_ref_schema(json_schema)
            target["x-kubernetes-validations"] = [rule.to_crd() for rule in rules]
        return json_schema


M = TypeVar("M", bound=ApiModel)


@dataclass(frozen=True, slots=True)
class CrossFieldRule(Generic[M]):
    """One rule across fields of one model, in both languages.

    Attributes:
        id: stable kebab-case name, used in tests and docs.
        cel: Kubernetes CEL expression, evaluated with ``self`` bound to the object of the
            model this rule is registered on; true means valid.
        message: what is wrong and how to fix it (shown by ``ccc validate`` and the API server).
        check: Python predicate with the same meaning as ``cel``; true means valid.
        field_path: field the problem is reported on, relative to the object (``.machineType``);
            empty for the object itself. Becomes the CRD rule's ``fieldPath``.
        reason: Kubernetes reason reported by the API server.
        offenders: for rules across ``spec.priorities``, the indices of the rules that break
            it, so the message can name them (``spec.priorities[2]: ...``, or "(rules 1 and
            3)"); the API server's CEL message cannot, ``ccc validate`` does.
    """

    id: str
    cel: str
    message: str
    check: Callable[[M], bool]
    field_path: str = ""
    reason: Reason = "FieldValueInvalid"
    offenders: Callable[[M], Sequence[int]] | None = None

    def violation(self, obj: M) -> tuple[str, str, str]:
        """``(field_path, message, id)`` of this rule broken by ``obj``, naming the rule
        indices when :attr:`offenders` is set."""
        indices = list(self.offenders(obj)) if self.offenders is not None else []
        if not indices:
            return self.field_path, self.message, self.id
        if len(indices) == 1 and self.field_path == ".priorities":
            return f".priorities[{indices[0]}]", self.message, self.id
        return self.field_path, f"{self.message} ({rule_list(indices)})", self.id

    def to_crd(self) -> dict[str, str]:
        """The ``x-kubernetes-validations`` entry for this rule."""
        entry = {"rule": self.cel, "message": self.message}
        if self.field_path and not self.field_path.startswith(".metadata"):
            # The API server only accepts fieldPaths into the structural schema; metadata is
            # opaque there, so such rules report on the object itself.
            entry["fieldPath"] = self.field_path
        if self.reason != "FieldValueInvalid":
            entry["reason"] = self.reason
        return entry


def rule_list(indices: Sequence[int]) -> str:
    """``rule 2`` / ``rules 0 and 3`` / ``rules 1, 4, 5 and 7`` (at most 10 listed)."""
    shown = [str(i) for i in indices[:10]]
    if len(indices) > 10:
        shown[-1] = f"{shown[-1]} and {len(indices) - 10} more"
        return "rules " + ", ".join(shown)
    if len(shown) == 1:
        return f"rule {shown[0]}"
    return f"rules {', '.join(shown[:-1])} and {shown[-1]}"


_RULES: dict[type[ApiModel], tuple[CrossFieldRule[Any], ...]] = {}


def register_rules(model: type[M], rules: Sequence[CrossFieldRule[M]]) -> None:
    """Attach ``rules`` to ``model``: checked on validation and emitted into the CRD."""
    _RULES[model] = (*_RULES.get(model, ()), *rules)


def cross_field_rules() -> Mapping[type[ApiModel], tuple[CrossFieldRule[Any], ...]]:
    """Every registered rule by model (read-only view for docs and tests)."""
    return dict(_RULES)


def describe(text: str) -> str:
    """Normalise a multi-line description literal into one paragraph."""
    return " ".join(text.split())


class ListType:
    """``json_schema_extra`` values for Kubernetes list semantics."""

    ATOMIC: ClassVar[dict[str, Any]] = {"x-kubernetes-list-type": "atomic"}
    SET: ClassVar[dict[str, Any]] = {"x-kubernetes-list-type": "set"}

    @staticmethod
    def map(*keys: str) -> dict[str, Any]:
        return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}
