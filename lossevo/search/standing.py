"""The standing of the race: each function's fitness and place, the incumbent, from stored scores.

A function's fitness is the geometric-mean ratio of its racing scores to the reference
control's (BCE) on the seeds both trained on (``fitness.scores.ratio``); its place in the race
is a :class:`~lossevo.fitness.scores.Race`. A function stopped early has no score at the
target: its fitness is ``STOPPED_FITNESS`` plus how far behind the reference it was where it
stopped, so it ranks below every finished function, above every failed one (``PENALTY``), and
stopped functions still rank among themselves for selection. The loop reads the incumbent from
here, the leaderboard its rows: both see the same numbers because both come from the store
alone.
"""

from __future__ import annotations

import math

from lossevo.fitness.scores import (
    Race,
    checkpoint_curve,
    geomean,
    ratio_to_control,
    score,
    stopped,
)
from lossevo.runs.store import RunStore
from lossevo.search.config import SEARCH_STAGE, STOPPED_FITNESS, SearchConfig
from lossevo.search.provenance import provenance_fields


def racing_score(store: RunStore, fp: str, seed: int, steps: int) -> float | None:
    """One racing score (``fitness.scores.score``): ``inf`` for a failed training, None if
    not trained yet."""
    return score(store.get_evaluation(fp, seed, steps, stage=SEARCH_STAGE))


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


def display_name(cand: dict) -> str:
    """How a function is named in tables: a control by its name, a candidate by its formula."""
    return cand.get("name") or cand["text"]


def racing_rows(store: RunStore, fp: str, config: SearchConfig) -> dict[int, dict]:
    """The racing evaluations a function has, seed -> row, over seeds 0..race_max_seeds-1."""
    rows = {}
    for seed in range(config.race_max_seeds):
        row = store.get_evaluation(fp, seed, config.steps, stage=SEARCH_STAGE)
        if row is not None:
            rows[seed] = row
    return rows


def racing_scores(store: RunStore, fp: str, config: SearchConfig) -> dict[int, float]:
    """The racing scores a function has, seed -> score, over seeds 0..race_max_seeds-1."""
    return {seed: score(row) for seed, row in racing_rows(store, fp, config).items()}


def behind_at_stop(rows: dict[int, dict], reference: dict[int, dict]) -> float:
    """How far behind the reference a stopped function was where it stopped: the geometric
    mean over its stopped seeds of its score over the reference's at that checkpoint."""
    ratios = []
    for seed, row in rows.items():
        if not stopped(row):
            continue
        step = int(row["steps"])
        mine = checkpoint_curve(row).get(step)
        theirs = checkpoint_curve(reference.get(seed) or {}).get(step)
        if mine is not None and theirs and math.isfinite(mine) and math.isfinite(theirs):
            ratios.append(mine / theirs)
    return geomean(ratios) if ratios else math.inf


def standing(
    store: RunStore, config: SearchConfig, *, before: int | None = None, every: bool = False
) -> list[dict]:
    """The functions trained in the race, best first, with their fitness and ``race`` place.

    By default only the controls and the survivors (every racing seed trained), which are
    what an incumbent is drawn from; ``before`` keeps functions first seen before that
    generation; ``every`` adds the eliminated and failed ones.
    """
    seen = first_seen(store)
    reps = representatives(store)
    ref = next(
        (c for c in reps.values() if c["role"] == "baseline" and c["name"] == config.reference),
        None,
    )
    reference_rows = racing_rows(store, ref["fingerprint"], config) if ref else {}
    reference = {seed: score(row) for seed, row in reference_rows.items()}
    reference_ok = bool(reference) and not any(map(math.isinf, reference.values()))
    rows = []
    for fp, cand in reps.items():
        if before is not None and seen.get(fp, before) >= before:
            continue
        evaluations = racing_rows(store, fp, config)
        if not evaluations:
            continue
        values = {seed: score(row) for seed, row in evaluations.items()}
        failed = any(math.isinf(v) for v in values.values())
        was_stopped = any(stopped(row) for row in evaluations.values())
        if cand["role"] == "baseline":
            race = Race.CONTROL
        elif was_stopped:
            race = Race.STOPPED
        elif failed:
            race = Race.FAILED
        elif len(values) == config.race_max_seeds:
            race = Race.SURVIVED
        else:
            race = Race.ELIMINATED
        if not every and race not in (Race.CONTROL, Race.SURVIVED):
            continue
        shared = values.keys() & reference.keys()
        fitness = (
            ratio_to_control(values, reference) if shared and reference_ok and not failed else None
        )
        if race == Race.STOPPED and reference_ok:  # below every finished function
            fitness = STOPPED_FITNESS + min(behind_at_stop(evaluations, reference_rows), 1e5)
        rows.append(
            {
                "text": display_name(cand),
                "fitness": fitness,
                "score": None if failed else geomean(values.values()),
                "seeds": len(values),
                "race": str(race),
                "complexity": cand["complexity"],
                "fingerprint": fp,
                "formula": cand["formula"],
                "transform": cand["transform"],
                "generator": cand["generator"],
                "key": cand["key"],
                "role": cand["role"],
                "first_generation": seen.get(fp),
                **provenance_fields(cand),
            }
        )
    rows.sort(
        key=lambda r: (
            r["race"] in (Race.ELIMINATED, Race.STOPPED, Race.FAILED),
            math.inf if r["fitness"] is None else r["fitness"],
            r["complexity"],
            r["key"],
        )
    )
    return rows


def incumbent(store: RunStore, config: SearchConfig, generation: int) -> str:
    """The fingerprint to beat in ``generation``: the best control or survivor of earlier
    generations (so a resume sees the same one)."""
    return standing(store, config, before=generation)[0]["fingerprint"]


def fitness_table(store: RunStore, config: SearchConfig) -> dict[str, float | None]:
    """Fingerprint -> fitness of every function raced (None: failed, or no reference)."""
    return {row["fingerprint"]: row["fitness"] for row in standing(store, config, every=True)}
