"""Text made safe to print: control characters shown as escapes, never sent to the terminal.

Formulas, names and messages read from a run's database or a file may hold escape sequences
(``\\x1b[2J`` clears the screen); everything lossevo prints from stored text goes through here.
"""

from __future__ import annotations

import unicodedata

#: Kept as they are: they only lay text out.
_LAYOUT = {"\n", "\t"}


def for_terminal(text: str) -> str:
    """``text`` with every control or format character (ESC, CR, bidi overrides...) escaped."""
    return "".join(
        ch
        if ch in _LAYOUT or unicodedata.category(ch) not in ("Cc", "Cf")
        else ch.encode("unicode_escape").decode("ascii")
        for ch in str(text)
    )
