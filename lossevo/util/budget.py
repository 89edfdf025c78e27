"""A compute budget as a user types it: a wall-clock duration or a number of training steps.

``--budget 30m`` or ``--budget 20000steps``: :func:`parse_budget` reads the text into a
:class:`Budget` with exactly one of ``seconds`` and ``steps`` set, and refuses anything it
cannot read unambiguously (a bare number, a zero, a negative, NaN or infinity, a duration over
30 days, more than a billion steps) with a one-line :class:`BudgetError` that shows the forms
it accepts.

Durations: a number with a unit, ``s``/``sec``/``second(s)``, ``m``/``min``/``minute(s)``,
``h``/``hr``/``hour(s)`` or ``d``/``day(s)``, or several such parts from the largest unit down
(``2h30m``, ``1h 30m 15s``). Steps: a whole number with ``steps`` (``20000steps``,
``20000 steps``, ``20,000 steps``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lossevo.util.errors import LossevoError

#: Longest duration accepted: past this a budget is a typo (``30d`` for ``30m``?), not a plan.
MAX_SECONDS = 30 * 24 * 3600.0
#: Most training steps accepted, for the same reason.
MAX_STEPS = 1_000_000_000

_UNITS = {  # unit spelling -> (seconds, rank); parts must come in strictly decreasing rank
    **dict.fromkeys(("d", "day", "days"), (86400.0, 3)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), (3600.0, 2)),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), (60.0, 1)),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), (1.0, 0)),
}
# ASCII digits only: Python's \d and int() also take other scripts' digits (Arabic-Indic...).
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z]+)\s*")
_STEPS = re.compile(r"([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)\s*steps?")
#: Digits a number may have: more is a typo, and int() refuses over 4,300 of them.
_MAX_DIGITS = 30
_EXAMPLE = "a duration like 30m, 2h or 90s, or training steps like 20000steps"


class BudgetError(LossevoError):
    """A ``--budget`` that cannot be read; the message shows the accepted forms."""


@dataclass(frozen=True)
class Budget:
    """Wall-clock ``seconds`` or training ``steps``: exactly one is set."""

    seconds: float | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.steps is None):
            raise ValueError("a Budget has exactly one of seconds and steps")
        if self.seconds is not None and not (0 < self.seconds <= MAX_SECONDS):
            raise ValueError(f"seconds must be in (0, {MAX_SECONDS:g}], got {self.seconds!r}")
        if self.steps is not None and not (0 < self.steps <= MAX_STEPS):
            raise ValueError(f"steps must be in [1, {MAX_STEPS}], got {self.steps!r}")

    def describe(self) -> str:
        """``"30 min"``, ``"2 h 30 min"``, ``"90 s"`` → ``"1 min 30 s"``, ``"20,000 steps"``."""
        if self.steps is not None:
            return f"{self.steps:,} step" + ("" if self.steps == 1 else "s")
        total = self.seconds
        hours, rest = divmod(total, 3600.0)
        minutes, seconds = divmod(rest, 60.0)
        parts = []
        if hours:
            parts.append(f"{int(hours):,} h")
        if minutes:
            parts.append(f"{int(minutes)} min")
        if seconds or not parts:
            parts.append(f"{round(seconds, 3):g} s")
        return " ".join(parts)

    def text(self) -> str:
        """The budget as text ``parse_budget`` reads back: ``1800s`` or ``20000steps``."""
        if self.steps is not None:
            return f"{self.steps}steps"
        return f"{self.seconds:.3f}".rstrip("0").rstrip(".") + "s"  # never exponent form

    def plus(self, other: Budget) -> Budget:
        """This budget extended by ``other`` (both durations, or both steps)."""
        if (self.steps is None) != (other.steps is None):
            unit = "training steps" if self.steps is not None else "a duration"
            raise BudgetError(
                f"the run's budget is {self.describe()}: extend it by {unit}, "
                f"not {other.describe()}"
            )
        if self.steps is not None:
            return Budget(steps=min(self.steps + other.steps, MAX_STEPS))
        return Budget(seconds=min(self.seconds + other.seconds, MAX_SECONDS))


def _fail(text: str, problem: str | None = None) -> BudgetError:
    shown = text if len(text) <= 40 else text[:37] + "..."
    said = f"must be {_EXAMPLE}" if problem is None else f"{problem} ({_EXAMPLE})"
    return BudgetError(f"--budget {said}; got {shown!r}")


def parse_budget(text: str) -> Budget:
    """The :class:`Budget` that ``text`` spells; :class:`BudgetError` if it spells none."""
    if not isinstance(text, str):
        raise BudgetError(f"--budget must be text ({_EXAMPLE}); got {type(text).__name__}")
    s = text.strip().lower()
    if not s:
        raise _fail(text, "is empty")
    if s.startswith(("-", "+")):
        raise _fail(text, "must be a positive amount without a sign")
    if re.search(r"nan|inf", s):
        raise _fail(text, "must be a finite amount")
    if re.search(rf"[0-9,]{{{_MAX_DIGITS + 1},}}", s):
        raise _fail(text, f"has a number of more than {_MAX_DIGITS} digits, which is surely a typo")
    steps = _STEPS.fullmatch(s)
    if steps:
        n = int(steps.group(1).replace(",", ""))
        if n == 0:
            raise _fail(text, "must be at least 1 step")
        if n > MAX_STEPS:
            raise _fail(text, f"is over {MAX_STEPS:,} steps, which is surely a typo")
        return Budget(steps=n)
    if re.fullmatch(rf"{_NUMBER}\s*steps?", s):
        raise _fail(text, "must count steps in whole numbers")
    if re.fullmatch(_NUMBER, s):
        raise _fail(text, "needs a unit")
    seconds, pos, last_rank = 0.0, 0, math.inf
    while pos < len(s):
        part = _PART.match(s, pos)
        if part is None or part.group(2) not in _UNITS:
            raise _fail(text)
        scale, rank = _UNITS[part.group(2)]
        if rank >= last_rank:
            raise _fail(text, "must list its units once each, largest first, as in 2h30m")
        seconds += float(part.group(1)) * scale
        pos, last_rank = part.end(), rank
    if seconds <= 0:
        raise _fail(text, "must be a positive duration")
    if seconds > MAX_SECONDS:
        raise _fail(text, "is over 30 days, which is surely a typo")
    return Budget(seconds=seconds)
