"""``ccc crd``: print the CustomResourceDefinitions generated from the models (ComputeClass and
ServingGroup; ``--kind`` picks one)."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import typer
import yaml

from ccc.api.crd import compute_class_crd, serving_group_crd


class Output(StrEnum):
    YAML = "yaml"
    JSON = "json"


class Kind(StrEnum):
    COMPUTE_CLASS = "ComputeClass"
    SERVING_GROUP = "ServingGroup"


_CRDS: dict[Kind, Callable[[], dict[str, Any]]] = {
    Kind.COMPUTE_CLASS: compute_class_crd,
    Kind.SERVING_GROUP: serving_group_crd,
}


def render_crd(output: Output = Output.YAML, kind: Kind | None = None) -> str:
    """The CRD of ``kind``, or every CRD (in install order) when ``kind`` is None.

    YAML is one document per CRD; JSON is the CRD object, or a ``v1`` ``List`` of all of them
    (``kubectl apply -f`` takes both).
    """
    crds = [make() for k, make in _CRDS.items() if kind is None or k is kind]
    if output is Output.JSON:
        obj = crds[0] if len(crds) == 1 else {"apiVersion": "v1", "kind": "List", "items": crds}
        return json.dumps(obj, indent=2) + "\n"
    # libyaml's emitter when available: the same text, several times faster for a CRD this size.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return "---\n".join(
        yaml.dump(crd, Dumper=dumper, sort_keys=False, width=100, allow_unicode=True)
        for crd in crds
    )


def register(app: typer.Typer) -> None:
    """Add ``ccc crd`` to ``app``."""

    @app.command("crd")
    def crd(
        output: Output = typer.Option(
            Output.YAML, "--output", "-o", help="Output format.", case_sensitive=False
        ),
        kind: Kind | None = typer.Option(
            None, "--kind", "-k", help="Print only this CRD.", case_sensitive=False
        ),
    ) -> None:
        """Print ccc's CRDs: ComputeClass and ServingGroup (kubectl apply -f <(ccc crd))."""
        typer.echo(render_crd(output, kind), nl=False)
