"""``ccc crd``: print the ComputeClass CustomResourceDefinition generated from the models."""

from __future__ import annotations

import json
from enum import StrEnum

import typer
import yaml

from ccc.api.crd import compute_class_crd


class Output(StrEnum):
    YAML = "yaml"
    JSON = "json"


def render_crd(output: Output = Output.YAML) -> str:
    """The CRD as YAML (a single document) or indented JSON."""
    crd = compute_class_crd()
    if output is Output.JSON:
        return json.dumps(crd, indent=2) + "\n"
    # libyaml's emitter when available: the same text, several times faster for a CRD this size.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(crd, Dumper=dumper, sort_keys=False, width=100, allow_unicode=True)


def register(app: typer.Typer) -> None:
    """Add ``ccc crd`` to ``app``."""

    @app.command("crd")
    def crd(
        output: Output = typer.Option(
            Output.YAML, "--output", "-o", help="Output format.", case_sensitive=False
        ),
    ) -> None:
        """Print the ComputeClass CRD (kubectl apply -f <(ccc crd))."""
        typer.echo(render_crd(output), nl=False)
