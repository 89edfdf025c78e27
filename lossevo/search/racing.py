"""Racing on shared seeds: candidates get more seeds only while they might beat the incumbent.

As in irace's F-race, every entrant starts on ``min_seeds`` seeds (seeds 0, 1, ...: the same
seeds the controls and the incumbent were trained on); after each round a one-sided sequential
test (``racing_stats.eliminate``) drops entrants that are worse than the incumbent with
confidence, and the others get the next seed, up to ``max_seeds``. Those still in the race at
``max_seeds`` survive and may become the incumbent.

The race is a pure function of stored scores: ``request(pairs)`` trains and stores the missing
(name, seed) pairs, ``score(name, seed)`` reads one back. A race killed at any point and run
again re-requests only what was not stored, and reaches the same decisions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lossevo.fitness.scores import Race
from lossevo.search.racing_stats import eliminate

#: A stored score (lower is better), ``None`` while missing, ``math.inf`` for a failed training.
Score = Callable[[str, int], float | None]
Request = Callable[[list[tuple[str, int]]], None]


@dataclass(frozen=True)
class RaceSettings:
    """How a race spends seeds: start on ``min_seeds``, stop at ``max_seeds``, test at ``alpha``.

    ``paired`` compares on shared seeds (log ratios); unpaired compares the two samples of log
    scores. The default is unpaired because, at the target budget, the per-seed correlation of
    log FID between losses measured 0.08: pairing buys almost nothing there.
    """

    min_seeds: int = 2
    max_seeds: int = 4
    alpha: float = 0.2
    paired: bool = False


@dataclass(frozen=True)
class Outcome:
    """How one entrant left the race: ``survived`` or ``eliminated`` (or ``failed``), after
    ``seeds`` seeds."""

    status: str
    seeds: int

    def to_dict(self) -> dict:
        return {"status": str(self.status), "seeds": self.seeds}


def scores_on(score: Score, name: str, n: int) -> dict[int, float] | None:
    """The first ``n`` seeds' scores of ``name``, or None if any is still missing."""
    values = {seed: score(name, seed) for seed in range(n)}
    return None if any(v is None for v in values.values()) else values


def log_mean(values: dict[int, float]) -> float:
    """Mean log score (a failed training, ``inf``, makes it ``inf``)."""
    return statistics.fmean(math.log(v) if v > 0 else -math.inf for v in values.values())


def race(
    entrants: Sequence[str],
    incumbent: str,
    settings: RaceSettings,
    *,
    request: Request,
    score: Score,
) -> dict[str, Outcome]:
    """Race ``entrants`` against ``incumbent`` (which already has ``max_seeds`` seeds, or gets
    them here); returns each entrant's outcome."""
    request([(incumbent, s) for s in range(settings.max_seeds)])
    best = scores_on(score, incumbent, settings.max_seeds)
    if best is None:
        raise RuntimeError(f"the incumbent {incumbent!r} has no score on every racing seed")
    outcomes: dict[str, Outcome] = {}
    alive = list(dict.fromkeys(entrants))
    for n in range(settings.min_seeds, settings.max_seeds + 1):
        if not alive:
            break
        request([(name, s) for name in alive for s in range(n)])
        still = []
        for name in alive:
            values = scores_on(score, name, n)
            if values is None:
                raise RuntimeError(f"{name!r} has no score on seeds 0-{n - 1} after training")
            if any(math.isinf(v) for v in values.values()):
                outcomes[name] = Outcome(Race.FAILED, n)
            elif eliminate(
                values,
                {s: best[s] for s in range(n)} if settings.paired else best,
                alpha=settings.alpha,
                paired=settings.paired,
            ):
                outcomes[name] = Outcome(Race.ELIMINATED, n)
            else:
                still.append(name)
        alive = still
    for name in alive:
        outcomes[name] = Outcome(Race.SURVIVED, settings.max_seeds)
    return outcomes


def fixed_seeds(
    entrants: Sequence[str], n: int, *, request: Request, score: Score
) -> dict[str, float]:
    """The comparison racing replaces: every entrant on ``n`` seeds; mean log score each."""
    request([(name, s) for name in entrants for s in range(n)])
    out = {}
    for name in entrants:
        values = scores_on(score, name, n)
        out[name] = log_mean(values) if values is not None else math.inf
    return out
