"""What ``show``/``export TARGET`` means: a run directory, a built-in loss name or a formula.

One function decides, for the CLI and the Python API alike. A built-in name wins over a folder of
the same name (the note says how to pick the folder: ``./bce``); text too long to be a path is
never tried as one; a path that does not exist is reported as a missing run directory, not as a
formula that does not parse.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from lossevo.loss.formula import FormulaError
from lossevo.loss.reference import LossSpec, reference_names, resolve_loss
from lossevo.util.errors import LossevoError

#: Characters a path may hold that a formula cannot use together with a separator.
_PATHLIKE = re.compile(r"[\w./\\~ :-]+")


class TargetError(LossevoError):
    """A show/export target that is neither a run directory, a built-in loss nor a formula."""


@dataclass(frozen=True)
class Target:
    """A resolved target: ``run_dir`` for a run, else ``spec``; ``note`` explains a choice."""

    run_dir: Path | None = None
    spec: LossSpec | None = None
    note: str = ""


def _existing_dir(text: str) -> Path | None:
    """``text`` as a folder if it names one; never raises (a formula may be any length)."""
    try:
        path = Path(text).expanduser()
        return path if path.is_dir() else None
    except (OSError, ValueError):  # ENAMETOOLONG, embedded NUL...
        return None


def _is_file(text: str) -> bool:
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):
        return False


def _looks_like_path(text: str) -> bool:
    if text.startswith(("/", "./", "../", "~", ".\\")) or text.endswith(("/", "\\")):
        return True
    return ("/" in text or os.sep in text) and _PATHLIKE.fullmatch(text) is not None


def resolve_target(
    text: str, *, transform: str | None = None, generator: str | None = None
) -> Target:
    """Decide what ``text`` names; ``transform``/``generator`` override a loss's conventions."""
    if not isinstance(text, str) or not text.strip():
        raise TargetError(
            "empty target; give a built-in loss name (e.g. bce), a formula or a run directory "
            "(the working folder is '.')"
        )
    folder = _existing_dir(text)
    name = text.strip().lower()
    if name in reference_names():
        note = ""
        if folder is not None:
            note = f"using the built-in loss {name!r}; for the folder of that name write ./{text}"
        return Target(spec=resolve_loss(name, transform=transform, generator=generator), note=note)
    if folder is not None:
        return Target(run_dir=folder)
    try:
        spec = resolve_loss(text, transform=transform, generator=generator)
    except FormulaError as err:
        if _is_file(text):
            raise TargetError(
                f"{_shown(text)} is a file; give its run directory, a built-in loss or a formula"
            ) from None
        if _looks_like_path(text):
            raise TargetError(
                f"no such run directory {_shown(text)} (read as a formula: {err})"
            ) from None
        raise
    return Target(spec=spec)


def _shown(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
