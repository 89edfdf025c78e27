"""Hostile uses of the search itself: a resume that extends the generations (R9), and a seed
formula that is one of the controls.

Both on the seconds-cheap probe task, with the real store and the in-process executor.
"""

from __future__ import annotations

import test_search

from lossevo.loss.reference import reference_loss
from lossevo.report.run_report import run_verdict
from lossevo.runs.store import RunStore, spec_of
from lossevo.search.config import SearchConfig
from lossevo.search.leaderboard import hall_of_fame, search_config
from lossevo.search.run import resume_search, start_search

TINY = {**test_search.TINY, "verdict_top": 1, "verdict_seeds": 2}


def quiet(path, **settings):
    return start_search(path, SearchConfig(**{**TINY, **settings}), echo=lambda s: None,
                        progress=False)  # fmt: skip


def test_r9_extending_the_generations_judges_the_final_top_only(tmp_path):
    """R9: ``search --generations 1`` then ``resume --generations 3`` judged every function
    that had ever reached the verdict; the verdict must be the top ``verdict_top`` at the end
    and the controls, as in a straight run."""
    run = quiet(tmp_path / "run", generations=1, seed=0)  # a seed whose top changes
    with RunStore.open(run, kind="search", readonly=True) as store:
        first_top, first_name = (hall_of_fame(store)[0][k] for k in ("fingerprint", "text"))
    resume_search(run, overrides={"generations": 3}, progress=False, echo=lambda s: None)
    with RunStore.open(run, kind="search", readonly=True) as store:
        config = search_config(store)
        top = hall_of_fame(store, config)[0]["fingerprint"]
        trained = {e["fingerprint"] for e in store.evaluations(stage="verdict")}
        result = run_verdict(store, config)
    assert top != first_top and first_top in trained  # the old finalist was trained...
    assert first_name not in result["candidates"]  # ...and is no longer judged
    assert len(result["candidates"]) == config.verdict_top + len(config.controls) - 1
    assert result["complete"]


def test_a_seed_formula_equal_to_a_control_is_that_control(tmp_path):
    """A candidate is its full spec, so the space's BCE seed is the BCE control's row: it is
    neither screened again nor raced as new, and the store holds one row for it."""
    run = quiet(tmp_path / "run", space="ganetic", generations=1, population=4)
    bce = reference_loss("bce")
    with RunStore.open(run, kind="search", readonly=True) as store:
        rows = [r for r in store.candidates() if spec_of(r).key == bce.key]
        outcomes = store.generations()[0]["stats"]["outcomes"]
    assert len(rows) == 1 and rows[0]["role"] == "baseline"
    assert rows[0]["fingerprint"] not in outcomes  # a control never races as an entrant
