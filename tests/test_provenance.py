"""Provenance: every candidate of a search records how it was made (seed formula, control,
random tree, or offspring with its parents' keys), and every leaderboard and verdict row
shows it. Real tiny searches on the probe task; a real version-3 database upgraded in place."""

import json
import sqlite3

import pytest
import test_search
from cli_harness import run_cli

from lossevo.runs import schema
from lossevo.runs.store import RunStore
from lossevo.search.leaderboard import hall_of_fame, leaderboard_text
from lossevo.search.provenance import (
    CONTROL,
    OFFSPRING,
    ORIGINS,
    RANDOM,
    SEED,
    provenance_fields,
)
from lossevo.search.run import start_search

#: The minimal space with a seed formula that is no control, so generation 0 holds a seed.
SEEDED_SPACE = """
name: seeded
operators: [add, sub, mul, div, neg, log]
leaves: [y_real, y_pred]
constants: {distribution: choice, values: [0.5, 1.0, 2.0]}
tree: {init_min_height: 1, init_max_height: 2, max_height: 4, max_size: 15}
transform: sigmoid
generator: non_saturating
seeds: [bce, "log(y_real + 1.0) * y_pred"]
"""


@pytest.fixture(scope="module")
def seeded_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("provenance")
    (root / "seeded.yaml").write_text(SEEDED_SPACE)
    config = test_search.tiny(space=str(root / "seeded.yaml"))
    return start_search(root / "run", config, progress=False, echo=lambda s: None)


def candidates(run) -> dict[str, dict]:
    with RunStore.open(run, kind="search", readonly=True) as store:
        return {c["key"]: c for c in store.candidates()}


def test_every_candidate_records_where_it_came_from(seeded_run):
    rows = candidates(seeded_run)
    assert {r["origin"] for r in rows.values()} <= set(ORIGINS)
    controls = [r for r in rows.values() if r["role"] == "baseline"]
    assert controls and all(r["origin"] == CONTROL and r["parents"] == [] for r in controls)
    seeds = [r for r in rows.values() if r["origin"] == SEED]
    assert [r["formula"] for r in seeds] == ["(log((y_real + 1.0)) * y_pred)"]  # bce: a control
    assert all(r["first_generation"] == 0 for r in seeds)
    first = [r for r in rows.values() if r["first_generation"] == 0 and r["role"] != "baseline"]
    assert {r["origin"] for r in first} == {SEED, RANDOM}


def test_offspring_name_parents_seen_in_earlier_generations(seeded_run):
    """An offspring's parents are candidates of the run, first seen before it: one parent
    (mutation) or two (crossover), so a lineage can be walked back to generation 0."""
    rows = candidates(seeded_run)
    offspring = [r for r in rows.values() if r["origin"] == OFFSPRING]
    assert offspring and all(r["first_generation"] >= 1 for r in offspring)
    for row in offspring:
        assert 1 <= len(row["parents"]) <= 2 and row["key"] not in row["parents"]
        for key in row["parents"]:
            assert rows[key]["first_generation"] < row["first_generation"]
    assert any(len(r["parents"]) == 2 for r in offspring)  # crossover happened


def test_leaderboard_and_verdict_rows_show_provenance(seeded_run):
    with RunStore.open(seeded_run, kind="search", readonly=True) as store:
        rows = hall_of_fame(store)
        text = leaderboard_text(store)
    assert all(r["provenance"] and r["origin"] in ORIGINS for r in rows)
    for row in rows:
        if row["origin"] == OFFSPRING:
            gen = f"gen {row['first_generation']} from {row['parents'][0][:8]}"
            assert row["provenance"].startswith(gen)
            assert row["provenance"] in text
    assert "provenance" in text.splitlines()[0]
    shown = run_cli("show", str(seeded_run), "--json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    data = json.loads(shown.stdout)
    assert all("provenance" in r and "parents" in r for r in data["leaderboard"])
    judged = data["verdict"]["candidates"]
    assert judged and all(c["provenance"] for c in judged.values())
    functions = data["search_vs_verdict"]["functions"]
    assert {f["origin"] for f in functions if f["name"] in ("bce", "ganetic")} == {CONTROL}
    plain = run_cli("show", str(seeded_run))
    assert "(control)" in plain.stdout and "provenance" in plain.stdout


def test_the_hall_of_fame_csv_has_origin_and_provenance(seeded_run):
    header = (seeded_run / "hall_of_fame.csv").read_text().splitlines()[0].split(",")
    assert header[-3:] == ["origin", "parents", "provenance"]


def test_a_version_3_search_gains_provenance_columns_marking_its_controls(tmp_path):
    """Upgraded in place: the controls become ``control``; a candidate's origin was never
    recorded and stays unknown, which the leaderboard says instead of guessing."""
    run = tmp_path / "v3"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"search": {"task": "probe"}}))
    conn = sqlite3.connect(run / "run.db", isolation_level=None)
    v3 = schema.SCHEMA.split("ALTER TABLE candidates ADD COLUMN origin")[0]
    conn.executescript("BEGIN;" + v3 + "COMMIT;")
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("schema_version", "3"), ("kind", "search")]
    )
    insert = (
        "INSERT INTO candidates (key, formula, text, complexity, verdict, fingerprint, "
        "first_generation, created, role, name) VALUES (?, ?, ?, 3, ?, ?, ?, 1.0, ?, ?)"
    )
    conn.execute(insert, ("kA", "y_pred", "y_pred", "passed", "fpA", 0, "candidate", None))
    conn.execute(insert, ("kB", "x", "bce", None, "fpB", -1, "baseline", "bce"))
    conn.close()
    with RunStore.open(run, kind="search") as store:
        assert store.meta["schema_version"] == str(schema.SCHEMA_VERSION) == "4"
        by_key = {c["key"]: c for c in store.candidates()}
    assert (by_key["kA"]["origin"], by_key["kA"]["parents"]) == (None, None)
    assert by_key["kB"]["origin"] == CONTROL
    assert provenance_fields(by_key["kA"])["provenance"].startswith("unknown")
