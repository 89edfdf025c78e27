"""Validate the search's early-stopping rule on stored learning curves: false stops and savings.

The rule (``lossevo.fitness.early_stop``) stops a training at a checkpoint when its score is
above exp(margin) x the geometric mean of the references' scores there on the same seed, or
when it has collapsed late in training. This script applies the very same code to the curves
that the GANetic target replays stored (every training scored at checkpoints, run to the end):

- each of the six losses plays the candidate in turn, against the search's default controls
  (BCE, GANetic, least squares) minus itself, on every seed;
- a *false stop* is a stop of a training of a loss in the better half of that replay's target
  ranking (geometric-mean final score): the rule must almost never do that (aim: <= 5%);
- the saving is the share of training steps the rule would not have trained.

    python experiments/early_stopping.py            # both replays, the margins around 1.2

Only stored curves are read; nothing is trained. The 95% upper bound on the false-stop rate is
Clopper-Pearson: with 36 trainings and no false stop, the rate is below 8% with 95% confidence.
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from scipy.stats import beta

from lossevo.fitness.early_stop import CHECKPOINT_FRACTIONS, COLLAPSE_FRACTION, stop_rule
from lossevo.fitness.scores import checkpoint_curve
from lossevo.runs.store import RunStore
from lossevo.search.config import STOP_MARGIN

RESULTS = Path(__file__).parent / "results"
REPLAYS = ("ganetic_digits8_target", "ganetic_mnist28_target")
CONTROLS = ("bce", "ganetic", "least_squares")
MARGINS = (0.7, 1.0, STOP_MARGIN, 1.5)


def load(replay: Path) -> tuple[dict[tuple[str, int], dict], dict[tuple[str, int], dict], int]:
    """(name, seed) -> step -> score, (name, seed) -> step -> metrics, and the budget."""
    curves, metrics = {}, {}
    with RunStore.open(replay, readonly=True) as store:
        names = {c["key"]: c["name"] for c in store.candidates()}
        budget = int(store.config["steps"])
        for row in store.evaluations():
            key = (names[row["key"]], int(row["seed"]))
            curves[key] = checkpoint_curve(row)
            points = {int(s): m for s, m in (row.get("checkpoints") or {}).items()}
            metrics[key] = {**points, budget: row.get("metrics") or {}}
    return curves, metrics, budget


def upper_95(stops: int, n: int) -> float:
    """Clopper-Pearson one-sided 95% upper bound on a rate seen as ``stops`` of ``n``."""
    return 1.0 if stops >= n else float(beta.ppf(0.95, stops + 1, n - stops))


def simulate(curves: dict, metrics: dict, budget: int, margin: float) -> dict:
    """Every (loss, seed) run through the rule against the controls minus itself."""
    names = sorted({name for name, _ in curves})
    seeds = sorted({seed for _, seed in curves})
    stored = sorted({s for c in curves.values() for s in c if s < budget})
    points = [s for s in stored if s >= budget * CHECKPOINT_FRACTIONS[0] - 1e-9]
    collapse_from = min((s for s in points if s >= budget * COLLAPSE_FRACTION - 1e-9), default=None)
    final = {
        n: statistics.fmean(math.log(curves[(n, s)].get(budget, math.inf)) for s in seeds)
        for n in names
    }
    ranking = sorted(names, key=final.get)
    better = set(ranking[: len(ranking) // 2])
    stops: dict[str, list[int | None]] = {n: [] for n in names}
    saved = total = 0
    for name in names:
        for seed in seeds:
            refs = [curves[(r, seed)] for r in CONTROLS if r != name and (r, seed) in curves]
            rule = stop_rule(refs, points, margin=margin, collapse_from=collapse_from)
            at = next(
                (
                    p
                    for p in points
                    if p in curves[(name, seed)]
                    and rule.reason(p, curves[(name, seed)][p], metrics[(name, seed)].get(p, {}))
                ),
                None,
            )
            stops[name].append(at)
            total += budget
            saved += 0 if at is None else budget - at
    false = sum(at is not None for n in better for at in stops[n])
    n_better = sum(len(stops[n]) for n in better)
    return {
        "checkpoints": points,
        "ranking": ranking,
        "better": sorted(better, key=ranking.index),
        "false_stops": false,
        "better_trainings": n_better,
        "false_rate": false / n_better,
        "false_upper_95": upper_95(false, n_better),
        "saved": saved / total,
        "stops": {n: sum(at is not None for at in stops[n]) for n in names},
        "seeds": len(seeds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", nargs="+", default=list(REPLAYS))
    args = parser.parse_args()
    for replay in args.replays:
        curves, metrics, budget = load(RESULTS / replay)
        print(f"\n## {replay}: {budget} steps")
        for margin in MARGINS:
            r = simulate(curves, metrics, budget, margin)
            if margin == MARGINS[0]:
                print(f"target ranking: {', '.join(r['ranking'])}; better half: {r['better']}")
                print(f"checkpoints: {r['checkpoints']}; {r['seeds']} seeds per loss")
            chosen = " (the search's default)" if margin == STOP_MARGIN else ""
            per_loss = ", ".join(f"{n} {k}/{r['seeds']}" for n, k in r["stops"].items())
            print(
                f"margin {margin:g} (x{math.exp(margin):.1f}){chosen}: false stops "
                f"{r['false_stops']}/{r['better_trainings']} = {r['false_rate']:.1%} "
                f"(95% upper bound {r['false_upper_95']:.1%}); steps saved {r['saved']:.0%}; "
                f"stopped: {per_loss}"
            )


if __name__ == "__main__":
    main()
