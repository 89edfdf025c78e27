"""The search's equations table: hall of fame, Pareto front and leaderboard, from the store alone.

Derived from the run store and nothing else, so the views of a resumed or a crashed run are
always consistent with its database; the loop reads the hall of fame to pick its finalists.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from lossevo.loss.reference import LossSpec
from lossevo.runs.store import RunStore, write_table
from lossevo.search.config import SearchConfig
from lossevo.search.space import SearchSpace, space_from_dict
from lossevo.util.fmt import fmt_number

HOF_COLUMNS = [
    "rank",
    "text",
    "fitness",
    "std",
    "seeds",
    "budget",
    "complexity",
    "diverged",
    "fingerprint",
    "formula",
    "key",
]
PARETO_COLUMNS = ["complexity", "fitness", "score", "text", "formula"]


def search_config(store: RunStore) -> SearchConfig:
    """The search config stored with a run."""
    return SearchConfig.from_dict(store.config.get("search", {}))


def hall_of_fame(store: RunStore, config=None) -> list[dict]:
    """Passed candidates with results at the full budget, best mean first, one per function.

    For each fingerprint the simplest formula represents it (ties broken by key).
    """
    config = config or search_config(store)
    best: dict[str, dict] = {}
    for cand in store.candidates("passed"):
        fp = cand["fingerprint"]
        if fp in best and (best[fp]["complexity"], best[fp]["key"]) <= (
            cand["complexity"],
            cand["key"],
        ):
            continue
        best[fp] = cand
    rows = []
    for fp, cand in best.items():
        summary = store.fitness_summary(fp)
        if summary.get("budget") != config.full_steps or not summary.get("n"):
            continue
        rows.append(
            {
                "text": cand["text"],
                "fitness": summary["mean"],
                "std": summary["std"],
                "seeds": summary["n"],
                "budget": summary["budget"],
                "complexity": cand["complexity"],
                "diverged": summary["diverged"],
                "fingerprint": fp,
                "formula": cand["formula"],
                "key": cand["key"],
            }
        )
    rows.sort(key=lambda r: (r["fitness"], r["complexity"], r["key"]))
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


def baselines(store: RunStore) -> list[dict]:
    rows = []
    for cand in store.candidates(role="baseline"):
        summary = store.fitness_summary(cand["fingerprint"])
        rows.append(
            {
                "text": cand["key"].split(":", 1)[1],
                "fitness": summary.get("mean"),
                "std": summary.get("std"),
                "seeds": summary.get("n"),
                "complexity": cand["complexity"],
                "diverged": summary.get("diverged"),
            }
        )
    return rows


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
    """Rank, formula, fitness +- std over seeds, complexity; baselines at the same budget."""
    config = search_config(store)
    rows = hall_of_fame(store, config)[:top]
    width = min(max([len(r["text"]) for r in rows] + [20]), 70)
    lines = [
        f"{'rank':>4}  {'formula':<{width}}  {'fitness':>10} {'± std':>9} {'seeds':>5} {'cplx':>4}"
    ]
    for r in rows:
        text = r["text"] if len(r["text"]) <= width else r["text"][: width - 1] + "…"
        lines.append(
            f"{r['rank']:>4}  {text:<{width}}  {fmt_number(r['fitness']):>10} "
            f"{fmt_number(r['std']):>9} {r['seeds']:>5} {r['complexity']:>4}"
        )
    base = baselines(store)
    if base:
        lines.append(f"{'':>4}  {'baselines, same budget and seeds:':<{width}}")
        for r in base:
            lines.append(
                f"{'':>4}  {r['text']:<{width}}  {fmt_number(r['fitness']):>10} "
                f"{fmt_number(r['std']):>9} {fmt_number(r['seeds'], 'd'):>5} {r['complexity']:>4}"
            )
    lines.append(
        f"(fitness: {config.task} task, lower is better; {config.full_steps} steps per evaluation)"
    )
    return "\n".join(lines)
