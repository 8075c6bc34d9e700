"""The ComputeClass and ServingGroup CustomResourceDefinitions, generated from the pydantic
models.

Nothing here is maintained by hand twice: the OpenAPI v3 schema is ``model_json_schema()``
rewritten into Kubernetes' *structural* form, and the ``x-kubernetes-validations`` CEL rules
come from the same :class:`~ccc.api.computeclass.CrossFieldRule` declarations that the pydantic
validators run. ``ccc crd`` prints the result; the Helm chart and the control-plane tests use
:func:`compute_class_crd` and :func:`serving_group_crd` (:func:`all_crds` for both).

The structural rewrite:

* ``$ref``/``$defs`` are inlined (the CRD format has no references);
* ``anyOf: [X, null]`` (optional fields) becomes ``X``: absent and null mean the same here and
  the API server prunes nulls;
* ``anyOf`` of integer and string becomes ``x-kubernetes-int-or-string``; any other mixed type,
  and free-form maps, become ``x-kubernetes-preserve-unknown-fields``;
* ``title`` and ``additionalProperties: false`` are dropped (unknown fields are pruned by the
  API server and rejected by ``kubectl``'s strict field validation), ``const`` becomes ``enum``;
* JSON Schema's numeric ``exclusiveMinimum: N`` becomes OpenAPI v3.0's ``minimum: N`` plus
  ``exclusiveMinimum: true``;
* ``metadata`` is left to the API server (``type: object``).
"""

from __future__ import annotations

import copy
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from ccc.api import servinggroup as sg
from ccc.api.computeclass import API_VERSION, GROUP, KIND, VERSION, ComputeClass

PLURAL: Final = "computeclasses"
SINGULAR: Final = "computeclass"
SHORT_NAMES: Final = ("cccc", "ccclass")
CATEGORIES: Final = ("ccc",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

_DROPPED_KEYS = frozenset({"title"})


def compute_class_schema() -> dict[str, Any]:
    """The structural ``openAPIV3Schema`` of the ComputeClass CRD.

    Returns:
        A fresh dict (callers may mutate it).
    """
    return _object_schema(ComputeClass, API_VERSION, KIND)


class _JsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema generator, with JSON's own scalars as defaults written as they
    are: pydantic builds a serializer for each default value (about 350 here, mostly
    ``None``), a third of ``ccc crd``'s schema time, to get the same value back."""

    def encode_default(self, dft: Any) -> Any:
        if dft is None or type(dft) in (bool, int, str):
            return dft
        return super().encode_default(dft)


def _object_schema(model: type[BaseModel], api_version: str, kind: str) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_JsonSchema)
    defs: dict[str, Any] = raw.pop("$defs", {})
    schema = _structural(raw, defs)
    properties = schema["properties"]
    properties["apiVersion"] = {
        "type": "string",
        "description": "APIVersion of the object: " + api_version + ".",
    }
    properties["kind"] = {"type": "string", "description": "Kind of the object: " + kind + "."}
    properties["metadata"] = {"type": "object"}
    schema["required"] = ["spec"]
    return schema


def compute_class_crd() -> dict[str, Any]:
    """The ComputeClass ``apiextensions.k8s.io/v1`` CustomResourceDefinition as a dict.

    Group ``ccc.dev``, version ``v1alpha1`` (served and stored), cluster-scoped, with the status
    subresource, printer columns, short names ``cccc``/``ccclass`` and category ``ccc``.
    """
    return _crd(
        kind=KIND,
        plural=PLURAL,
        singular=SINGULAR,
        short_names=SHORT_NAMES,
        scope="Cluster",
        subresources={"status": {}},
        columns=_printer_columns(),
        schema=compute_class_schema(),
    )


SG_PLURAL: Final = "servinggroups"
SG_SINGULAR: Final = "servinggroup"
SG_SHORT_NAMES: Final = ("sg", "sgs")
SG_CRD_NAME: Final = f"{SG_PLURAL}.{GROUP}"


def serving_group_schema() -> dict[str, Any]:
    """The structural ``openAPIV3Schema`` of the ServingGroup CRD (a fresh dict)."""
    return _object_schema(sg.ServingGroup, sg.API_VERSION, sg.KIND)


def serving_group_crd() -> dict[str, Any]:
    """The ServingGroup ``apiextensions.k8s.io/v1`` CustomResourceDefinition as a dict.

    Group ``ccc.dev``, version ``v1alpha1``, namespaced, short names ``sg``/``sgs``, category
    ``ccc``, with the status subresource and the scale subresource that ``kubectl scale`` and a
    HorizontalPodAutoscaler use: replicas are ``spec.capacity`` (an integer), status replicas
    ``status.capacity`` (Ready capacity) and the pod selector ``status.selector`` (a string).
    """
    return _crd(
        kind=sg.KIND,
        plural=SG_PLURAL,
        singular=SG_SINGULAR,
        short_names=SG_SHORT_NAMES,
        scope="Namespaced",
        subresources={
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.capacity",
                "statusReplicasPath": ".status.capacity",
                "labelSelectorPath": ".status.selector",
            },
        },
        columns=_serving_group_columns(),
        schema=serving_group_schema(),
    )


def all_crds() -> list[dict[str, Any]]:
    """Every CRD ccc serves, in install order: ComputeClass, then ServingGroup."""
    return [compute_class_crd(), serving_group_crd()]


def _crd(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: tuple[str, ...],
    scope: str,
    subresources: dict[str, Any],
    columns: list[dict[str, Any]],
    schema: dict[str, Any],
) -> dict[str, Any]:
    """One ``ccc.dev/v1alpha1`` CRD (served and stored), in category ``ccc``."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "ccc", "app.kubernetes.io/part-of": "ccc"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": kind + "List",
                "plural": plural,
                "singular": singular,
                "shortNames": list(short_names),
                "categories": list(CATEGORIES),
            },
            "scope": scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": subresources,
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _serving_group_columns() -> list[dict[str, Any]]:
    return [
        {
            "name": "Capacity",
            "type": "integer",
            "jsonPath": ".spec.capacity",
            "description": "Serving capacity to keep Ready.",
        },
        {
            "name": "Ready",
            "type": "number",
            "jsonPath": ".status.readyCapacity",
            "description": "Capacity of the Ready replicas.",
        },
        {
            "name": "Unit",
            "type": "string",
            "jsonPath": ".spec.capacityUnit",
            "description": "Unit of the capacity.",
        },
        {
            "name": "CapacityMet",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="CapacityMet")].status',
            "description": "Status of the CapacityMet condition.",
        },
        {
            "name": "Age",
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
        },
        {
            "name": "Preference",
            "type": "string",
            "jsonPath": ".spec.preference",
            "priority": 1,
        },
    ]


def _printer_columns() -> list[dict[str, Any]]:
    return [
        {
            "name": "WhenUnsatisfiable",
            "type": "string",
            "jsonPath": ".spec.whenUnsatisfiable",
            "description": "What happens when no rule can be satisfied.",
        },
        {
            "name": "AutoCreate",
            "type": "boolean",
            "jsonPath": ".spec.nodePoolAutoCreation.enabled",
            "description": "Whether node pools may be created for the class.",
        },
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
            "description": "Status of the Ready condition.",
        },
        {
            "name": "Age",
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
        },
        {
            "name": "Description",
            "type": "string",
            "jsonPath": ".spec.description",
            "priority": 1,
        },
    ]


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Rewrite one JSON-schema node (and its children) into Kubernetes' structural form."""
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is not None:
        target = _structural(copy.deepcopy(defs[ref.rsplit("/", 1)[-1]]), defs)
        return _merge(target, node, defs)
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        variants = [v for v in any_of if v.get("type") != "null"]
        if len(variants) == 1:
            return _merge(_structural(variants[0], defs), node, defs)
        types = {v.get("type") for v in variants}
        base: dict[str, Any]
        if types == {"integer", "string"}:
            base = {"x-kubernetes-int-or-string": True}
        else:
            base = {"x-kubernetes-preserve-unknown-fields": True}
        return _merge(base, node, defs)
    return _clean(node, defs)


def _merge(base: dict[str, Any], outer: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the outer node's own keywords (description, default, ...) on top."""
    merged = dict(base)
    merged.update(_clean(outer, defs))
    return merged


def _clean(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "default" and value is None:
            continue
        if key == "description":
            # Docstrings use reStructuredText literals; kubectl explain shows plain text.
            out["description"] = " ".join(str(value).replace("``", "").split())
        elif key == "const":
            out["enum"] = [value]
        elif key == "exclusiveMinimum" and not isinstance(value, bool):
            out["minimum"] = value
            out["exclusiveMinimum"] = True
        elif key == "properties":
            out["properties"] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = _structural(value, defs)
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                sub = _structural(value, defs)
                if sub.get("x-kubernetes-preserve-unknown-fields") and "type" not in sub:
                    # A map of mixed-type values: keep it whole rather than describe each value.
                    out["x-kubernetes-preserve-unknown-fields"] = True
                else:
                    out["additionalProperties"] = sub
            # additionalProperties: false (extra="forbid") is implied by a structural schema.
        else:
            out[key] = value
    return out
