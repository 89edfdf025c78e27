"""Tests for the run store: real SQLite files, and a real subprocess killed with SIGKILL."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lossevo.fitness.scores import checkpoint_curve, steps_trained
from lossevo.loss.reference import LossSpec
from lossevo.runs.store import (
    SCHEMA_VERSION,
    RunStore,
    StoreError,
    rng_state_from_json,
    rng_state_to_json,
    spec_of,
    write_table,
)

CONFIG = {"seed": 1, "population": 8, "space": "default", "budgets": [100, 400]}


def snapshot(path: Path) -> dict[str, str]:
    """Name -> sha256 of every file under ``path`` (the whole tree, so new files show too)."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def result(status="ok", fitness=1.0, **extra):
    return dict(
        {
            "status": status,
            "fitness": fitness,
            "metrics": {"fid": fitness},
            "curves": {"d_loss": [1.0, 0.5]},
            "seconds": 2.5,
            "error": None,
            "attempts": 1,
        },
        **extra,
    )


@pytest.fixture
def store(tmp_path):
    with RunStore.create(tmp_path / "run", CONFIG) as s:
        yield s


def test_create_open_round_trip(tmp_path):
    run = tmp_path / "a" / "run"
    with RunStore.create(run, CONFIG, kind="replay") as s:
        s.log("start", "hello")
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "run.db", "run.lock"]
    with RunStore.open(run, kind="replay") as s:
        assert {k: s.config[k] for k in CONFIG} == CONFIG
        versions = s.config["library_versions"]
        assert set(versions) >= {"python", "lossevo", "torch", "deap", "sympy", "numpy", "ray"}
        assert versions["python"] and versions["sympy"]
        assert isinstance(s.config["created"], float)
        digest = {k: s.meta.pop(k) for k in ("config", "config_digest")}
        assert s.meta == {"schema_version": str(SCHEMA_VERSION), "kind": "replay"}
        assert json.loads(digest["config"]) == s.config and len(digest["config_digest"]) == 64
        assert [(e["kind"], e["message"]) for e in s.events()] == [("start", "hello")]
    conn = sqlite3.connect(run / "run.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_create_refuses_existing_run(tmp_path):
    run = tmp_path / "run"
    RunStore.create(run, CONFIG).close()
    before = snapshot(run)
    with pytest.raises(StoreError, match="already holds a run"):
        RunStore.create(run, {"seed": 2})
    assert snapshot(run) == before


def test_open_refusals_leave_files_identical(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(StoreError, match="does not exist") as err:
        RunStore.open(missing)
    assert "\n" not in str(err.value) and not missing.exists()

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("x")
    before = snapshot(plain)
    with pytest.raises(
        StoreError,
        match=r"not a lossevo run directory \(no run.db\); start one "
        r"with 'lossevo search --run-dir ",
    ):
        RunStore.open(plain)
    assert snapshot(plain) == before

    run = tmp_path / "run"
    RunStore.create(run, CONFIG, kind="search").close()
    before = snapshot(run)
    with pytest.raises(StoreError, match="holds a search run, not a replay run"):
        RunStore.open(run, kind="replay")
    assert snapshot(run) == before

    conn = sqlite3.connect(run / "run.db")
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    before = snapshot(run)
    with pytest.raises(
        StoreError, match=rf"newer lossevo \(schema 99 > {SCHEMA_VERSION}\); upgrade lossevo"
    ):
        RunStore.open(run)
    assert snapshot(run) == before

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "run.db").write_bytes(b"not a database" * 100)
    (junk / "config.json").write_text("{}")
    before = snapshot(junk)
    with pytest.raises(StoreError, match="not a readable lossevo run database"):
        RunStore.open(junk)
    assert snapshot(junk) == before


def test_candidates(store):
    spec = LossSpec.from_formula("y_real*log(y_pred)")
    fields = dict(verdict="passed", detail="", fingerprint="fp1", first_generation=0)
    assert store.put_candidate(spec, **fields)
    assert not store.put_candidate(spec, **dict(fields, verdict="non_finite"))  # first wins
    other = LossSpec.from_formula("y_real*y_pred")
    assert store.put_candidate(other, verdict="non_finite", detail="inf", first_generation=1)
    store.put_candidate(LossSpec.from_formula("y_pred"), verdict="missing_leaf")
    got = store.get_candidate(spec.key)
    assert {k: got[k] for k in fields} == fields and got["created"] > 0
    assert (got["formula"], got["text"], got["complexity"]) == (
        spec.expr.formula,
        spec.expr.text,
        spec.expr.complexity,
    )
    assert spec_of(got).key == spec.key and spec_of(got).transform == "sigmoid"
    assert store.get_candidate("nope") is None
    leafless = LossSpec.from_formula("y_pred")
    assert [c["key"] for c in store.candidates()] == [spec.key, other.key, leafless.key]
    assert [c["key"] for c in store.candidates("non_finite")] == [other.key]
    assert store.rejection_counts() == {"missing_leaf": 1, "non_finite": 1}


def test_evaluations_and_unique_triple(store):
    assert store.put_evaluation("fp", "k1", 0, 100, result(fitness=3.0))
    assert not store.put_evaluation("fp", "k2", 0, 100, result(fitness=9.0))  # ignored
    got = store.get_evaluation("fp", 0, 100)
    assert got["fitness"] == 3.0 and got["key"] == "k1"
    assert got["metrics"] == {"fid": 3.0} and got["curves"] == {"d_loss": [1.0, 0.5]}
    assert got["status"] == "ok" and got["attempts"] == 1 and got["error"] is None
    assert store.get_evaluation("fp", 1, 100) is None
    store.put_evaluation(
        "other", "k9", 0, 100, result(status="failed", fitness=None, error="boom", attempts=3)
    )
    assert len(store.evaluations()) == 2 and len(store.evaluations("fp")) == 1
    assert store.evaluations("other")[0]["error"] == "boom"
    with pytest.raises(ValueError, match="status"):
        store.put_evaluation("fp", "k1", 5, 100, result(status="weird"))


def test_fitness_summary_by_hand(store):
    assert store.fitness_summary("none") == {
        "budget": None,
        "n": 0,
        "mean": None,
        "std": None,
        "seeds": [],
        "diverged": 0,
        "failed": 0,
    }
    store.put_evaluation("fp", "k", 0, 100, result(fitness=10.0))  # lower budget: ignored
    for seed, fitness in [(2, 1.0), (0, 2.0), (1, 4.0)]:
        store.put_evaluation("fp", "k", seed, 400, result(fitness=fitness))
    store.put_evaluation("fp", "k", 3, 400, result(status="diverged", fitness=None))
    store.put_evaluation("fp", "k", 4, 400, result(status="failed", fitness=None))
    store.put_evaluation("fp", "k", 0, 800, result(status="diverged", fitness=None))
    s = store.fitness_summary("fp")
    # mean (1 + 2 + 4) / 3 = 7/3; sample variance ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = 7/3
    assert s["budget"] == 400 and s["n"] == 3 and s["seeds"] == [0, 1, 2]
    assert s["mean"] == pytest.approx(7 / 3) and s["std"] == pytest.approx((7 / 3) ** 0.5)
    assert (s["diverged"], s["failed"]) == (1, 1)
    store.put_evaluation("one", "k", 0, 100, result(fitness=5.0))
    assert store.fitness_summary("one")["std"] == 0.0
    store.put_evaluation("bad", "k", 0, 100, result(status="diverged", fitness=None))
    bad = store.fitness_summary("bad")
    assert (bad["budget"], bad["n"], bad["mean"], bad["diverged"]) == (100, 0, None, 1)


def test_rng_state_round_trip():
    rng = random.Random(12345)
    rng.gauss(0, 1)  # leaves a cached gauss_next, so the third field is a float
    state = rng.getstate()
    assert state[2] is not None
    text = rng_state_to_json(state)
    json.loads(text)
    expected = [rng.random() for _ in range(5)] + [rng.gauss(0, 1)]
    rng.seed(0)
    rng.setstate(rng_state_from_json(text))
    assert rng_state_from_json(text) == state
    assert [rng.random() for _ in range(5)] + [rng.gauss(0, 1)] == expected
    saved = random.getstate()
    random.setstate(rng_state_from_json(rng_state_to_json(random.getstate())))
    assert random.getstate() == saved


def test_generations(store):
    assert store.last_generation() is None
    rng = random.Random(7)
    store.put_generation(0, ["a", "b"], rng.getstate(), {"best": 1.5})
    rng.random()
    store.put_generation(1, ["c"], rng.getstate(), {"best": 1.0})
    last = store.last_generation()
    assert last["generation"] == 1 and last["population"] == ["c"]
    assert last["stats"] == {"best": 1.0} and last["rng_state"] == rng.getstate()
    assert [g["generation"] for g in store.generations()] == [0, 1]
    with pytest.raises(StoreError, match="generation 1 is already stored"):
        store.put_generation(1, ["d"], None, {})


def test_views(store, tmp_path):
    spec = LossSpec.from_formula("y_pred*log(y_real)")
    store.put_candidate(spec, verdict="passed")
    store.put_evaluation("fp", "k", 0, 100, result(fitness=0.5))
    store.put_generation(0, ["k"], random.Random(1).getstate(), {})
    path = tmp_path / "views" / "hall_of_fame.csv"
    rows = [{"text": 'a, "b"', "fitness": 0.5, "metrics": {"fid": 1}, "x": None, "extra": 1}]
    write_table(path, rows, ["text", "fitness", "metrics", "x"])
    with open(path, newline="") as f:
        assert list(csv.reader(f)) == [
            ["text", "fitness", "metrics", "x"],
            ['a, "b"', "0.5", '{"fid": 1}', ""],
        ]
    assert RunStore.write_table is write_table
    store.export_json(tmp_path / "export.json")
    data = json.loads((tmp_path / "export.json").read_text())
    assert [c["key"] for c in data["candidates"]] == [spec.key]
    assert data["evaluations"][0]["metrics"] == {"fid": 0.5}
    assert (
        rng_state_from_json(json.dumps(data["generations"][0]["rng_state"]))
        == random.Random(1).getstate()
    )
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_check_config(store):
    store.check_config(
        {"seed": 1, "population": 8, "budgets": (100, 400)}, ["seed", "population", "budgets"]
    )
    store.check_config({"seed": None, "other": 5}, ["seed"])  # None = not given
    with pytest.raises(StoreError) as err:
        store.check_config({"seed": 3, "population": 9}, ["population", "seed"])
    assert str(err.value) == (
        "--population 9 contradicts the stored run (population=8); "
        "resume without it or start a new run"
    )
    with pytest.raises(StoreError, match=r"^--seed 3 contradicts the stored run \(seed=1\)"):
        store.check_config({"seed": 3}, ["seed"])


def test_committed_writes_survive_sigkill(tmp_path):
    run = tmp_path / "run"
    RunStore.create(run, CONFIG).close()
    code = textwrap.dedent(f"""
        import os, signal
        from lossevo.runs.store import RunStore
        store = RunStore.open({str(run)!r})
        for seed in range(50):
            store.put_evaluation("fp", "k", seed, 100,
                                 {{"status": "ok", "fitness": float(seed), "metrics": {{}}}})
        store.log("crash", "about to be killed")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert (run / "run.db-wal").exists()  # the killed writer never checkpointed
    with RunStore.open(run) as s:
        rows = s.evaluations("fp")
        assert [r["seed"] for r in rows] == list(range(50))
        assert [r["fitness"] for r in rows] == [float(i) for i in range(50)]
        assert s.events()[-1]["kind"] == "crash"
        s.put_evaluation("fp", "k", 50, 100, result())  # and the run is writable again
    with RunStore.open(run) as s:
        assert len(s.evaluations()) == 51


def test_stages_and_roles_have_their_own_columns(store):
    # one loss, one seed, one budget, two stages: two results, neither hides the other
    assert store.put_evaluation("fp", "k", 0, 100, result(fitness=1.0), stage="mnist")
    assert store.put_evaluation("fp", "k", 0, 100, result(fitness=2.0), stage="cifar")
    assert not store.put_evaluation("fp", "k", 0, 100, result(fitness=9.0), stage="cifar")
    assert store.get_evaluation("fp", 0, 100, stage="cifar")["fitness"] == 2.0
    assert store.get_evaluation("fp", 0, 100) is None  # the default stage is "search"
    assert [e["stage"] for e in store.evaluations("fp")] == ["mnist", "cifar"]
    assert [e["fitness"] for e in store.evaluations(stage="mnist")] == [1.0]
    bce = LossSpec.from_formula("-y_real*log(y_pred)")
    store.put_candidate(bce, key="c", verdict="passed", fingerprint="fp")
    store.put_candidate(bce, key="b", role="baseline", fingerprint="fp")
    assert [(c["key"], c["role"], c["verdict"]) for c in store.candidates()] == [
        ("c", "candidate", "passed"),
        ("b", "baseline", None),
    ]
    assert [c["key"] for c in store.candidates(role="baseline")] == ["b"]
    assert store.rejection_counts() == {}  # a baseline is no screening outcome
    with pytest.raises(ValueError, match="role"):
        store.put_candidate(bce, key="x", role="referee")


def test_one_formula_under_two_transforms_is_two_candidates(store):
    """The candidate is its full spec: a raw and a sigmoid version of one formula do not
    collide (they did when the key was the expression alone), and each row reads back as its
    own spec for training and export."""
    sigmoid = LossSpec.from_formula("(y_pred - y_real)**2")
    raw = LossSpec.from_formula("(y_pred - y_real)**2", transform="raw")
    assert sigmoid.key != raw.key and sigmoid.expr.key == raw.expr.key
    assert store.put_candidate(sigmoid, verdict="passed", fingerprint="a")
    assert store.put_candidate(raw, verdict="passed", fingerprint="b")
    rows = store.candidates()
    assert [spec_of(r).transform for r in rows] == ["sigmoid", "raw"]
    assert [spec_of(r).key for r in rows] == [sigmoid.key, raw.key]


def test_checkpoint_scores_are_kept(store):
    """The store keeps the scores of one training at its checkpoints (racing on curves)."""
    out = result(fitness=5.0)
    out["checkpoints"] = {"50": {"fitness": 9.0, "kid": 0.1}, "100": {"fitness": 7.0}}
    store.put_evaluation("fp", "k", 0, 200, out)
    row = store.get_evaluation("fp", 0, 200)
    assert row["checkpoints"]["50"]["fitness"] == 9.0
    assert checkpoint_curve(row) == {50: 9.0, 100: 7.0, 200: 5.0}
    assert steps_trained(row) == 200
