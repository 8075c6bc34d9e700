"""Parsing a sub-command's plain command line without Typer (start-up: see :mod:`ccc.cli.entry`).

Importing Typer and building a command (a pydantic adapter per parameter) costs about a tenth of
a second at every start, more than some commands then spend working. So ``ccc plan`` and
``ccc crd`` first try :func:`parse`: an :mod:`argparse` parser that accepts only command lines
whose meaning is beyond doubt, and refuses (``None``) everything else, which then goes to the
Typer command unchanged: ``--help``, ``--``, an unknown option, a missing argument, a value
Typer would convert or reject (``-o JSON``, ``-n 0``), a value that starts with ``-``, a short
option written ``-n=2``. A refused command line prints nothing here, so whatever Typer
prints (help, usage errors) is exactly what it printed before. Every command line accepted here
means what it means to Typer: the tests compare both on the same arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


class _Refused(Exception):
    """The command line is not plain: let Typer parse it."""


class PlainParser(argparse.ArgumentParser):
    """An argparse parser that never prints or exits: any error refuses the command line.

    No help option, no abbreviations (Typer accepts neither ``--detail`` for ``--detailed-x``
    nor ``-h``)."""

    def __init__(self) -> None:
        super().__init__(add_help=False, allow_abbrev=False, exit_on_error=False)
        self.options: set[str] = set()
        """Every option string."""
        self.valued: set[str] = set()
        """The option strings that take a value (not the flags)."""

    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*names, **kwargs)
        self.options.update(action.option_strings)
        if action.nargs != 0:
            self.valued.update(action.option_strings)
        return action

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Refused(message)


def parse(parser: PlainParser, args: Sequence[str]) -> argparse.Namespace | None:
    """``args`` parsed by ``parser``, or ``None`` when the line is not plain (see the module
    docstring): Typer parses it instead.

    A token that starts with ``-`` (``-`` alone is a path: standard input) must be one of the
    parser's options as a whole, ``--long=VALUE``, or ``-xVALUE`` for a short option that takes a
    value; anything else (``--``, ``-1``, ``-n=2``, ``--help``) refuses the line, so argparse's
    own readings of such tokens (a negative number as a value, ``=`` after a short option) never
    differ from Typer's. So does an empty value (``''``, or a token ending in ``=``).
    """
    for token in args:
        if token == "" or token.endswith("="):
            return None  # an empty value (``--region=``, ``''``): Typer's reading decides
        if not token.startswith("-") or token == "-" or token in parser.options:
            continue
        if token.startswith("--") and token.split("=", 1)[0] in parser.valued:
            continue
        if not token.startswith("--") and token[:2] in parser.valued and token[2:3] != "=":
            continue
        return None
    try:
        options = parser.parse_args(list(args))
    except (_Refused, argparse.ArgumentError):
        return None
    return options


def positive_int(text: str) -> int:
    """``text`` as a plain positive decimal integer; anything else (``0``, ``01``, ``+2``,
    ``1_000``) refuses the line, leaving the conversion and its error message to Typer."""
    if not (text[:1] in "123456789" and text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)
