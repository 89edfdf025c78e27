"""Early stopping at checkpoints: a training that is clearly behind, or has collapsed, stops.

A search trains every candidate toward the target budget and scores it at checkpoints. The
rule a training carries is plain data in its job (``job["stop"]``), computed by the search from
stored scores before the job starts:

- ``above``: checkpoint step -> the score above which the training stops there. The search sets
  it to ``exp(margin)`` times the geometric mean of the references' scores (the controls and the
  incumbent) at that checkpoint *on the same seed*.
- ``collapse_from``: from this step on, a checkpoint whose samples cover at most
  ``COLLAPSE_CLASSES`` classes stops the training (tasks that measure no coverage never do).

The decision is a function of the job and the (deterministic) training, so a training killed
between checkpoints and run again makes the same decision at the same step.

Why a margin on the references' mean and not on the best of them: BCE starts slowly (at 700 of
1,500 steps its FID is often twice GANetic's) and finishes level, so a rule against the fastest
reference stops working losses. Validated on the 8x8 target replay's stored curves
(``experiments/early_stopping.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lossevo.fitness.scores import COLLAPSE_CLASSES

#: Checkpoints as fractions of the budget: 400, 700, 1,000 and 1,250 of 1,500 steps.
CHECKPOINT_FRACTIONS = (4 / 15, 7 / 15, 10 / 15, 12.5 / 15)
#: Collapse stops a training only from this fraction of the budget on (1,000 of 1,500): early
#: checkpoints of every working loss cover 2-5 classes.
COLLAPSE_FRACTION = 10 / 15
#: Why a training stopped, as stored in its metrics.
BEHIND, COLLAPSED = "behind", "collapsed"


def checkpoints_for(steps: int) -> list[int]:
    """The checkpoint steps of a training of ``steps`` (distinct, each in [1, steps))."""
    return sorted({s for f in CHECKPOINT_FRACTIONS if 1 <= (s := round(steps * f)) < steps})


def collapse_step(steps: int) -> int:
    """The first step at which a collapse stops a training of ``steps``."""
    return max(1, round(steps * COLLAPSE_FRACTION))


@dataclass(frozen=True)
class StopRule:
    """When a training stops itself: above a score at a checkpoint, or collapsed from a step."""

    above: Mapping[int, float]
    collapse_from: int | None = None

    @classmethod
    def from_job(cls, job: Mapping) -> StopRule | None:
        """The rule ``job["stop"]`` carries, or None (the training runs to its budget)."""
        raw = job.get("stop")
        if not raw:
            return None
        above = {int(step): float(value) for step, value in (raw.get("above") or {}).items()}
        collapse = raw.get("collapse_from")
        return cls(above, None if collapse is None else int(collapse))

    def to_dict(self) -> dict:
        """As a job carries it (JSON: string keys)."""
        return {
            "above": {str(step): value for step, value in sorted(self.above.items())},
            "collapse_from": self.collapse_from,
        }

    def reason(self, step: int, score: float, metrics: Mapping) -> str | None:
        """Why a training scoring ``score`` (lower is better) at ``step`` stops, or None."""
        limit = self.above.get(step)
        if limit is not None and not score <= limit:  # a NaN score is behind too
            return BEHIND
        classes = metrics.get("classes_covered")
        if self.collapse_from is not None and step >= self.collapse_from and classes is not None:
            if classes <= COLLAPSE_CLASSES:
                return COLLAPSED
        return None


def stop_rule(
    references: Sequence[Mapping[int, float]],
    checkpoints: Sequence[int],
    *,
    margin: float,
    collapse_from: int | None,
) -> StopRule:
    """The rule against ``references`` (each a step -> score curve on the training's seed):
    at each checkpoint, ``exp(margin)`` times the geometric mean of the finite positive
    reference scores there; a checkpoint no reference has a score at gets no limit."""
    above = {}
    for step in checkpoints:
        logs = [
            math.log(curve[step])
            for curve in references
            if step in curve and math.isfinite(curve[step]) and curve[step] > 0
        ]
        if logs:
            above[step] = math.exp(sum(logs) / len(logs) + margin)
    return StopRule(above, collapse_from)
