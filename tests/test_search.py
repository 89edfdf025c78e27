"""The search end to end with the real store, executors and the seconds-cheap probe task."""

import json
import shutil
import sqlite3

import pytest
from cli_harness import run_cli

from lossevo.loss.expr import LossExpr
from lossevo.runs.store import RunStore
from lossevo.search.config import PENALTY, SearchConfig
from lossevo.search.leaderboard import hall_of_fame
from lossevo.search.run import resume_search, start_search
from lossevo.search.standing import standing

TINY = dict(
    space="minimal",
    population=6,
    generations=3,
    seed=3,
    steps=60,
    race_min_seeds=2,
    race_max_seeds=3,
    verdict_top=2,
    verdict_seeds=3,
    verdict_steps=60,
    task="probe",
    variation_attempts=20,  # children drawn per place: enough for these tests, fewer screened
)


def tiny(**kw) -> SearchConfig:
    return SearchConfig(**{**TINY, **kw})


def evaluation_rows(store: RunStore) -> list[tuple]:
    """Every evaluation as what must be identical between equal runs (timings aside)."""
    return sorted(
        (
            e["stage"],
            e["fingerprint"],
            e["seed"],
            e["budget"],
            e["status"],
            e["fitness"],
            e["steps"],  # where an early stop happened
            json.dumps(e["metrics"], sort_keys=True),
            json.dumps(e["checkpoints"], sort_keys=True),
        )
        for e in store.evaluations()
    )


def snapshot(run_dir) -> dict:
    """The store's content without timings: what must be identical between equal runs."""
    with RunStore.open(run_dir, kind="search") as store:
        cands = sorted(
            (c["key"], c["verdict"], c["fingerprint"], c["first_generation"], c["origin"])
            + tuple(c["parents"] or ())
            for c in store.candidates()
        )
        evals = evaluation_rows(store)
        gens = [
            (
                g["generation"],
                g["population"],
                g["rng_state"],
                json.dumps(g["stats"], sort_keys=True),
            )
            for g in store.generations()
        ]
        hof = [(r["key"], r["fitness"]) for r in hall_of_fame(store)]
    return {"candidates": cands, "evaluations": evals, "generations": gens, "hof": hof}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One finished tiny search and what it printed; tests read it or work on a copy."""
    lines: list[str] = []
    root = tmp_path_factory.mktemp("tiny")
    run = start_search(root / "run", tiny(), progress=False, echo=lines.append)
    return run, "\n".join(lines)


def copy_of(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def test_tiny_search_completes_and_writes_views(tiny_run):
    run, out = tiny_run
    snap = snapshot(run)
    assert len(snap["generations"]) == 3 and snap["hof"]
    assert (run / "hall_of_fame.csv").read_text().startswith("rank,")
    assert (run / "pareto.csv").exists()
    assert "controls, same seeds" in out and "bce" in out and "ganetic" in out
    assert "× BCE" in out
    with RunStore.open(run, kind="search") as store:
        best = hall_of_fame(store)[0]
        assert best["seeds"] >= 2  # every function starts on race_min_seeds
        assert store.rejection_counts()  # screening did reject something
        verdict = store.evaluations(stage="verdict")
        assert len(verdict) == (2 + 3) * 3  # top 2 and the three controls on 3 fresh seeds


def test_same_seed_same_store(tiny_run, tmp_path):
    a = snapshot(tiny_run[0])
    b = snapshot(start_search(tmp_path / "b", tiny(), progress=False, echo=lambda s: None))
    assert a == b
    c = snapshot(start_search(tmp_path / "c", tiny(seed=4), progress=False, echo=lambda s: None))
    assert c["generations"] != a["generations"]


def test_elites_survive(tiny_run):
    """Generation g's two best (fitness, then formula text, as selection ranks them) open
    generation g+1's population, so the best fitness never gets worse."""
    run = tiny_run[0]
    assert tiny().elites == 2
    with RunStore.open(run, kind="search") as store:
        gens = store.generations()
        fitness = {r["fingerprint"]: r["fitness"] for r in standing(store, tiny(), every=True)}
        candidates = {LossExpr.from_text(c["formula"]).key: c for c in store.candidates()}

    def value(formula: str) -> float:  # a seed equal to a control is that control's row
        cand = candidates[LossExpr.from_text(formula).key]
        ok = cand["verdict"] == "passed" or cand["role"] == "baseline"
        found = fitness.get(cand["fingerprint"]) if ok else None
        return PENALTY if found is None else found

    assert len(gens) == 3
    for before, after in zip(gens, gens[1:], strict=False):
        ranked = sorted(before["population"], key=lambda f: (value(f), f))
        assert after["population"][:2] == ranked[:2]
        assert value(ranked[0]) < PENALTY  # a real function, not two penalised ones
        assert after["stats"]["best"] <= before["stats"]["best"]


def test_resume_extends_a_finished_run(tmp_path):
    """A warm start: the stored generations stay, new ones follow (the final re-evaluation of
    the first leg informs selection, so it need not equal a longer uninterrupted run)."""
    run = start_search(tmp_path / "run", tiny(generations=2), progress=False, echo=lambda s: None)
    first = snapshot(run)
    resume_search(run, overrides={"generations": 3}, progress=False, echo=lambda s: None)
    second = snapshot(run)
    assert second["generations"][:2] == first["generations"]
    assert len(second["generations"]) == 3


# Killing a search (while racing, and while the verdict trains) and resuming it to the
# uninterrupted store is tests/test_faults.py's scenario.


def test_resume_errors_leave_the_run_untouched(tiny_run, tmp_path):
    run = copy_of(tiny_run[0], tmp_path)
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for args, message in [
        (["resume", str(tmp_path)], "not a lossevo run directory"),
        (["resume", str(run), "--seed", "9"], "contradicts the stored run"),
        (
            ["resume", str(run), "--workers", "2", "--ray-address", "127.0.0.1:1"],
            "cannot reach a Ray cluster",
        ),
    ]:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1
    assert files == {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_newer_schema_is_refused(tiny_run, tmp_path):
    run = copy_of(tiny_run[0], tmp_path)
    with sqlite3.connect(run / "run.db") as db:
        db.execute("update meta set value='99' where key='schema_version'")
    result = run_cli("show", str(run))
    assert result.returncode == 2 and "newer lossevo" in result.stderr
