"""The one error type users see: a problem they can fix, said in one line.

Every expected failure (a bad formula, space, flag, dataset, run directory...) raises a subclass
of :class:`LossevoError`; the CLI prints its message as one line with exit status 2, and the
Python API lets it propagate unchanged, so both say the same words.
"""

from __future__ import annotations


class LossevoError(ValueError):
    """A user-facing problem; ``str(err)`` is one line that says what is wrong and how to fix it."""
