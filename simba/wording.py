"""Small pieces of English that SIMBA's messages share."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 module``, ``2 modules``: a count with its noun in the right number."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
