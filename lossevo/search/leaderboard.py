"""The search's equations table: hall of fame, Pareto front and leaderboard, from the store alone.

Derived from the run store and nothing else, so the views of a resumed or a crashed run are
always consistent with its database; the loop reads the hall of fame to pick its finalists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace

from lossevo.loss.reference import LossSpec
from lossevo.runs.store import RunStore, write_table
from lossevo.search.config import SEARCH_STAGE, SearchConfig
from lossevo.search.racing_stats import ratio_to_control
from lossevo.search.space import SearchSpace, space_from_dict
from lossevo.util.fmt import fmt_number

HOF_COLUMNS = [
    "rank",
    "text",
    "fitness",
    "score",
    "seeds",
    "race",
    "complexity",
    "fingerprint",
    "formula",
    "key",
    "role",
]
#: The smallest score a ratio is taken of (scores are positive; a perfect task score is 0).
MIN_SCORE = 1e-9
PARETO_COLUMNS = ["complexity", "fitness", "score", "text", "formula"]


#: Settings of a format-2 (successive halving) run read as their format-3 counterparts.
_FORMAT_2_KEYS = {"full_steps": "steps", "baselines": "controls", "final_seeds": "race_max_seeds"}
#: The ``meta`` key holding what resumes extended (generations, budget), as JSON.
EXTENSIONS_KEY = "extensions"


def search_config(store: RunStore) -> SearchConfig:
    """The search config stored with a run, with what resumes extended since."""
    extensions = json.loads(store.meta.get(EXTENSIONS_KEY, "{}"))
    section = dict(store.config.get("search", {}))
    for old, new in _FORMAT_2_KEYS.items():  # a format-2 run is still read (never continued)
        if old in section and new not in section:
            section[new] = section[old]
    return SearchConfig.from_dict({**section, **extensions})


def search_score(store: RunStore, fp: str, seed: int, steps: int) -> float | None:
    """One racing score: the fitness, ``inf`` for a failed or diverged training, None if absent.

    Ratios need positive scores: a task's perfect 0 (an AUROC of 1) is kept as ``MIN_SCORE``.
    """
    found = store.get_evaluation(fp, seed, steps, stage=SEARCH_STAGE)
    if found is None:
        return None
    if found["status"] != "ok" or found["fitness"] is None:
        return math.inf
    return max(float(found["fitness"]), MIN_SCORE)


def first_seen(store: RunStore) -> dict[str, int]:
    """Fingerprint -> the generation it was first proposed in (controls: -1)."""
    seen: dict[str, int] = {}
    for cand in store.candidates():
        if cand["role"] == "baseline" or cand["verdict"] == "passed":
            fp, gen = cand["fingerprint"], cand["first_generation"]
            gen = -1 if gen is None else gen  # a row written outside a search (tests, tools)
            seen[fp] = min(gen, seen.get(fp, gen))
    return seen


def representatives(store: RunStore) -> dict[str, dict]:
    """One candidate per fingerprint: the simplest formula (ties broken by key); controls win."""
    best: dict[str, dict] = {}
    for cand in store.candidates():
        if cand["role"] != "baseline" and cand["verdict"] != "passed":
            continue
        fp, old = cand["fingerprint"], best.get(cand["fingerprint"])
        rank = (cand["role"] != "baseline", cand["complexity"], cand["key"])
        if old is None or rank < (old["role"] != "baseline", old["complexity"], old["key"]):
            best[fp] = cand
    return best


def standing(
    store: RunStore, config: SearchConfig, *, before: int | None = None, every: bool = False
) -> list[dict]:
    """The functions trained in the race, best first: fitness is the geometric-mean ratio to
    the reference control on shared seeds, ``race`` is control/survived/eliminated/failed.

    By default only the controls and the survivors (every racing seed trained), which are
    what an incumbent is drawn from; ``before`` keeps functions first seen before that
    generation; ``every`` adds the eliminated and failed ones.
    """
    seen = first_seen(store)
    reps = representatives(store)
    steps, n_max = config.steps, config.race_max_seeds
    ref_key = f"baseline:{config.reference}"
    ref = reps.get(next((fp for fp, c in reps.items() if c["key"] == ref_key), ""), None)
    reference = _scores(store, ref["fingerprint"], steps, n_max) if ref else {}
    rows = []
    for fp, cand in reps.items():
        if before is not None and seen.get(fp, before) >= before:
            continue
        values = _scores(store, fp, steps, n_max)
        if not values:
            continue
        failed = any(math.isinf(v) for v in values.values())
        if cand["role"] == "baseline":
            race = "control"
        elif failed:
            race = "failed"
        else:
            race = "survived" if len(values) == n_max else "eliminated"
        if not every and race not in ("control", "survived"):
            continue
        shared = {s: v for s, v in values.items() if s in reference}
        fitness = None
        if not failed and shared and reference and not any(map(math.isinf, reference.values())):
            fitness = ratio_to_control(shared, reference)
        rows.append(
            {
                "text": cand["text"],
                "fitness": fitness,
                "score": None if failed else _geomean(values.values()),
                "seeds": len(values),
                "race": race,
                "complexity": cand["complexity"],
                "fingerprint": fp,
                "formula": cand["formula"],
                "key": cand["key"],
                "role": cand["role"],
            }
        )
    worst = float("inf")
    rows.sort(
        key=lambda r: (
            r["race"] in ("eliminated", "failed"),
            worst if r["fitness"] is None else r["fitness"],
            r["complexity"],
            r["key"],
        )
    )
    return rows


def _scores(store: RunStore, fp: str, steps: int, n_max: int) -> dict[int, float]:
    """The racing scores a function has, seed -> score, over seeds 0..n_max-1."""
    out = {}
    for seed in range(n_max):
        value = search_score(store, fp, seed, steps)
        if value is not None:
            out[seed] = value
    return out


def _geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def hall_of_fame(store: RunStore, config=None) -> list[dict]:
    """The candidates (not the controls), survivors first, then by fitness: the run's answer."""
    config = config or search_config(store)
    rows = [
        r
        for r in standing(store, config, every=True)
        if r["role"] != "baseline" and r["race"] != "failed"
    ]
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows[: config.hall_of_fame] if config.hall_of_fame else rows


def stored_space(store: RunStore) -> SearchSpace:
    """The space the run searched, as stored with it: its YAML file may have changed since."""
    return space_from_dict(store.config["space"], f"{store.run_dir}/config.json")


def _rank_name(row: dict) -> str:
    return f"rank{row['rank']}"


def best_losses(
    store: RunStore, top: int, name: Callable[[dict], str] = _rank_name
) -> list[tuple[dict, LossSpec]]:
    """The run's ``top`` best losses as (hall-of-fame row, spec), with the transform and
    generator convention of the run's stored space; ``name(row)`` names each spec."""
    space = stored_space(store)
    return [
        (
            row,
            LossSpec.from_formula(
                row["formula"],
                name=name(row),
                transform=space.transform,
                generator=space.generator,
            ),
        )
        for row in hall_of_fame(store)[:top]
    ]


def controls(store: RunStore, config: SearchConfig | None = None) -> list[dict]:
    """The controls' rows in the race (the reference's fitness is 1 by construction)."""
    config = config or search_config(store)
    return [r for r in standing(store, config, every=True) if r["role"] == "baseline"]


def pareto_front(rows: list[dict]) -> list[dict]:
    """Candidates that no simpler candidate beats, with PySR's score -d log(fitness)/d complexity
    (a plain difference when fitness is not positive)."""
    front: list[dict] = []
    for row in sorted(rows, key=lambda r: (r["complexity"], r["fitness"])):
        if front and row["fitness"] >= front[-1]["fitness"]:
            continue
        score = 0.0
        if front:
            prev = front[-1]
            if row["fitness"] > 0 and prev["fitness"] > 0:
                gain = math.log(prev["fitness"]) - math.log(row["fitness"])
            else:
                gain = prev["fitness"] - row["fitness"]
            score = gain / max(row["complexity"] - prev["complexity"], 1)
        front.append({**row, "score": score})
    return front


def write_views(store: RunStore) -> None:
    """hall_of_fame.csv and pareto.csv in the run directory, regenerated from the database."""
    config = search_config(store)
    every = hall_of_fame(store, replace(config, hall_of_fame=0))
    write_table(store.run_dir / "hall_of_fame.csv", every[: config.hall_of_fame], HOF_COLUMNS)
    write_table(store.run_dir / "pareto.csv", pareto_front(every), PARETO_COLUMNS)


def leaderboard_text(store: RunStore, top: int = 10) -> str:
    """Rank, formula, fitness as a ratio to the reference, seeds raced; the controls below."""
    config = search_config(store)
    rows = hall_of_fame(store, config)[:top]
    ref = config.reference.upper() if config.reference == "bce" else config.reference
    width = min(max([len(r["text"]) for r in rows] + [24]), 64)
    lines = [
        f"{'rank':>4}  {'formula':<{width}}  {'fitness':>12} {'score':>9} {'seeds':>5} "
        f"{'race':<10} {'cplx':>4}"
    ]

    def line(rank: str, r: dict) -> str:
        text = r["text"] if len(r["text"]) <= width else r["text"][: width - 1] + "…"
        return (
            f"{rank:>4}  {text:<{width}}  {fmt_ratio(r['fitness'], ref):>12} "
            f"{fmt_number(r['score']):>9} {r['seeds']:>5} {r['race']:<10} {r['complexity']:>4}"
        )

    lines += [line(str(r["rank"]), r) for r in rows]
    base = controls(store, config)
    if base:
        lines.append(f"{'':>4}  controls, same seeds:")
        lines += [line("", r) for r in base]
    lines.append(
        f"(fitness: geometric-mean ratio of the {config.task} task's score to {config.reference}"
        f" on shared seeds 0-{config.race_max_seeds - 1}, lower is better; score: geometric"
        f" mean; {config.steps} steps per evaluation)"
    )
    return "\n".join(lines)


def fmt_ratio(value: float | None, reference: str = "BCE") -> str:
    """A fitness ratio as the leaderboard shows it: ``0.91 × BCE``."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.2f} × {reference}"
