"""``ccc crd``: print the CustomResourceDefinitions generated from the models (ComputeClass and
ServingGroup; ``--kind`` picks one).

The CRDs come from :mod:`ccc.api.crd_data`: the generated CRDs stored with the package (a test
keeps them equal to the models'), so printing them loads no model."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from ccc.api.crd_data import stored_crds

if TYPE_CHECKING:
    import typer


class Output(StrEnum):
    YAML = "yaml"
    JSON = "json"


class Kind(StrEnum):
    COMPUTE_CLASS = "ComputeClass"
    SERVING_GROUP = "ServingGroup"


def render_crd(output: Output = Output.YAML, kind: Kind | None = None) -> str:
    """The CRD of ``kind``, or every CRD (in install order) when ``kind`` is None.

    YAML is one document per CRD; JSON is the CRD object, or a ``v1`` ``List`` of all of them
    (``kubectl apply -f`` takes both).
    """
    crds = [c for c in stored_crds() if kind is None or c["spec"]["names"]["kind"] == kind]
    if output is Output.JSON:
        obj = crds[0] if len(crds) == 1 else {"apiVersion": "v1", "kind": "List", "items": crds}
        return json.dumps(obj, indent=2) + "\n"
    import yaml

    # libyaml's emitter when available: the same text, several times faster for a CRD this size.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return "---\n".join(
        yaml.dump(crd, Dumper=dumper, sort_keys=False, width=100, allow_unicode=True)
        for crd in crds
    )


@dataclass(frozen=True, slots=True)
class CrdOptions:
    """A ``ccc crd`` command line."""

    output: Output = Output.YAML
    kind: Kind | None = None


def run(options: CrdOptions) -> int:
    """Print the CRDs; the exit status. Both ways into ``ccc crd`` run this."""
    sys.stdout.write(render_crd(options.output, options.kind))
    sys.stdout.flush()
    return 0


def parse_plain(args: Sequence[str]) -> CrdOptions | None:
    """``ccc crd ARGS`` read without Typer, or ``None`` for the Typer command to parse (help,
    usage errors, and values in another case: Typer's matching of those decides)."""
    from ccc.cli.plain_args import PlainParser, parse

    p = PlainParser()
    p.add_argument("--output", "-o", choices=[o.value for o in Output], default=Output.YAML.value)
    p.add_argument("--kind", "-k", choices=[k.value for k in Kind])
    parsed = parse(p, args)
    if parsed is None:
        return None
    return CrdOptions(Output(parsed.output), None if parsed.kind is None else Kind(parsed.kind))


def register(app: typer.Typer) -> None:
    """Add ``ccc crd`` to ``app``."""
    import typer

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
        raise typer.Exit(run(CrdOptions(output, kind)))
