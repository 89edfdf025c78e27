"""How numbers and names are shown in tables, progress bars and reports: one formatter, one
missing mark, one way to cut a long name."""

from __future__ import annotations


def fmt_number(value: float | None, spec: str = ".4g", *, empty: str = "-") -> str:
    """``value`` formatted with ``spec``; ``empty`` for a missing value (None)."""
    return empty if value is None else format(value, spec)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last an ellipsis when anything was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
