"""A search run's answer, from its store alone: the verdict on fresh seeds and the JSON view.

The verdict compares every function trained at the verdict stage (the finalists and the
controls other than the reference) with the reference control (BCE) on the fresh seeds; a
training counts as collapsed when its samples cover at most
``fitness.scores.COLLAPSE_CLASSES`` classes.
"""

from __future__ import annotations

from lossevo.fitness.scores import ScoreError, collapsed, finite_or_none
from lossevo.report.verdict import control_label, verdict
from lossevo.runs.store import DB_NAME, RunStore, StoreError
from lossevo.search.config import VERDICT_SEED_BASE, VERDICT_STAGE, SearchConfig
from lossevo.search.generation_stats import stored_stats
from lossevo.search.leaderboard import controls, hall_of_fame, search_config
from lossevo.search.provenance import provenance_fields
from lossevo.search.standing import display_name, fitness_table, representatives


def verdict_evaluations(store: RunStore, config: SearchConfig | None = None) -> dict[str, dict]:
    """Fingerprint -> {"name", "values": {seed: score or None}, "collapsed": {seed: bool},
    "origin", "parents", "provenance"} for the functions the verdict judges: the controls and
    the current top ``verdict_top`` of the hall of fame (a resume that extended the generations
    may have judged others before)."""
    config = config or search_config(store)
    reps = representatives(store)
    judged = {c["fingerprint"] for c in reps.values() if c["role"] == "baseline"}
    judged |= {row["fingerprint"] for row in hall_of_fame(store, config)[: config.verdict_top]}
    out: dict[str, dict] = {}
    for e in store.evaluations(stage=VERDICT_STAGE):
        fp = e["fingerprint"]
        if fp not in judged:
            continue
        if fp not in out:
            name = display_name(reps[fp]) if fp in reps else e["key"]
            row = reps.get(fp) or store.get_candidate(e["key"]) or {}
            out[fp] = {"name": name, "values": {}, "collapsed": {}, **provenance_fields(row)}
        entry = out[fp]
        try:
            entry["values"][e["seed"]] = finite_or_none(e)
        except ScoreError as err:
            raise StoreError(
                f"'{store.run_dir / DB_NAME}' is damaged (evaluation {e['id']}: {err}); "
                f"restore it from a backup or start a new run"
            ) from None
        flag = collapsed(e["metrics"])
        if flag is not None:
            entry["collapsed"][e["seed"]] = flag
    return out


def run_verdict(store: RunStore, config: SearchConfig | None = None) -> dict | None:
    """The verdict of a run (None before any verdict training is stored).

    ``complete`` is False while a function judged lacks one of the ``verdict_seeds`` seeds (a
    search stopped during its verdict): the sentence then starts with "Incomplete", so a
    partial verdict never reads as final. With nothing to judge (``--verdict-top 0`` and the
    reference as the only control) the sentence says so.
    """
    config = config or search_config(store)
    by_fp = verdict_evaluations(store, config)
    if not by_fp:
        return None
    reference = next((e for e in by_fp.values() if e["name"] == config.reference), None)
    others = {e["name"]: e for e in by_fp.values() if e is not reference}
    control = {} if reference is None else reference["values"]
    result = verdict(
        {name: e["values"] for name, e in others.items()},
        control,
        control_name=config.reference,
        collapsed={
            config.reference: {} if reference is None else reference["collapsed"],
            **{name: e["collapsed"] for name, e in others.items()},
        },
    )
    for name, e in others.items():  # where each judged function came from, beside its ratio
        result["candidates"][name]["provenance"] = e["provenance"]
    expected = set(range(VERDICT_SEED_BASE, VERDICT_SEED_BASE + config.verdict_seeds))
    judged = min(config.verdict_top, len(hall_of_fame(store, config))) + len(config.controls)
    everywhere = set.intersection(*(set(e["values"]) for e in by_fp.values()))
    complete = reference is not None and len(by_fp) >= judged and everywhere >= expected
    label = control_label(config.reference)
    if not others and complete:
        why = f"--verdict-top {config.verdict_top}" if config.verdict_top == 0 else "none ranked"
        result["sentence"] = (
            f"Nothing to judge: no candidate was brought to the verdict ({why}) and no other "
            f"control; only the reference control, {label}, was trained on the fresh seeds."
        )
    elif not complete:
        result["sentence"] = (
            f"Incomplete: {len(everywhere & expected)} of {len(expected)} seeds trained for "
            f"every function judged; resume the run to finish the verdict. So far: "
            + result["sentence"]
        )
    result.update(
        steps=config.verdict_steps,
        seeds=sorted(control),
        complete=complete,
        seeds_expected=len(expected),
        seeds_done=len(everywhere & expected),
    )
    return result


def search_vs_verdict(
    store: RunStore, config: SearchConfig | None = None, result: dict | None = None
) -> dict | None:
    """How the search's fitness held up on fresh seeds, for the functions the verdict judged.

    Per function: its fitness during the search (× the reference, racing seeds and budget),
    its ratio on the fresh seeds at the verdict's budget, and ``shrinkage`` = verdict ratio /
    search fitness (above 1: the winner's curse, or an early rung that flattered it). Over the
    functions with a search fitness and at least 2 fresh seeds, the Kendall tau between the two
    (1: the search ranked them as the verdict does). None before the verdict. ``result``: the
    run's verdict, when the caller has it already.
    """
    config = config or search_config(store)
    result = result or run_verdict(store, config)
    if result is None:
        return None
    search = fitness_table(store, config)
    rows = []
    for fp, entry in verdict_evaluations(store, config).items():
        is_reference = entry["name"] == config.reference
        judged = {} if is_reference else result["candidates"].get(entry["name"], {})
        ratio = 1.0 if is_reference else judged.get("ratio")
        seeds = len(result["seeds"]) if is_reference else judged.get("n_seeds", 0)
        fitness = search.get(fp)
        rows.append(
            {
                "name": entry["name"],
                "search_fitness": fitness,
                "verdict_ratio": ratio,
                "shrinkage": ratio / fitness if ratio is not None and fitness else None,
                "fresh_seeds": seeds,
                **{k: entry[k] for k in ("origin", "parents", "provenance")},
            }
        )
    paired = [
        r for r in rows
        if r["search_fitness"] is not None and r["verdict_ratio"] is not None
        and r["fresh_seeds"] >= 2
    ]  # fmt: skip
    tau = None
    if len(paired) >= 3:
        from scipy.stats import kendalltau

        statistic = kendalltau(
            [r["search_fitness"] for r in paired], [r["verdict_ratio"] for r in paired]
        ).statistic
        tau = None if statistic != statistic else float(statistic)  # NaN: all tied
    rows.sort(key=lambda r: (r["verdict_ratio"] is None, r["verdict_ratio"] or 0.0))
    return {"functions": rows, "kendall_tau": tau, "n": len(paired)}


def run_json(store: RunStore) -> dict:
    """Leaderboard, controls, per-generation statistics and the verdict, as plain data."""
    config = search_config(store)
    result = run_verdict(store, config)
    return {
        "run": str(store.run_dir),
        "config": store.config.get("search"),
        "leaderboard": hall_of_fame(store, config),
        "controls": controls(store, config),
        "generations": [{"generation": g, **st.to_dict()} for g, st in stored_stats(store)],
        "verdict": result,
        "search_vs_verdict": search_vs_verdict(store, config, result),
    }
