"""The run database's schema upgrade: a version-1 run directory (the schema lossevo wrote before
roles and stages had their own columns) is upgraded in place, or refused and left untouched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from cli_harness import run_cli

from lossevo.loss.expr import LossExpr
from lossevo.loss.reference import LossSpec, reference_loss, spec_key
from lossevo.runs import schema
from lossevo.runs.store import SCHEMA_VERSION, RunStore, StoreError, spec_of
from lossevo.search.leaderboard import controls

#: The version-1 schema, copied verbatim from lossevo/runs/store.py before version 2.
SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE candidates (
    key TEXT PRIMARY KEY, formula TEXT, text TEXT, latex TEXT, complexity INTEGER,
    verdict TEXT NOT NULL, detail TEXT, fingerprint TEXT, first_generation INTEGER,
    created REAL NOT NULL);
CREATE INDEX candidates_verdict ON candidates (verdict);
CREATE INDEX candidates_fingerprint ON candidates (fingerprint);
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, key TEXT, seed INTEGER NOT NULL,
    budget INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed')),
    fitness REAL, metrics TEXT, curves TEXT, seconds REAL, error TEXT, attempts INTEGER,
    created REAL NOT NULL, UNIQUE (fingerprint, seed, budget));
CREATE INDEX evaluations_key ON evaluations (key);
CREATE TABLE generations (
    generation INTEGER PRIMARY KEY, population TEXT NOT NULL, rng_state TEXT, stats TEXT,
    created REAL NOT NULL);
CREATE TABLE events (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
"""

SEARCH_CANDIDATES = [  # key, formula, text, latex, complexity, verdict, detail, fp, gen, created
    ("k1", "log(y_pred)", "log(y_pred)", r"\log", 2, "passed", "", "fp1", 0, 1.5),
    ("k2", "y_pred", "y_pred", "y", 1, "missing_leaf", "no y_real", None, 0, 2.5),
    ("baseline:bce", "bce", "bce", "b", 5, "baseline", "BCE", "fp9", -1, 3.5),
]
V1_CANDIDATE_COLUMNS = (
    "key",
    "formula",
    "text",
    "latex",
    "complexity",
    "verdict",
    "detail",
    "fingerprint",
    "first_generation",
    "created",
)
V1_EVALUATION_COLUMNS = (
    "id",
    "fingerprint",
    "key",
    "seed",
    "budget",
    "status",
    "fitness",
    "metrics",
    "curves",
    "seconds",
    "error",
    "attempts",
    "created",
)
METRICS, CURVES = json.dumps({"fid": 3.0}), json.dumps({"d_loss": [1.0, 0.5]})


def evaluation(row_id: int, fp: str, key: str, seed: int, status="ok", fitness=3.0) -> tuple:
    return (row_id, fp, key, seed, 40, status, fitness, METRICS, CURVES, 2.0, None, 1, 9.5)


def make_v1(run: Path, kind: str, candidates: list[tuple], evaluations: list[tuple]) -> Path:
    """A version-1 run directory, written with the old schema's SQL."""
    run.mkdir(parents=True)
    search = {"task": "probe", "full_steps": 40, "generations": 1}
    (run / "config.json").write_text(json.dumps({"kind": kind, "search": search}))
    conn = sqlite3.connect(run / "run.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript("BEGIN;" + SCHEMA_V1 + "COMMIT;")
    with conn:
        conn.executemany(
            "INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("kind", kind)]
        )
        conn.executemany("INSERT INTO candidates VALUES (?,?,?,?,?,?,?,?,?,?)", candidates)
        conn.executemany("INSERT INTO evaluations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", evaluations)
        stats = json.dumps({"best": 3.0, "median": 3.0, "median_valid": 3.0})
        conn.execute("INSERT INTO generations VALUES (0, '[\"y_pred\"]', NULL, ?, 4.5)", (stats,))
        conn.execute("INSERT INTO events VALUES (1, 5.5, 'start', 'hello')")
    conn.close()
    return run


def files(run: Path) -> dict[str, str]:
    """The run's data files by digest; run.lock is the store's lock (it holds only a PID)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.iterdir())
        if p.name != "run.lock"
    }


def v3_key(old: str) -> str:
    """A search candidate's key after version 3: its spec's digest (these runs stored no space,
    so candidates take the default transform and generator; baselines their built-in ones)."""
    if old.startswith("baseline:"):
        return reference_loss(old.split(":", 1)[1]).key
    return spec_key(old, "sigmoid", "non_saturating")


def test_search_run_v1_is_upgraded_and_reads_the_same(tmp_path):
    evals = [evaluation(1, "fp1", "k1", 0), evaluation(2, "fp9", "baseline:bce", 0, fitness=4.0)]
    run = make_v1(tmp_path / "run", "search", SEARCH_CANDIDATES, evals)
    with RunStore.open(run, kind="search") as store:
        assert store.meta["schema_version"] == str(SCHEMA_VERSION)
        got = {c["key"]: c for c in store.candidates()}
        keys = ["k1", "k2", "baseline:bce"]
        assert [c["key"] for c in store.candidates()] == [v3_key(k) for k in keys]
        for row in SEARCH_CANDIDATES:  # every column but the verdict and key reads the same
            old = dict(zip(V1_CANDIDATE_COLUMNS, row, strict=True))
            new = got[v3_key(old.pop("key"))]
            del old["verdict"]
            assert {k: new[k] for k in old} == old
        assert [(c["name"], c["transform"]) for c in got.values()] == [
            (None, "sigmoid"),
            (None, "sigmoid"),
            ("bce", "sigmoid"),
        ]
        # the role moved out of the verdict; screening verdicts stay
        assert [(got[k]["verdict"], got[k]["role"]) for k in got] == [
            ("passed", "candidate"),
            ("missing_leaf", "candidate"),
            (None, "baseline"),
        ]
        assert store.rejection_counts() == {"missing_leaf": 1}
        assert [b["text"] for b in controls(store)] == ["bce"]
        rows = store.evaluations()
        assert [(r["id"], r["fingerprint"], r["key"], r["seed"], r["budget"]) for r in rows] == [
            (1, "fp1", v3_key("k1"), 0, 40),
            (2, "fp9", v3_key("baseline:bce"), 0, 40),
        ]
        assert all(r["stage"] == "search" for r in rows)
        for row, old in zip(rows, evals, strict=True):  # every old column reads the same
            decoded = dict(zip(V1_EVALUATION_COLUMNS, old, strict=True))
            decoded.update(metrics=json.loads(decoded["metrics"]), curves=json.loads(CURVES))
            decoded["key"] = v3_key(decoded["key"])
            assert {k: row[k] for k in decoded} == decoded
        assert store.get_evaluation("fp1", 0, 40)["curves"] == {"d_loss": [1.0, 0.5]}
        assert store.fitness_summary("fp1")["mean"] == 3.0
        assert store.generations()[0]["population"] == ["y_pred"]
        assert [(e["kind"], e["message"]) for e in store.events()] == [("start", "hello")]
        # the upgraded database takes new rows with the new columns
        assert store.put_evaluation("fp1", "k1", 1, 40, {"status": "ok", "fitness": 1.0})
    with RunStore.open(run, kind="search") as store:  # a second open changes nothing
        assert len(store.evaluations()) == 3


def test_promotion_v1_stages_move_out_of_the_fingerprint(tmp_path):
    candidates = [
        ("rank1", "f", "f", None, 3, "candidate", None, "fpA", -1, 1.0),
        ("bce", "b", "b", None, 5, "baseline", None, "fpB", -1, 2.0),
    ]
    evals = [
        evaluation(1, "mnist/fpA", "rank1", 0),
        evaluation(2, "cifar/32px/fpB", "bce", 0),  # a stage name may hold a '/'
        evaluation(3, "cifar/32px/fpA", "rank1", 0),
    ]
    run = make_v1(tmp_path / "promo", "promote", candidates, evals)
    with RunStore.open(run, kind="promote") as store:
        got = [(r["stage"], r["fingerprint"], r["key"]) for r in store.evaluations()]
        assert got == [
            ("mnist", "fpA", "rank1"),
            ("cifar/32px", "fpB", "bce"),
            ("cifar/32px", "fpA", "rank1"),
        ]
        assert [(c["role"], c["verdict"]) for c in store.candidates()] == [
            ("candidate", None),
            ("baseline", None),
        ]
        assert store.get_evaluation("fpA", 0, 40, stage="cifar/32px")["id"] == 3
        assert len(store.evaluations("fpA", stage="mnist")) == 1


def test_replay_v1_losses_get_their_role(tmp_path):
    candidates = [("bce", "b", "b", None, 5, "replay", None, "fpB", -1, 2.0)]
    run = make_v1(tmp_path / "rep", "replay", candidates, [evaluation(1, "fpB", "bce", 0)])
    with RunStore.open(run, kind="replay") as store:
        (c,) = store.candidates()
        assert (c["role"], c["verdict"], c["fingerprint"]) == ("replay-loss", None, "fpB")
        assert store.evaluations()[0]["stage"] == "replay"


def test_unupgradable_v1_is_refused_in_one_line_and_left_identical(tmp_path):
    # a promotion evaluation without a stage cannot be placed: refuse, change nothing
    candidates = [("rank1", "f", "f", None, 3, "candidate", None, "fpA", -1, 1.0)]
    run = make_v1(tmp_path / "bad", "promote", candidates, [evaluation(1, "fpA", "rank1", 0)])
    before = files(run)
    with pytest.raises(StoreError, match="has schema 1 and cannot be upgraded to") as err:
        RunStore.open(run, kind="promote")
    assert "\n" not in str(err.value)
    assert files(run) == before


def test_newer_schema_is_refused_and_left_identical(tmp_path):
    run = make_v1(tmp_path / "new", "search", SEARCH_CANDIDATES, [])
    with sqlite3.connect(run / "run.db") as conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    conn.close()
    before = files(run)
    with pytest.raises(StoreError, match="newer lossevo") as err:
        RunStore.open(run)
    assert "\n" not in str(err.value)
    assert files(run) == before


def test_show_reads_an_old_search_run_through_the_cli(tmp_path):
    evals = [evaluation(1, "fp1", "k1", 0), evaluation(2, "fp9", "baseline:bce", 0, fitness=4.0)]
    run = make_v1(tmp_path / "run", "search", SEARCH_CANDIDATES, evals)
    result = run_cli("show", str(run), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "log(y_pred)" in result.stdout  # the candidate, ranked
    assert "controls, same seeds" in result.stdout and "bce" in result.stdout
    assert "screening verdicts: passed 1, missing_leaf 1" in result.stdout  # no "baseline"


def test_search_run_v2_moves_to_full_specs_keyed_by_digest(tmp_path):
    """Version 2 keyed a search's candidates by their expression and applied the stored space's
    transform to every row; version 3 stores each row's spec and keys it by the spec's digest,
    so ``spec_of(row)`` gives back exactly the loss that was trained."""
    run = tmp_path / "v2"
    run.mkdir()
    space = {"transform": "raw", "generator": "minimax"}
    (run / "config.json").write_text(json.dumps({"search": {"task": "probe"}, "space": space}))
    conn = sqlite3.connect(run / "run.db", isolation_level=None)
    conn.executescript("BEGIN;" + schema.SCHEMA.split("ALTER TABLE")[0] + "COMMIT;")
    expr = LossExpr.from_text("(y_pred - y_real)**2")
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("schema_version", "2"), ("kind", "search")]
    )
    insert = (
        "INSERT INTO candidates (key, formula, text, complexity, verdict, fingerprint, "
        "first_generation, created, role) VALUES (?, ?, ?, ?, ?, ?, ?, 1.0, ?)"
    )
    conn.execute(insert, (expr.key, expr.formula, expr.text, 5, "passed", "fpA", 0, "candidate"))
    conn.execute(insert, ("baseline:bce", "x", "bce", 9, None, "fpB", -1, "baseline"))
    conn.execute(
        "INSERT INTO evaluations (fingerprint, key, seed, budget, status, fitness, created, stage)"
        " VALUES ('fpA', ?, 0, 40, 'ok', 2.0, 1.0, 'search')",
        (expr.key,),
    )
    conn.close()
    with RunStore.open(run, kind="search") as store:
        candidate, baseline = store.candidates()
        spec = spec_of(candidate)
        assert (spec.transform, spec.generator) == ("raw", "minimax")
        assert candidate["key"] == spec.key == LossSpec("x", expr, "raw", "minimax").key
        assert (baseline["key"], baseline["name"]) == (reference_loss("bce").key, "bce")
        assert store.evaluations()[0]["key"] == spec.key
