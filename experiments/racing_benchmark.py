"""Racing against fixed seeds on a planted problem: how often each finds the true best, and
how many trainings each spends.

    python experiments/racing_benchmark.py [--trials 500]

Eight candidates whose true log scores are 0, 0.04, ..., 0.28 (c0 is the best; 0.04 is a 4%
difference), an incumbent at 0.06, and per-seed noise: luck shared by every candidate on a
seed (sd ``--shared``) plus each candidate's own (sd ``--own``). The defaults put the own noise
at the measured spread of log FID over seeds at the target (sd 0.10-0.28, mean 0.18). Fixed
seeds trains every candidate on ``max_seeds`` seeds and picks the best mean; racing starts
each on ``min_seeds`` and drops those a one-sided test rules out against the incumbent.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from lossevo.search.racing import RaceSettings, fixed_seeds, in_rounds, race


class Planted:
    """log score = quality + shared seed luck + own noise; ``trained`` records every request."""

    def __init__(self, k: int, rng: np.random.Generator, shared: float = 0.1, own: float = 0.1):
        self.quality = {f"c{i}": 0.04 * i for i in range(k)} | {"incumbent": 0.06}
        self.luck = rng.normal(0, shared, 64)
        self.noise = {name: rng.normal(0, own, 64) for name in self.quality}
        self.trained: set[tuple[str, int]] = set()

    def request(self, pairs) -> None:
        self.trained.update(pairs)

    def score(self, name: str, seed: int) -> float | None:
        if (name, seed) not in self.trained:
            return None
        return math.exp(self.quality[name] + self.luck[seed] + self.noise[name][seed])


def trial(seed: int, settings: RaceSettings, shared: float, own: float) -> dict:
    """One planted problem, solved by a race and by fixed seeds."""
    names = [f"c{i}" for i in range(8)]
    raced = Planted(8, np.random.default_rng(seed), shared, own)
    outcomes = race(
        names, "incumbent", settings, request=in_rounds(raced.request), score=raced.score
    )
    survivors = [n for n, o in outcomes.items() if o.status == "survived"]
    n = settings.max_seeds
    means = {s: np.mean([math.log(raced.score(s, i)) for i in range(n)]) for s in survivors}
    fixed = Planted(8, np.random.default_rng(seed), shared, own)
    fixed_means = fixed_seeds(names, n, request=in_rounds(fixed.request), score=fixed.score)
    return {
        "race_pick": min(means, key=means.get) if means else None,
        "fixed_pick": min(fixed_means, key=fixed_means.get),
        "race_trainings": len(raced.trained),
        "fixed_trainings": len(fixed.trained),
    }


def compare(settings: RaceSettings, trials: int, shared: float = 0.1, own: float = 0.1) -> dict:
    """Hits of the true best and trainings spent, summed over ``trials`` planted problems."""
    runs = [trial(seed, settings, shared, own) for seed in range(trials)]
    return {
        "trials": trials,
        "race_hits": sum(r["race_pick"] == "c0" for r in runs),
        "fixed_hits": sum(r["fixed_pick"] == "c0" for r in runs),
        "race_trainings": sum(r["race_trainings"] for r in runs),
        "fixed_trainings": sum(r["fixed_trainings"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--shared", type=float, default=0.1)
    parser.add_argument("--own", type=float, default=0.18)
    args = parser.parse_args()
    print(f"{'settings':<34}{'race hits':>10}{'fixed hits':>11}{'trainings ratio':>17}")
    for settings in (RaceSettings(2, 4, 0.2), RaceSettings(2, 4, 0.1), RaceSettings(2, 6, 0.2),
                     RaceSettings(2, 4, 0.2, paired=True)):  # fmt: skip
        r = compare(settings, args.trials, args.shared, args.own)
        name = f"min {settings.min_seeds} max {settings.max_seeds} alpha {settings.alpha}"
        name += " paired" if settings.paired else ""
        ratio = r["race_trainings"] / r["fixed_trainings"]
        print(
            f"{name:<34}{r['race_hits'] / r['trials']:>10.1%}"
            f"{r['fixed_hits'] / r['trials']:>11.1%}{ratio:>17.2f}"
        )


if __name__ == "__main__":
    main()
