"""A search run's answer, from its store alone: the verdict on fresh seeds and the JSON view.

The verdict compares every function trained at the verdict stage (the finalists and the
controls other than the reference) with the reference control (BCE) on the fresh seeds; a
training counts as collapsed when its samples cover at most ``COLLAPSE_CLASSES`` classes.
"""

from __future__ import annotations

import math

from lossevo.report.verdict import verdict
from lossevo.runs.store import RunStore
from lossevo.search.config import VERDICT_STAGE, SearchConfig
from lossevo.search.leaderboard import controls, hall_of_fame, representatives, search_config

#: A training whose samples cover at most this many of the 10 digit classes has collapsed.
COLLAPSE_CLASSES = 5


def _collapsed(metrics: dict) -> bool | None:
    classes = (metrics or {}).get("classes_covered")
    return None if classes is None else classes <= COLLAPSE_CLASSES


def verdict_evaluations(store: RunStore) -> dict[str, dict]:
    """Fingerprint -> {"name", "values": {seed: fitness or None}, "collapsed": {seed: bool}}."""
    names = {  # the leaderboard's name for a function: its simplest formula, or the control's
        fp: cand["key"].split(":", 1)[1] if cand["role"] == "baseline" else cand["text"]
        for fp, cand in representatives(store).items()
    }
    out: dict[str, dict] = {}
    for e in store.evaluations(stage=VERDICT_STAGE):
        entry = out.setdefault(
            e["fingerprint"], {"name": names.get(e["fingerprint"], e["key"]), "values": {}}
        )
        entry.setdefault("collapsed", {})
        ok = e["status"] == "ok" and e["fitness"] is not None and math.isfinite(e["fitness"])
        entry["values"][e["seed"]] = e["fitness"] if ok else None
        flag = _collapsed(e["metrics"])
        if flag is not None:
            entry["collapsed"][e["seed"]] = flag
    return out


def run_verdict(store: RunStore, config: SearchConfig | None = None) -> dict | None:
    """The verdict of a finished run (None before its verdict evaluations exist)."""
    config = config or search_config(store)
    by_fp = verdict_evaluations(store)
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
        "generations": [{"generation": g["generation"], **g["stats"]} for g in store.generations()],
        "verdict": run_verdict(store, config),
    }
