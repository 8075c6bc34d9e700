"""Placeholder: being written (see the issue that owns this command)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Register nothing yet."""
