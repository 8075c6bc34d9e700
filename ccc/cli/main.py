"""Entry point of the ``ccc`` command. Each sub-command lives in its own module and registers
itself on the Typer app through a ``register(app)`` function."""

from __future__ import annotations

import sys

import typer

from ccc import __version__
from ccc.cli import catalog_cmd, crd_cmd, plan_cmd, run_cmd, simulate_cmd, validate_cmd

app = typer.Typer(
    name="ccc",
    help="Capacity-obtainability controller for accelerator workloads (GKE ComputeClass API).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ccc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """ccc walks a ComputeClass's priority list to obtain accelerator capacity."""


for _module in (validate_cmd, crd_cmd, catalog_cmd, plan_cmd, run_cmd, simulate_cmd):
    _module.register(app)


def main() -> None:
    """Run the CLI; unexpected errors become one clear line and exit code 2, not a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
