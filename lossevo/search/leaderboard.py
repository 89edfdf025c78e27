"""The search's equations table: hall of fame, Pareto front and leaderboard, from the store alone.

Derived from the run store and nothing else, so the views of a resumed or a crashed run are
always consistent with its database; the loop reads the hall of fame to pick its finalists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace

from lossevo.fitness.scores import Race
from lossevo.loss.reference import LossSpec
from lossevo.runs.store import RunStore, spec_of, write_table
from lossevo.search.config import SearchConfig
from lossevo.search.provenance import SHORT_KEY
from lossevo.search.standing import standing
from lossevo.util.fmt import fmt_number, shorten

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
    "transform",
    "generator",
    "first_generation",
    "key",
    "role",
    "origin",
    "parents",
    "provenance",
]
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


def hall_of_fame(store: RunStore, config=None) -> list[dict]:
    """The candidates (not the controls), survivors first, then by fitness: the run's answer."""
    config = config or search_config(store)
    rows = [
        r
        for r in standing(store, config, every=True)
        if r["role"] != "baseline" and r["race"] != Race.FAILED
    ]
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows[: config.hall_of_fame] if config.hall_of_fame else rows


def _rank_name(row: dict) -> str:
    return f"rank{row['rank']}"


def best_losses(
    store: RunStore, top: int, name: Callable[[dict], str] = _rank_name
) -> list[tuple[dict, LossSpec]]:
    """The run's ``top`` best losses as (hall-of-fame row, spec): each row's own stored spec
    (``runs.store.spec_of``), named by ``name(row)``."""
    return [
        (row, replace(spec_of(store.get_candidate(row["key"])), name=name(row)))
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
    """Rank, formula, fitness as a ratio to the reference, seeds raced, the transform and
    generator convention the formula is trained under, and where it came from; the controls
    below."""
    config = search_config(store)
    rows = hall_of_fame(store, config)[:top]
    ref = config.reference.upper() if config.reference == "bce" else config.reference
    width = min(max([len(r["text"]) for r in rows] + [24]), 64)
    lines = [
        f"{'rank':>4}  {'formula':<{width}}  {'fitness':>12} {'score':>9} {'seeds':>5} "
        f"{'race':<10} {'cplx':>4}  {'y_pred':<7} {'generator':<14} {'key':<{SHORT_KEY}} provenance"
    ]

    def line(rank: str, r: dict) -> str:
        text = shorten(r["text"], width)
        return (
            f"{rank:>4}  {text:<{width}}  {fmt_ratio(r['fitness'], ref):>12} "
            f"{fmt_number(r['score']):>9} {r['seeds']:>5} {r['race']:<10} {r['complexity']:>4}"
            f"  {r['transform']:<7} {r['generator']:<14} {r['key'][:SHORT_KEY]} {r['provenance']}"
        )

    lines += [line(str(r["rank"]), r) for r in rows]
    base = controls(store, config)
    if base:
        lines.append(f"{'':>4}  controls, same seeds:")
        lines += [line("", r) for r in base]
    lines.append(
        f"(fitness: geometric-mean ratio of the {config.task} task's score to {config.reference}"
        f" on shared seeds 0-{config.race_max_seeds - 1}, lower is better; score: geometric"
        f" mean; {config.steps} steps per evaluation; key: the first {SHORT_KEY} characters of"
        f" the candidate's key; provenance: seed formula, random tree, or the generation it was"
        f" first seen in and its parents' keys)"
    )
    return "\n".join(lines)


def fmt_ratio(value: float | None, reference: str = "BCE") -> str:
    """A fitness ratio as the leaderboard shows it: ``0.91 × BCE``."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.2f} × {reference}"
