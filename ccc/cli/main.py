"""Entry point of the ``ccc`` command. Each sub-command lives in its own module and registers
itself on a Typer app through a ``register(app)`` function.

Start-up matters (``ccc validate`` runs in editors and CI loops), so the sub-command modules are
loaded lazily (:class:`_LazyGroup`), and ``ccc validate PATH...``, and ``ccc plan`` and ``ccc crd``
with plain options, do not even come here (:mod:`ccc.cli.entry`): ``ccc validate`` imports the
manifest reader and the models, never the Kubernetes client, the Google Cloud SDKs, aiohttp or
Prometheus, which only ``ccc run`` needs (benchmarks/cli_startup.py measures it).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

from ccc import __version__

# Sets PYDANTIC_DISABLE_PLUGINS (before anything imports pydantic: typer does not).
from ccc.cli.entry import DEBUG_ENV, EXIT_INTERNAL_ERROR, guarded, internal_error_line

COMMANDS: dict[str, str] = {
    "validate": "ccc.cli.validate_cmd",
    "crd": "ccc.cli.crd_cmd",
    "catalog": "ccc.cli.catalog_cmd",
    "plan": "ccc.cli.plan_cmd",
    "run": "ccc.cli.run_cmd",
    "simulate": "ccc.cli.simulate_cmd",
}
"""Sub-command name -> module with a ``register(app)`` function. A module is imported only when
its command runs (or for ``--help``), so one command never pays for another's imports."""

__all__ = ["COMMANDS", "DEBUG_ENV", "EXIT_INTERNAL_ERROR", "app", "internal_error_line", "main"]


class _LazyCommands(MutableMapping[str, Any]):
    """The sub-commands by name; a module is imported the first time its command is looked up."""

    def __init__(self, loaded: MutableMapping[str, Any]) -> None:
        self._loaded = dict(loaded)

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            module = importlib.import_module(COMMANDS[name])
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            module.register(single)
            command = typer.main.get_command(single)
            command.name = name
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self._loaded if n not in COMMANDS)

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._loaded))

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._loaded


class _LazyGroup(TyperGroup):
    """A Typer group whose sub-commands come from :data:`COMMANDS`, imported on use."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return self.commands.get(cmd_name)


app = typer.Typer(
    cls=_LazyGroup,
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


def main() -> None:
    """Run the Typer app under the top-level guard (:func:`ccc.cli.entry.guarded`). The
    ``ccc`` executable starts in :func:`ccc.cli.entry.main`, which comes here for every command
    but ``ccc validate PATH...``."""
    guarded(app)
