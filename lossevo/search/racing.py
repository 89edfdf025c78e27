"""Racing on shared seeds: candidates get more seeds only while they might beat the incumbent.

As in irace's F-race, every entrant starts on ``min_seeds`` seeds (seeds 0, 1, ...: the same
seeds the controls and the incumbent were trained on); once its seeds are in, a one-sided
sequential test (``racing_stats.eliminate``) drops it if it is worse than the incumbent with
confidence, and otherwise it gets the next seed, up to ``max_seeds``. Those still in the race at
``max_seeds`` survive and may become the incumbent. A training that stopped itself early
(``fitness.early_stop``) takes its function out of the race, ``stopped``, once the seeds it is
on are in (deciding earlier would make the outcome depend on which training finished first).

Each entrant advances on its own, as in ASHA: its next seed is requested as soon as its own
trainings are stored, never after a slower entrant's, so workers do not wait for a round to
finish. Every decision reads only the entrant's scores and the incumbent's, so the outcomes do
not depend on the order trainings finish in.

The race is a pure function of stored scores: ``request(pairs, then)`` trains and stores the
missing (name, seed) pairs, calling ``then(name)`` after each result is stored for the pairs it
unlocks; ``score(name, seed)`` reads one back. A race killed at any point and run again
re-requests only what was not stored, and reaches the same decisions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lossevo.fitness.scores import Race
from lossevo.search.racing_stats import eliminate

Pair = tuple[str, int]
#: A stored score (lower is better), ``None`` while missing, ``math.inf`` for a failed training.
Score = Callable[[str, int], float | None]
#: After one of ``name``'s results is stored: the pairs that result unlocks.
Then = Callable[[str], list[Pair]]
Request = Callable[[list[Pair], Then], None]


def in_rounds(train: Callable[[list[Pair]], None]) -> Request:
    """A ``request`` from a ``train(pairs)`` that returns once every pair is stored: what the
    pairs unlock is trained in further rounds (for tests and benchmarks without an executor)."""

    def request(pairs: list[Pair], then: Then) -> None:
        while pairs:
            train(pairs)
            names = dict.fromkeys(name for name, _ in pairs)
            pairs = list(dict.fromkeys(p for name in names for p in then(name)))

    return request


def _nothing(name: str) -> list[Pair]:
    return []


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
    """How one entrant left the race: ``survived``, ``eliminated``, ``stopped`` or ``failed``,
    after ``seeds`` seeds."""

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
    stopped: Callable[[str, int], bool] = lambda name, seed: False,
) -> dict[str, Outcome]:
    """Race ``entrants`` against ``incumbent`` (which already has ``max_seeds`` seeds, or gets
    them here); returns each entrant's outcome. ``stopped(name, seed)``: that training stopped
    early (its score is ``inf``, like a failure, but it is not one)."""
    request([(incumbent, s) for s in range(settings.max_seeds)], _nothing)
    best = scores_on(score, incumbent, settings.max_seeds)
    if best is None:
        raise RuntimeError(f"the incumbent {incumbent!r} has no score on every racing seed")
    outcomes: dict[str, Outcome] = {}
    seeds = dict.fromkeys(entrants, settings.min_seeds)

    def advance(name: str) -> list[Pair]:
        """Decide whatever ``name``'s stored scores decide; the pairs it still needs."""
        while name not in outcomes:
            n = seeds[name]
            values = {s: score(name, s) for s in range(n)}
            missing = [(name, s) for s, v in values.items() if v is None]
            if missing:
                return missing
            if any(stopped(name, s) for s in range(n)):
                outcomes[name] = Outcome(Race.STOPPED, n)
            elif any(math.isinf(v) for v in values.values()):
                outcomes[name] = Outcome(Race.FAILED, n)
            elif eliminate(
                values,
                {s: best[s] for s in range(n)} if settings.paired else best,
                alpha=settings.alpha,
                paired=settings.paired,
            ):
                outcomes[name] = Outcome(Race.ELIMINATED, n)
            elif n >= settings.max_seeds:
                outcomes[name] = Outcome(Race.SURVIVED, n)
            else:
                seeds[name] = n + 1
        return []

    request([pair for name in seeds for pair in advance(name)], advance)
    for name in seeds:
        if name not in outcomes:
            raise RuntimeError(f"{name!r} has no score on seeds 0-{seeds[name] - 1} after training")
    return outcomes


def fixed_seeds(
    entrants: Sequence[str], n: int, *, request: Request, score: Score
) -> dict[str, float]:
    """The comparison racing replaces: every entrant on ``n`` seeds; mean log score each."""
    request([(name, s) for name in entrants for s in range(n)], _nothing)
    out = {}
    for name in entrants:
        values = scores_on(score, name, n)
        out[name] = log_mean(values) if values is not None else math.inf
    return out
