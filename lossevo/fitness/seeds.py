"""Fitness over seeds: the one summary (n, best, worst, mean, std, median) every report uses.

The search's leaderboard, promotion stages, ``lossevo evaluate`` and the replay statistics all
summarise a loss's results over seeds; they share :func:`summarize` so they cannot disagree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from lossevo.fitness.scores import Status, failure_counts

AGGREGATES = ("mean", "median", "worst")


def finite_values(values: Sequence[float | None]) -> list[float]:
    """The finite numbers of ``values`` as floats; None, NaN and infinities dropped."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def summarize(values: Sequence[float | None]) -> dict:
    """Best (min), worst (max), mean and sample std (ddof=1) of a lower-is-better metric.

    Non-finite values and None are dropped. One value: std 0.0. No value: all None.
    """
    xs = finite_values(values)
    if not xs:
        return {"n": 0, "best": None, "worst": None, "mean": None, "std": None, "median": None}
    return {
        "n": len(xs),
        "best": min(xs),
        "worst": max(xs),
        "mean": statistics.fmean(xs),
        "std": statistics.stdev(xs) if len(xs) > 1 else 0.0,
        "median": statistics.median(xs),
    }


def aggregate(results: list[dict], how: str = "mean") -> dict:
    """Fitness over seeds of task results: mean, median or worst of the ok runs, std kept.

    A seed that diverged or failed counts as the worst possible outcome for ``worst`` and is
    reported in ``diverged``/``failed`` for the others.
    """
    if how not in AGGREGATES:
        raise ValueError(f"unknown aggregate {how!r}; use one of {', '.join(AGGREGATES)}")
    ok = [r["fitness"] for r in results if r["status"] == Status.OK]
    summary = summarize(ok)
    out = {
        "n": len(ok),
        **failure_counts(results),
        "std": summary["std"] if ok else 0.0,
        "mean": summary["mean"],
    }
    if not ok:
        out["fitness"] = None
    elif how == "worst":
        out["fitness"] = math.inf if len(ok) < len(results) else summary["worst"]
    else:
        out["fitness"] = summary[how]
    return out
