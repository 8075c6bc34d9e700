"""Entry point of the ``ccc`` command. Each sub-command lives in its own module and registers
itself on the Typer app through a ``register(app)`` function.

Start-up matters (``ccc validate`` runs in editors and CI loops): sub-command modules import
what only their command body needs (the Kubernetes client, Google Cloud SDKs, aiohttp,
Prometheus) inside that body, so ``ccc validate``/``plan``/``catalog``/``crd`` never load them
(benchmarks/cli_startup.py measures it).
"""

from __future__ import annotations

import os
import sys

import typer

from ccc import __version__
from ccc.cli import catalog_cmd, crd_cmd, plan_cmd, run_cmd, validate_cmd

DEBUG_ENV = "CCC_DEBUG"
"""Set to 1 to get the Python traceback of an unexpected error instead of one line."""

EXIT_INTERNAL_ERROR = 2

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


for _module in (validate_cmd, crd_cmd, catalog_cmd, plan_cmd, run_cmd):
    _module.register(app)


def main() -> None:
    """Run the CLI; unexpected errors become one clear line and exit code 2, not a traceback
    (``CCC_DEBUG=1`` shows the traceback)."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # `ccc plan ... | head`: the reader left; say nothing more and exit as SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        sys.stderr.write(internal_error_line(exc) + "\n")
        sys.exit(EXIT_INTERNAL_ERROR)


def internal_error_line(exc: BaseException) -> str:
    """One line for an error no command anticipated."""
    detail = " ".join(str(exc).split())
    if len(detail) > 300:
        detail = detail[:297] + "..."
    what = type(exc).__name__ + (f": {detail}" if detail else "")
    return (
        f"ccc: internal error ({what}); this is a bug in ccc, please report it with the input"
        f" that caused it ({DEBUG_ENV}=1 shows the traceback)"
    )
