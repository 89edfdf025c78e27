"""How numbers are shown in tables, progress bars and reports: one formatter, one missing mark."""

from __future__ import annotations


def fmt_number(value: float | None, spec: str = ".4g", *, empty: str = "-") -> str:
    """``value`` formatted with ``spec``; ``empty`` for a missing value (None)."""
    return empty if value is None else format(value, spec)
