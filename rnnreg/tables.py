"""The one markdown table writer: the board, the claims and `--format markdown` all print through it."""

from __future__ import annotations

import re
from collections.abc import Sequence


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   right: Sequence[bool] | None = None) -> list[str]:
    """Lines of a GitHub markdown table; `right[i]` right-aligns column i (numbers). A `|` inside a cell is
    escaped so it cannot split the cell."""
    escape = lambda cell: str(cell).replace("|", "\\|")  # noqa: E731  (one-line helper)
    aligns = right if right is not None else [False] * len(header)
    return ["| " + " | ".join(map(escape, header)) + " |",
            "|" + "|".join("---:" if r else "---" for r in aligns) + "|",
            *("| " + " | ".join(map(escape, row)) + " |" for row in rows)]


def natural_key(text: str) -> list:
    """Numbers in a heading compare as numbers, so "8 epochs" sorts before "250 epochs"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]
