"""A search run's answer, from its store alone: the verdict on fresh seeds and the JSON view.

The verdict compares every function trained at the verdict stage (the finalists and the
controls other than the reference) with the reference control (BCE) on the fresh seeds; a
training counts as collapsed when its samples cover at most ``COLLAPSE_CLASSES`` classes.
"""

from __future__ import annotations

from lossevo.fitness.scores import finite_or_none
from lossevo.report.verdict import verdict
from lossevo.runs.store import RunStore
from lossevo.search.config import VERDICT_STAGE, SearchConfig
from lossevo.search.generation_stats import stored_stats
from lossevo.search.leaderboard import controls, hall_of_fame, search_config
from lossevo.search.standing import display_name, representatives

#: A training whose samples cover at most this many of the 10 digit classes has collapsed.
COLLAPSE_CLASSES = 5


def _collapsed(metrics: dict) -> bool | None:
    classes = (metrics or {}).get("classes_covered")
    return None if classes is None else classes <= COLLAPSE_CLASSES


def verdict_evaluations(store: RunStore, config: SearchConfig | None = None) -> dict[str, dict]:
    """Fingerprint -> {"name", "values": {seed: score or None}, "collapsed": {seed: bool}} for
    the functions the verdict judges: the controls and the current top ``verdict_top`` of the
    hall of fame (a resume that extended the generations may have judged others before)."""
    config = config or search_config(store)
    reps = representatives(store)
    judged = {c["fingerprint"] for c in reps.values() if c["role"] == "baseline"}
    judged |= {row["fingerprint"] for row in hall_of_fame(store, config)[: config.verdict_top]}
    out: dict[str, dict] = {}
    for e in store.evaluations(stage=VERDICT_STAGE):
        fp = e["fingerprint"]
        if fp not in judged:
            continue
        name = display_name(reps[fp]) if fp in reps else e["key"]
        entry = out.setdefault(fp, {"name": name, "values": {}, "collapsed": {}})
        entry["values"][e["seed"]] = finite_or_none(e)
        flag = _collapsed(e["metrics"])
        if flag is not None:
            entry["collapsed"][e["seed"]] = flag
    return out


def run_verdict(store: RunStore, config: SearchConfig | None = None) -> dict | None:
    """The verdict of a finished run (None before its verdict evaluations exist)."""
    config = config or search_config(store)
    by_fp = verdict_evaluations(store, config)
    reference = next((e for e in by_fp.values() if e["name"] == config.reference), None)
    if reference is None or len(by_fp) < 2:
        return None
    others = {e["name"]: e for e in by_fp.values() if e is not reference}
    result = verdict(
        {name: e["values"] for name, e in others.items()},
        reference["values"],
        control_name=config.reference,
        collapsed={
            config.reference: reference["collapsed"],
            **{name: e["collapsed"] for name, e in others.items()},
        },
    )
    result["steps"] = config.verdict_steps
    result["seeds"] = sorted(reference["values"])
    return result


def run_json(store: RunStore) -> dict:
    """Leaderboard, controls, per-generation statistics and the verdict, as plain data."""
    config = search_config(store)
    return {
        "run": str(store.run_dir),
        "config": store.config.get("search"),
        "leaderboard": hall_of_fame(store, config),
        "controls": controls(store, config),
        "generations": [{"generation": g, **st.to_dict()} for g, st in stored_stats(store)],
        "verdict": run_verdict(store, config),
    }
