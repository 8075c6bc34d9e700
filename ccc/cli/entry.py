"""Entry point of the ``ccc`` executable, with the one top-level guard of every command.

``ccc validate PATH...`` (paths only: the whole of that command's interface apart from
``--help``) runs without Typer: it is what editors and CI loops run most, and importing Typer
and building its command (pydantic adapters for each parameter) was about a tenth of its start-up
(benchmarks/cli_startup.py). The output and exit status are the same as the Typer command's,
which calls the same :func:`ccc.cli.validate_cmd.run`. So do ``ccc plan`` and ``ccc crd`` with
plain options (:data:`PLAIN`, :mod:`ccc.cli.plain_args`). Everything else (``--help``, ``--``,
usage errors, other commands) goes to the Typer app in :mod:`ccc.cli.main`. This module imports
neither Typer nor the models before it knows which.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

# ccc installs no pydantic plugins; skip pydantic's scan of every installed package's entry
# points for them (about 40 ms of each start-up). Set before anything imports pydantic.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")

DEBUG_ENV = "CCC_DEBUG"
"""Set to 1 to get the Python traceback of an unexpected error instead of one line."""

EXIT_INTERNAL_ERROR = 2


PLAIN: dict[str, str] = {"plan": "ccc.cli.plan_cmd", "crd": "ccc.cli.crd_cmd"}
"""Commands whose module reads a plain command line without Typer: ``parse_plain(args)``
returns the options, or ``None`` to leave the line to Typer; ``run(options)`` the exit status."""


def main() -> None:
    """Run the CLI (see the module docstring for which path a command takes)."""
    args = sys.argv[1:]
    if plain_validate(args):
        guarded(lambda: _validate(args[1:]))
        return
    if args and args[0] in PLAIN:
        import importlib

        module = importlib.import_module(PLAIN[args[0]])
        options = module.parse_plain(args[1:])
        if options is not None:
            guarded(lambda: _exit(lambda: module.run(options)))
            return
    from ccc.cli.main import app

    guarded(app)


def plain_validate(args: Sequence[str]) -> bool:
    """``validate`` followed by one or more paths and nothing that looks like an option
    (``-`` alone is a path: standard input)."""
    return (
        len(args) >= 2
        and args[0] == "validate"
        and not any(a.startswith("-") and a != "-" for a in args[1:])
    )


def _validate(paths: Sequence[str]) -> None:
    from pathlib import Path

    from ccc.cli.validate_cmd import run

    _exit(lambda: run([Path(p) for p in paths]))


def _exit(command: Callable[[], int]) -> None:
    """Exit with the status ``command`` returns; Ctrl-C or the end of standard input while it
    reads ends it as the Typer command would (click's Abort)."""
    try:
        code = command()
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("\nAborted!\n")
        code = 1
    sys.exit(code)


def guarded(command: Callable[[], object]) -> None:
    """Run ``command``; unexpected errors become one clear line and exit code 2, not a
    traceback (``CCC_DEBUG=1`` shows the traceback)."""
    try:
        command()
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
