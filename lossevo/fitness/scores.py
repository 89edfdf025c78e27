"""What a training scored: one definition for racing, the leaderboard, the verdict, spend and
the reports.

A task returns ``status`` and, when ok, ``fitness`` (lower is better: a FID, 1 - AUROC). Every
reader turns a stored result into a number through :func:`score`, so a failed run, a diverged
one, a perfect 0 and a damaged value mean the same thing everywhere:

- missing: ``None`` (not trained yet);
- failed or diverged, or a non-finite fitness: ``inf``, the worst outcome;
- stopped early at a checkpoint (:func:`stopped`, no final score): ``inf`` too; a search
  ranks stopped functions below every finished one and above failed ones;
- 0 (a perfect score) or a rounding error just below it: :data:`MIN_SCORE`, so ratios and
  logarithms stay defined;
- clearly negative: :class:`ScoreError`; no task scores below 0, so the row was damaged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import StrEnum

from lossevo.util.errors import LossevoError


class Status(StrEnum):
    """How one training ended (the ``status`` of a task's result and of a stored evaluation)."""

    OK = "ok"
    DIVERGED = "diverged"
    FAILED = "failed"


class Race(StrEnum):
    """Where a function stands in a search's race: a control trained on every racing seed, a
    survivor of every elimination test, eliminated as worse than the incumbent, stopped early
    on a seed (clearly behind the references at a checkpoint, or collapsed), or failed."""

    CONTROL = "control"
    SURVIVED = "survived"
    ELIMINATED = "eliminated"
    STOPPED = "stopped"
    FAILED = "failed"


#: The smallest score a ratio is taken of: a task's perfect 0 (an AUROC of 1) is kept as this.
MIN_SCORE = 1e-9
#: A fitness below 0 by at most this much is a rounding error of a perfect 0 (a Fréchet distance
#: of identical sets); anything lower cannot come from a task.
NEGATIVE_TOLERANCE = 1e-6


class ScoreError(LossevoError, ValueError):
    """A stored fitness that no task can produce (negative, or not a number)."""


def score_value(fitness: object, status: str = Status.OK) -> float:
    """The score of one training from its status and fitness (see the module docstring)."""
    if status != Status.OK or fitness is None:
        return math.inf
    if isinstance(fitness, bool) or not isinstance(fitness, int | float):
        raise ScoreError(f"a fitness must be a number, not {fitness!r}")
    value = float(fitness)
    if math.isnan(value) or math.isinf(value):
        return math.inf
    if value < -NEGATIVE_TOLERANCE:
        raise ScoreError(f"fitness {value!r} is negative: a fitness must be 0 or more")
    return max(value, MIN_SCORE)


def score(row: Mapping | None) -> float | None:
    """The score of a stored evaluation (or a task's result), ``None`` when there is none."""
    if row is None:
        return None
    return score_value(row.get("fitness"), row.get("status", Status.OK))


def finite_or_none(row: Mapping | None) -> float | None:
    """:func:`score` with failed and diverged trainings as ``None`` (the verdict counts them
    as the worst outcome itself, from the other losses' scores)."""
    value = score(row)
    return None if value is None or math.isinf(value) else value


def ok_fitness(row: Mapping) -> float | None:
    """The fitness of a training that ended ok, else None (a report's "not scored")."""
    return row.get("fitness") if row.get("status") == Status.OK else None


def failure_counts(rows: Iterable[Mapping]) -> dict[str, int]:
    """How many of ``rows`` diverged and how many failed: ``{"diverged": n, "failed": m}``."""
    rows = list(rows)
    return {
        Status.DIVERGED.value: sum(r["status"] == Status.DIVERGED for r in rows),
        Status.FAILED.value: sum(r["status"] == Status.FAILED for r in rows),
    }


def stopped(row: Mapping | None) -> bool:
    """Whether a training stopped itself early at a checkpoint (``fitness.early_stop``): it
    ended ok before its budget, with no final score."""
    if row is None or row.get("status") != Status.OK or row.get("steps") is None:
        return False
    return int(row["steps"]) < int(row.get("budget", row["steps"] + 1))


def steps_trained(row: Mapping) -> int:
    """Training steps an evaluation spent: the steps it stopped at, else its budget."""
    stopped = row.get("steps")
    return int(stopped) if stopped is not None else int(row["budget"])


def checkpoint_curve(row: Mapping) -> dict[int, float]:
    """Step -> score at the checkpoints a training was scored at, the final score included."""
    curve = {}
    for step, value in (row.get("checkpoints") or {}).items():
        curve[int(step)] = score_value(
            value.get("fitness") if isinstance(value, Mapping) else value
        )
    final = score(row)
    if final is not None and row.get("status") == Status.OK and not stopped(row):
        curve[steps_trained(row)] = final
    return dict(sorted(curve.items()))


def geomean(values: Iterable[float]) -> float:
    """Geometric mean of positive scores (``inf`` if any is ``inf``; NaN for none)."""
    values = list(values)
    if not values:
        return math.nan
    if any(math.isinf(v) for v in values):
        return math.inf
    return math.exp(sum(math.log(v) for v in values) / len(values))


def finite_scores(values: Mapping[int, float | None], what: str = "score") -> dict[int, float]:
    """The finite values of ``values`` (None, NaN and infinities dropped), each checked > 0:
    what a log ratio can be taken of."""
    out = {}
    for seed, v in values.items():
        if v is None or not math.isfinite(float(v)):
            continue
        if float(v) <= 0:
            raise ValueError(f"{what} on seed {seed} is {v!r}: fitness must be positive")
        out[seed] = float(v)
    return out


def log_ratios(
    values: Mapping[int, float | None], control: Mapping[int, float | None]
) -> dict[int, float]:
    """``log(value / control)`` on every seed where both are finite, in seed order."""
    xs, cs = finite_scores(values, "value"), finite_scores(control, "control")
    return {s: math.log(xs[s]) - math.log(cs[s]) for s in sorted(xs.keys() & cs.keys())}


def ratio_to_control(values: Mapping[int, float], control: Mapping[int, float]) -> float:
    """Geometric mean over the shared seeds of ``value / control``: 0.91 means "0.91 x control".

    Seeds where either side is None or not finite are not shared. ``ValueError`` when no seed
    is shared, or a value is zero or negative (a log ratio needs positive fitness).
    """
    logs = log_ratios(values, control)
    if not logs:
        raise ValueError("no seed has a finite value on both sides: no ratio to the control")
    return math.exp(math.fsum(logs.values()) / len(logs))


#: A training whose samples cover at most this many of the 10 digit classes has collapsed.
COLLAPSE_CLASSES = 5


def collapsed(metrics: Mapping | None) -> bool | None:
    """Whether a training's samples collapsed (cover at most ``COLLAPSE_CLASSES`` classes);
    None when the task measured no class coverage."""
    classes = (metrics or {}).get("classes_covered")
    return None if classes is None else classes <= COLLAPSE_CLASSES
