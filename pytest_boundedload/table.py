"""Plain-text tables: the one renderer behind every table the plugin and the command print."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Literal

__all__ = ["Column", "render_table"]


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: its title, alignment (``"<"`` left, ``">"`` right), the width it takes
    at least, and the spaces before it (none before the first)."""

    title: str
    align: Literal["<", ">"] = ">"
    width: int = 0
    gap: int = 2


def render_table(
    columns: Sequence[Column], rows: Iterable[Sequence[str]], *, rule: bool = False
) -> list[str]:
    """The header line, a line of dashes under it with ``rule``, then one line per row.

    Every column is as wide as its widest cell, title or ``width``; trailing spaces are
    cut.
    """
    body = [list(row) for row in rows]
    widths = [
        max(column.width, len(column.title), *(len(row[i]) for row in body))
        for i, column in enumerate(columns)
    ]

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, (cell, column, width) in enumerate(zip(cells, columns, widths, strict=True)):
            padded = cell.ljust(width) if column.align == "<" else cell.rjust(width)
            parts.append(" " * column.gap + padded if i else padded)
        return "".join(parts).rstrip()

    head = line([column.title for column in columns])
    return [head, *(["-" * len(head)] if rule else []), *(line(row) for row in body)]
