"""Readers never lock, and what they say about damaged, partial and odd runs (issue 14).

A reader (``open_run`` and its methods, ``show``, ``export RUN``) opens the store read-only:
it works beside a live search, on a read-only copy, and never creates or locks ``run.lock``.
Edited values in ``run.db`` are one line naming it (R5); a partial verdict says so (R7);
nothing to judge says so (R12); figures name the reference (R17); an empty export, a closed
pipe and an overwrite are handled (R18, R24, R26). RELIABILITY.md numbers the defects.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import test_search
from cli_harness import ROOT, assert_one_line_error, run_cli, snapshot
from test_schema import SEARCH_CANDIDATES, evaluation, files, make_v1

import lossevo.api as api
from lossevo.loss.export import ExportError
from lossevo.report.verdict import verdict, verdict_power, verdict_text
from lossevo.report.views import progress_figure
from lossevo.runs.schema import SCHEMA_VERSION
from lossevo.runs.store import RunStore, StoreError
from lossevo.search.config import SearchConfig
from lossevo.search.racing_stats import detectable_ratio
from lossevo.search.run import start_search

# test_search's tiny probe search: one generation, racing on 2 seeds, a 2-seed verdict
TINY = {
    **test_search.TINY,
    **dict(generations=1, steps=40, race_max_seeds=2, verdict_top=1, verdict_seeds=2),
    **dict(verdict_steps=40, controls=("bce",)),
}
SIDE_FILES = ("run.lock", "run.db-wal", "run.db-shm")
FIGURES = ("progress.png", "verdict.png")


def _tiny_run(path: Path, **settings) -> Path:
    start_search(path, SearchConfig(**{**TINY, **settings}), progress=False, echo=lambda s: None)
    return path


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> Path:
    """A finished tiny probe search, without its lock file (readers must not make one)."""
    run = _tiny_run(tmp_path_factory.mktemp("origin") / "run")
    (run / "run.lock").unlink()
    return run


def _copy(run: Path, folder: Path, name: str = "run") -> Path:
    shutil.copytree(run, folder / name)
    return folder / name


def _sql(run: Path, statement: str) -> None:
    with contextlib.closing(sqlite3.connect(run / "run.db")) as db, db:
        db.execute(statement)


def _read_everything(run: Path) -> dict:
    """What the API reads from a run; each call opens the store anew."""
    opened = api.open_run(run)
    return {
        "leaderboard": opened.leaderboard(),
        "generations": opened.generations_done,
        "verdict": opened.verdict(),
        "json": opened.to_json(),
        "best": opened.best(1),
    }


# --- item 5 / R8: readers never lock ------------------------------------------------------


def test_readers_change_nothing_and_make_no_lock_on_a_finished_run(probe_run, tmp_path):
    """R8: open_run took the write lock (and so created run.lock); every reader now writes
    nothing: no lock, no -wal/-shm, every file byte-identical (show's figures aside)."""
    run = _copy(probe_run, tmp_path)
    before = snapshot(run)
    read = _read_everything(run)
    assert read["leaderboard"] and read["generations"] == 1 and read["verdict"] is not None
    for args in (["show", str(run)], ["show", str(run), "--json"]):
        result = run_cli(*args, timeout=120)
        assert result.returncode == 0, result.stderr
    result = run_cli("export", str(run), "-o", str(tmp_path / "out"), timeout=120)
    assert result.returncode == 0, result.stderr
    after = {k: v for k, v in snapshot(run).items() if k not in FIGURES}
    assert after == before
    assert not [name for name in SIDE_FILES if (run / name).exists()]


@pytest.fixture
def readonly_run(probe_run, tmp_path):
    """The probe run on a read-only tmpfs (root ignores chmod, so the mount makes it read-only);
    skipped where mounting is not allowed."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)]).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        shutil.copytree(probe_run, mount / "run")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount / "run"
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_the_api_and_export_read_a_read_only_run(readonly_run, tmp_path):
    """R8: ``export RUN`` and ``open_run(RUN).leaderboard()`` said "cannot write to the run"."""
    before = snapshot(readonly_run)
    assert _read_everything(readonly_run)["leaderboard"]
    result = run_cli("export", str(readonly_run), "-o", str(tmp_path / "out"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "rank1.py").is_file()
    assert snapshot(readonly_run) == before


def test_the_api_reads_beside_a_writer_that_holds_the_lock(probe_run, tmp_path):
    """R8: ``open_run(RUN).leaderboard()`` beside a writer said "in use by another lossevo
    process". The writer here holds run.lock and commits in WAL mode between the reads."""
    run = _copy(probe_run, tmp_path)
    with RunStore.open(run, kind="search") as writer:
        writer.log("test", "before the reads")
        assert (run / "run.db-wal").exists()  # the reads below go through the live WAL
        read = _read_everything(run)
        writer.log("test", "between the reads")
        assert read["leaderboard"] == api.open_run(run).leaderboard()
        assert (run / "run.lock").read_text().strip() == str(os.getpid())


@pytest.mark.slow
def test_a_notebook_and_the_cli_read_a_live_search(tmp_path):
    """Item 5: a real search runs in a subprocess (holding run.lock, writing in WAL mode);
    the API, ``show`` and ``export`` read it meanwhile, and leave its lock to it."""
    run = tmp_path / "live"
    search = [sys.executable, "-m", "lossevo.cli", "search", "--run-dir", str(run), "--quiet"]
    settings = ["--task", "probe", "--space", "minimal", "--population", "6", "--seed", "3"]
    racing = ["--generations", "500", "--steps", "40", "--race-max-seeds", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen(
        [*search, *settings, *racing],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not _has_generation(run):
            assert writer.poll() is None, writer.stderr.read()
            assert time.monotonic() < deadline, "the search stored no generation in 300 s"
            time.sleep(0.5)
        read = _read_everything(run)
        assert read["leaderboard"] and read["generations"] >= 1
        assert read["verdict"] is None  # the verdict comes after the last generation
        assert read["json"]["generations"]
        for args in (["show", str(run)], ["show", str(run), "--json"]):
            result = run_cli(*args, timeout=120)
            assert result.returncode == 0, result.stderr
        result = run_cli("export", str(run), "-o", str(tmp_path / "out"), timeout=120)
        assert result.returncode == 0, result.stderr
        assert writer.poll() is None, "the search ended: the reads above were not on a live run"
        assert (run / "run.lock").read_text().strip() == str(writer.pid)  # still the writer's
    finally:
        writer.kill()
        writer.wait()


def _has_generation(run: Path) -> bool:
    if not (run / "run.db").is_file():
        return False
    with RunStore.open(run, kind="search", readonly=True) as store:
        return bool(store.generations())


def test_a_reader_of_an_old_schema_upgrades_it_in_memory_only(tmp_path):
    """A version-1 run read by a reader: read as version 2, its files untouched, no lock; a
    writer still upgrades it in place."""
    evals = [evaluation(1, "fp1", "k1", 0), evaluation(2, "fp9", "baseline:bce", 0, fitness=4.0)]
    run = make_v1(tmp_path / "run", "search", SEARCH_CANDIDATES, evals)
    before = files(run)
    with RunStore.open(run, kind="search", readonly=True) as store:
        assert store.meta["schema_version"] == str(SCHEMA_VERSION)
        assert [c["role"] for c in store.candidates()] == ["candidate", "candidate", "baseline"]
        assert [e["stage"] for e in store.evaluations()] == ["search", "search"]
    assert files(run) == before
    assert not (run / "run.lock").exists()
    with RunStore.open(run, kind="search") as store:  # the writer's upgrade is on disk
        assert store.meta["schema_version"] == str(SCHEMA_VERSION)
    with contextlib.closing(sqlite3.connect(run / "run.db")) as db:
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)


# --- R5: edited values in run.db ----------------------------------------------------------

VERDICT_ROW = "(SELECT max(id) FROM evaluations WHERE stage = 'verdict')"
DAMAGE = [
    # (name, SQL, command, what the line quotes); each command failed with an internal error
    (
        "extensions",
        "INSERT OR REPLACE INTO meta VALUES ('extensions', '{bad')",
        ["resume", "{run}", "--quiet"],  # blamed config.json
        "meta extensions '{bad' is not a JSON object",
    ),
    (
        "spent_seconds",
        "INSERT OR REPLACE INTO meta VALUES ('spent_seconds', 'abc')",
        ["resume", "{run}", "--quiet"],
        "meta spent_seconds 'abc' is not a number of seconds",
    ),
    (
        "stats",
        "UPDATE generations SET stats = '{}'",
        ["show", "{run}"],
        "generation 0: stats best is None, not a number",
    ),
    (
        "rng_state",
        "UPDATE generations SET rng_state = '[1,2,3]'",
        ["show", "{run}", "--json"],
        "generation 0: rng_state '[1,2,3]' is not a random generator state",
    ),
    (
        "fitness",
        "UPDATE evaluations SET fitness = 'abc' WHERE id = 3",
        ["export", "{run}", "-o", "out"],
        "evaluation 3: fitness 'abc' is not a number",
    ),
    (
        "negative_verdict_fitness",
        f"UPDATE evaluations SET fitness = -1 WHERE id = {VERDICT_ROW}",
        ["show", "{run}"],
        "fitness -1.0 is negative",
    ),
]


@pytest.mark.parametrize(
    "sql, command, quoted", [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE]
)
def test_an_edited_value_in_run_db_is_one_line_naming_it(probe_run, tmp_path, sql, command, quoted):
    """R5: each was an internal error (exit 1), or blamed config.json for meta.extensions."""
    run = _copy(probe_run, tmp_path)
    _sql(run, sql)
    before = snapshot(tmp_path)
    result = run_cli(*[a.format(run=run) for a in command], cwd=tmp_path, timeout=120)
    line = assert_one_line_error(result, code=2)
    assert f"'{run / 'run.db'}' is damaged (" in line and quoted in line, line
    assert "config.json" not in line
    assert snapshot(tmp_path) == before


def test_edited_values_are_store_errors_through_the_api(probe_run, tmp_path):
    run = _copy(probe_run, tmp_path)
    _sql(run, "INSERT OR REPLACE INTO meta VALUES ('extensions', '[1]')")
    with pytest.raises(StoreError, match=r"run.db' is damaged \(meta extensions '\[1\]'"):
        api.open_run(run)
    _sql(run, "DELETE FROM meta WHERE key = 'extensions'")
    _sql(run, f"UPDATE evaluations SET seed = 'x' WHERE id = {VERDICT_ROW}")
    with pytest.raises(StoreError, match=r"evaluation \d+: seed 'x' is not an integer"):
        api.open_run(run).verdict()


# --- verdict: zero and negative fitness, incomplete, nothing to judge, power ------------------

SEEDS = range(1000, 1006)


def test_a_zero_fitness_is_judged_and_a_negative_one_refused():
    """A task scored as 1 - AUROC can reach 0: floored as the leaderboard does, not a crash."""
    control = dict.fromkeys(SEEDS, 0.5)
    result = verdict({"perfect": dict.fromkeys(SEEDS, 0.0)}, control)
    row = result["candidates"]["perfect"]
    assert row["ratio"] < 1e-6 and row["failed_seeds"] == 0
    assert result["winners"] == ["perfect"]
    assert verdict({"x": control}, dict.fromkeys(SEEDS, 0.0))["control"]["failed_seeds"] == 0
    with pytest.raises(ValueError, match="fitness must be 0 or more"):
        verdict({"x": {**control, 1003: -0.1}}, control)


def test_an_interrupted_verdict_says_it_is_incomplete(probe_run, tmp_path):
    """R7: with the verdict's later seeds deleted, show said "Verdict on 1 fresh seeds ... no
    candidate beats BCE" as if final."""
    run = _copy(probe_run, tmp_path)
    _sql(run, "DELETE FROM evaluations WHERE stage = 'verdict' AND seed > 1000")
    got = api.open_run(run).to_json()["verdict"]
    assert got["complete"] is False and (got["seeds_done"], got["seeds_expected"]) == (1, 2)
    assert got["sentence"].startswith("Incomplete: 1 of 2 seeds trained")
    result = run_cli("show", str(run), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Verdict on 1 fresh seed (1000-1000) (incomplete: 1 of 2 seeds)" in result.stdout
    assert api.open_run(probe_run).verdict()["complete"] is True


def test_nothing_to_judge_is_said_and_the_figure_names_the_reference(tmp_path):
    """R12: --verdict-top 0 with the reference as the only control said "Verdict: not yet"
    forever. R17: with --controls ganetic the progress figure still said "x BCE"."""
    run = _tiny_run(tmp_path / "run", verdict_top=0, controls=("ganetic",))
    got = api.open_run(run).verdict()
    assert got is not None and got["complete"] and got["candidates"] == {}
    assert got["sentence"].startswith("Nothing to judge: no candidate was brought to the verdict")
    assert "--verdict-top 0" in got["sentence"] and "ganetic" in got["sentence"]
    result = run_cli("show", str(run), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Nothing to judge" in result.stdout and "not yet" not in result.stdout
    with RunStore.open(run, kind="search", readonly=True) as store:
        fig = progress_figure(store)
    ax = fig.axes[0]
    assert "× ganetic" in ax.get_ylabel() and "BCE" not in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "ganetic (the reference control)" in legend
    assert not any("BCE" in t for t in legend)


def test_detectable_ratio_is_the_inverse_of_the_paired_t_power():
    """The ratio it returns is detected with the power asked, by simulation of the paired
    one-sided t test at alpha / comparisons (seeded, 20,000 verdicts)."""
    from scipy.stats import t as student_t

    n, sd, k = 6, 0.2, 3
    ratio = detectable_ratio(n, sd, comparisons=k)
    logs = np.random.default_rng(0).normal(math.log(ratio), sd, size=(20_000, n))
    t = logs.mean(axis=1) / (logs.std(axis=1, ddof=1) / math.sqrt(n))
    power = float(np.mean(t < -student_t.isf(0.05 / k, n - 1)))
    assert abs(power - 0.8) < 0.015, power
    assert detectable_ratio(12, sd, comparisons=k) > ratio  # more seeds see smaller effects
    assert detectable_ratio(6, 0.1, comparisons=k) > ratio  # less spread, likewise
    assert detectable_ratio(4, sd) is None  # 2**-4 > 0.05: the sign-flip p never gets there
    assert detectable_ratio(6, sd, comparisons=4) is None  # 4 x 2**-6 > 0.05
    assert detectable_ratio(6, 0.0, comparisons=k) == 1.0


def test_the_verdict_says_what_it_can_detect_at_its_measured_spread():
    rng = np.random.default_rng(3)
    control = {s: float(rng.uniform(20, 40)) for s in SEEDS}
    candidates = {
        name: {s: v * math.exp(rng.normal(shift, 0.15)) for s, v in control.items()}
        for name, shift in (("a", -0.3), ("b", 0.0), ("c", 0.1))
    }
    result = verdict(candidates, control)
    power = result["power"]
    sds = [result["candidates"][n]["sd_log"] for n in candidates]
    pooled = math.sqrt(sum(sd**2 for sd in sds) / 3)
    assert power["sd_measured"] and power["comparisons"] == 3 and power["seeds"] == 6
    assert power["sd_log"] == pytest.approx(pooled)
    assert power["detectable_ratio"] == pytest.approx(detectable_ratio(6, pooled, comparisons=3))
    lines = verdict_text(result).splitlines()
    assert lines[-2].startswith(
        f"With 6 seeds this verdict can detect ratios below {power['detectable_ratio']:.2f} "
        "(80% power, one-sided 0.05 Holm-corrected over 3"
    )
    assert lines[-1] == result["sentence"]
    two = verdict({"a": {1: 1.0, 2: 1.0}}, {1: 1.0, 2: 1.1})
    assert two["power"] is None  # under 3 seeds the spread is not measured
    assumed = verdict_power(6, 0.2, 3)
    assert not assumed["sd_measured"] and assumed["detectable_ratio"] == pytest.approx(
        detectable_ratio(6, 0.2, comparisons=3)
    )


# --- R18, R24, R26: export and the pipe -----------------------------------------------------


def test_export_of_a_run_without_a_ranked_candidate_says_so(probe_run, tmp_path):
    """R18: exit 0, nothing printed, nothing written. Now exit 2 and one line."""
    run = _copy(probe_run, tmp_path)
    _sql(run, "UPDATE evaluations SET status = 'failed', fitness = NULL WHERE stage = 'search'")
    line = assert_one_line_error(run_cli("export", "run", "-o", "out", cwd=tmp_path, timeout=120))
    assert "'run' has no ranked candidate to export" in line and "nothing was written" in line
    assert not (tmp_path / "out").exists()


def test_show_into_a_closed_pipe_exits_quietly(probe_run):
    """R24: ``lossevo show RUN | head -1`` printed "[Errno 32] Broken pipe" with exit 2. The
    reading end is closed before the command writes (it is still importing), so its first
    write meets a pipe without a reader, as head's exit leaves it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lossevo.cli", "show", str(probe_run)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, stderr
    assert stderr == ""


def test_export_refuses_to_overwrite_without_force(probe_run, tmp_path):
    """R26: ``export -o mine.py`` and ``run.export(dir)`` overwrote existing files silently."""
    mine = tmp_path / "mine.py"
    mine.write_text("# my work\n")
    line = assert_one_line_error(run_cli("export", "bce", "-o", str(mine), timeout=120))
    assert f"'{mine}' already exists; nothing was written" in line and "--force" in line
    assert mine.read_text() == "# my work\n"
    assert run_cli("export", "bce", "-o", str(mine), "--force", timeout=120).returncode == 0
    assert "import torch" in mine.read_text()

    out = tmp_path / "out"
    out.mkdir()
    (out / "rank1.py").write_text("# mine too\n")
    opened = api.open_run(probe_run)
    with pytest.raises(ExportError, match="rank1.py' already exist; nothing was written"):
        opened.export(out, top=1)
    assert (out / "rank1.py").read_text() == "# mine too\n"
    assert opened.export(out, top=1, force=True) == [out / "rank1.py"]
    assert "import torch" in (out / "rank1.py").read_text()
    with pytest.raises(ExportError, match="is a file, not a folder"):
        opened.export(mine)  # R6: a bare FileExistsError
    with pytest.raises(ExportError, match="already exists"):
        api.export("bce", mine)
    assert json.loads(json.dumps(opened.to_json(), default=str))  # still readable after all
