"""Plain-text tables that fit a terminal width: what ``ccc plan`` prints.

Columns are as wide as their widest cell; when the table is wider than the terminal, the
columns marked ``wrap`` give up width (down to their longest word) and their cells continue on
the next lines. No colours and no box drawing: the output reads the same in a terminal, a CI
log or a file, and it costs no rich import at start-up.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Collection, Sequence

GAP = 2
"""Spaces between columns; 1 when 2 would make the table wider than the terminal."""


def terminal_width(default: int = 80) -> int:
    """Columns of the terminal (``COLUMNS`` wins), ``default`` when there is none."""
    return shutil.get_terminal_size((default, 24)).columns


def render(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    right: Collection[str] = (),
    wrap: Sequence[str] = (),
) -> list[str]:
    """The lines of a table.

    Args:
        headers: column titles.
        rows: cells, one sequence per row, as many as ``headers``.
        width: the most characters a line may have (``None``: no limit).
        right: titles of right-aligned columns (numbers).
        wrap: titles of columns that may wrap onto more lines to fit ``width``, the first to
            give up width first.
    """
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    gap = GAP
    if width is not None and sum(widths) + gap * (len(widths) - 1) > width:
        gap = 1
        _shrink(widths, headers, rows, width - (len(widths) - 1), wrap)
    lines = [_line(headers, [[h] for h in headers], widths, right, gap)]
    for row in rows:
        cells = [
            _wrap(cell, widths[i]) if headers[i] in wrap else [cell] for i, cell in enumerate(row)
        ]
        lines.append(_line(headers, cells, widths, right, gap))
    return [line for block in lines for line in block]


def _shrink(
    widths: list[int],
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    room: int,
    wrap: Sequence[str],
) -> None:
    """Narrow the ``wrap`` columns, in order, until the cells fit ``room`` characters."""
    excess = sum(widths) - room
    for title in wrap:
        if excess <= 0 or title not in headers:
            continue
        i = list(headers).index(title)
        longest_word = max(
            [len(headers[i]), *(len(w) for r in rows for w in r[i].replace("-", "- ").split())]
        )
        give = min(excess, widths[i] - longest_word)
        if give > 0:
            widths[i] -= give
            excess -= give


def _wrap(cell: str, width: int) -> list[str]:
    if len(cell) <= width:
        return [cell]
    return textwrap.wrap(cell, width, break_on_hyphens=True) or [cell]


def _line(
    headers: Sequence[str],
    cells: Sequence[list[str]],
    widths: Sequence[int],
    right: Collection[str],
    gap: int,
) -> list[str]:
    height = max(len(c) for c in cells)
    out = []
    for k in range(height):
        parts = []
        for i, cell in enumerate(cells):
            text = cell[k] if k < len(cell) else ""
            parts.append(text.rjust(widths[i]) if headers[i] in right else text.ljust(widths[i]))
        out.append((" " * gap).join(parts).rstrip())
    return out


def paragraph(text: str, width: int | None, *, indent: str = "") -> list[str]:
    """``text`` wrapped to ``width`` (continuation lines indented by ``indent``)."""
    if width is None:
        return [text]
    return textwrap.wrap(
        text, width, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False
    ) or [text]
