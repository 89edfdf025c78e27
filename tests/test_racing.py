"""Racing, the budget and the verdict's seeds, with the real loop, store and probe task."""

import importlib.util
import json
import random
import sqlite3

import pytest
from cli_harness import ROOT, assert_one_line_error, run_cli
from test_search import snapshot, tiny

from lossevo.runs.store import RunStore
from lossevo.search.config import VERDICT_SEED_BASE
from lossevo.search.racing import RaceSettings, in_rounds, race
from lossevo.search.run import resume_search, start_search

BENCHMARK = ROOT / "experiments" / "racing_benchmark.py"


# ------------------------------------------------------------------- a planted answer
def _benchmark():
    """experiments/racing_benchmark.py: the planted problem is defined once, there."""
    spec = importlib.util.spec_from_file_location("racing_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_racing_finds_the_planted_best_as_often_as_fixed_seeds_for_fewer_trainings():
    settings = RaceSettings(min_seeds=2, max_seeds=4, alpha=0.2, paired=False)
    result = _benchmark().compare(settings, trials=60)
    race_hits, fixed_hits = result["race_hits"], result["fixed_hits"]
    raced, fixed = result["race_trainings"], result["fixed_trainings"]
    assert race_hits >= fixed_hits - 3, (race_hits, fixed_hits)  # as often, up to noise
    assert raced < 0.9 * fixed, (raced, fixed)  # ... for fewer trainings


def test_a_race_eliminates_the_clearly_worse_and_keeps_the_better():
    trained: set = set()
    values = {"good": 1.0, "bad": 3.0, "incumbent": 1.5}

    def score(name, seed):
        return values[name] * (1 + 0.01 * seed) if (name, seed) in trained else None

    out = race(["good", "bad"], "incumbent", RaceSettings(2, 5, 0.1),
               request=in_rounds(trained.update), score=score)  # fmt: skip
    assert out["bad"].status == "eliminated" and out["bad"].seeds == 2
    assert out["good"].status == "survived" and out["good"].seeds == 5
    assert ("bad", 2) not in trained  # no seed spent past the elimination


# ------------------------------------------------------------------- the search's seeds
def test_verdict_seeds_are_disjoint_from_every_seed_a_decision_used(tmp_path):
    run = start_search(tmp_path / "run", tiny(), progress=False, echo=lambda s: None)
    with RunStore.open(run, kind="search") as store:
        decided = {e["seed"] for e in store.evaluations(stage="search")}
        judged = {e["seed"] for e in store.evaluations(stage="verdict")}
    assert decided and judged and not decided & judged
    assert min(judged) >= VERDICT_SEED_BASE > max(decided)


def test_every_generation_trains_new_functions(tmp_path):
    config = tiny(population=8, elites=2, variation_attempts=50)  # the default's search for novelty
    run = start_search(tmp_path / "run", config, progress=False,
                       echo=lambda s: None)  # fmt: skip
    with RunStore.open(run, kind="search") as store:
        gens = store.generations()
        trained = {}
        for e in store.evaluations(stage="search"):
            trained.setdefault(e["fingerprint"], e["id"])
    # the non-elite places go to new functions: almost all of them, though a late generation
    # of a small space can fall one short when every random tree repeats a known function
    new = [g["stats"]["new_functions"] for g in gens[1:]]
    assert sum(new) >= 0.9 * (8 - 2) * len(new) - 1 and min(new) >= 0.75 * (8 - 2), new
    for g in gens[1:]:
        v = g["stats"]["variation"]
        assert v["attempts"] == v["accepted"] + sum(v["rejected"].values())
    # new means never trained before: each fingerprint races in one generation only
    outcomes = [set(g["stats"]["outcomes"]) for g in gens]
    for a in range(len(outcomes)):
        for b in range(a + 1, len(outcomes)):
            assert not outcomes[a] & outcomes[b]


def test_a_steps_budget_stops_the_generations_and_resume_extends_it(tmp_path):
    config = tiny(generations=20, budget="1000steps")
    run = start_search(tmp_path / "run", config, progress=False, echo=lambda s: None)
    with RunStore.open(run, kind="search") as store:
        first = len(store.generations())
        assert 1 <= first < 20
        assert store.evaluations(stage="verdict")  # the run finalised
        spent = sum(e["budget"] for e in store.evaluations(stage="search"))
    assert spent >= 1000  # the generation in flight when the budget ran out finished
    resume_search(run, overrides={"budget": "1000steps"}, progress=False, echo=lambda s: None)
    with RunStore.open(run, kind="search") as store:
        assert len(store.generations()) > first
        # 1,000 steps more than it had spent (R10: not more than its nominal budget)
        assert json.loads(store.meta["extensions"])["budget"] == f"{spent + 1000}steps"


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("budget", "message"),
    [("abc", "--budget must be"), ("0m", "--budget"), ("-5m", "--budget"), ("30", "--budget")],
)
def test_a_bad_budget_is_one_line(tmp_path, budget, message):
    result = run_cli("search", "--task", "probe", "--run-dir", str(tmp_path / "r"),
                     "--budget", budget, "--quiet", timeout=120)  # fmt: skip
    assert message in assert_one_line_error(result, code=2)
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return start_search(tmp_path_factory.mktemp("f") / "run", tiny(generations=1),
                        progress=False, echo=lambda s: None)  # fmt: skip


def _files(run):
    """The run's files; SQLite's shared-memory index (-shm) and the lock are not data."""
    skip = {"run.lock", "run.db-shm"}
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name not in skip}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--race-max-seeds", "5"], "contradicts the stored run"),
        (["--race-alpha", "0.05"], "contradicts the stored run"),
        (["--budget", "-1h"], "--budget"),
        (["--budget", "5m"], "extend it by training steps"),
    ],
)
def test_resume_refuses_contradicting_racing_settings(finished, tmp_path, args, message):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    if args[0] == "--budget" and args[1] == "5m":
        with sqlite3.connect(run / "run.db") as db:  # the run's own budget is in steps
            db.execute("INSERT INTO meta VALUES ('extensions', '{\"budget\": \"100steps\"}')")
    before = _files(run)
    result = run_cli("resume", str(run), *args, "--quiet", timeout=120)
    assert message in assert_one_line_error(result, code=2)
    assert _files(run) == before


@pytest.mark.parametrize(
    ("found", "words"),
    [(None, "format 2 (successive halving)"), (3, "format 3 (racing at a 200-step rung")],
)
def test_a_run_of_a_previous_search_format_is_refused_unchanged_and_still_shown(
    finished, tmp_path, found, words
):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    config = json.loads((run / "config.json").read_text())
    del config["search_format"]
    if found is not None:
        config["search_format"] = found
    (run / "config.json").write_text(json.dumps(config))
    with sqlite3.connect(run / "run.db") as db:  # pin the edited config: a real old run
        from lossevo.runs.pinned_config import digest_rows

        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", digest_rows(config))
    before = _files(run)
    result = run_cli("resume", str(run), "--quiet", timeout=120)
    assert words in assert_one_line_error(result, code=2)
    assert _files(run) == before
    shown = run_cli("show", str(run), timeout=120)
    assert shown.returncode == 0 and "rank" in shown.stdout, shown.stderr


def test_the_race_is_reproducible(tmp_path):
    random.seed(0)
    a = snapshot(start_search(tmp_path / "a", tiny(generations=2), progress=False,
                              echo=lambda s: None))  # fmt: skip
    b = snapshot(start_search(tmp_path / "b", tiny(generations=2), progress=False,
                              echo=lambda s: None))  # fmt: skip
    assert a == b


def test_show_json_holds_leaderboard_generations_and_verdict(finished):
    result = run_cli("show", str(finished), "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["leaderboard"] and data["controls"]
    assert [g["generation"] for g in data["generations"]] == [0]
    assert data["verdict"]["sentence"].startswith("On 3 fresh seeds")
    assert data["verdict"]["seeds"] == [1000, 1001, 1002]


def test_show_puts_the_search_fitness_beside_the_verdict(finished):
    """Per function judged, its fitness in the search, its ratio on fresh
    seeds and the shrinkage, with the Kendall tau between the two; in show and show --json."""
    data = json.loads(run_cli("show", str(finished), "--json", timeout=120).stdout)
    svv, verdict = data["search_vs_verdict"], data["verdict"]
    by_name = {r["name"]: r for r in svv["functions"]}
    assert set(by_name) == {*verdict["candidates"], "bce"}
    assert by_name["bce"]["search_fitness"] == by_name["bce"]["verdict_ratio"] == 1.0
    leaderboard = {r["text"]: r["fitness"] for r in data["leaderboard"]}
    for name, judged in verdict["candidates"].items():
        row = by_name[name]
        assert row["verdict_ratio"] == judged["ratio"] and row["fresh_seeds"] == 3
        assert row["shrinkage"] == pytest.approx(row["verdict_ratio"] / row["search_fitness"])
        if name in leaderboard:
            assert row["search_fitness"] == leaderboard[name]
    assert svv["n"] == len(by_name) and -1 <= svv["kendall_tau"] <= 1
    shown = run_cli("show", str(finished), timeout=120).stdout
    assert "Search fitness beside the verdict" in shown
    assert f"Kendall tau between search fitness and verdict over {svv['n']} functions" in shown
