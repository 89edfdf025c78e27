"""Faults: a probe search killed with SIGKILL and resumed, again and again, ends with the store
of an uninterrupted run, and nothing stored is trained again; serial and on Ray. And a disk that
fills: the run fails in one line (or completes), and once space is freed, resume completes
identically.

Kill points are evaluation counts taken from the uninterrupted run's stages (the first
generation, the racing of a later one, the verdict) and observed by polling run.db read-only, so
the test does not depend on how fast the machine is.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_harness import ROOT, assert_one_line_error, run_cli
from test_search import evaluation_rows

from lossevo.runs.store import RunStore

#: Every test here kills or starves whole searches (tens of seconds each): the full suite's.
pytestmark = pytest.mark.slow

SEARCH = [
    "--task", "probe", "--space", "ganetic", "--population", "8", "--generations", "3",
    "--seed", "5", "--steps", "60", "--race-max-seeds", "3", "--verdict-top", "2",
    "--verdict-seeds", "2", "--verdict-steps", "60", "--quiet",
]  # fmt: skip


def _evaluations(run: Path) -> int:
    """Evaluations committed so far (0 while the run does not exist yet)."""
    if not (run / "run.db").exists():
        return 0
    try:
        uri = f"{(run / 'run.db').resolve().as_uri()}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5) as db:
            return db.execute("SELECT count(*) FROM evaluations").fetchone()[0]
    except sqlite3.Error:
        return 0


def outcome(run: Path) -> dict:
    """What must be identical (timings aside): the views' bytes, the candidates, the
    populations with their statistics, and every evaluation with its metrics."""
    with RunStore.open(run, kind="search", readonly=True) as store:
        evaluations = evaluation_rows(store)
        candidates = sorted(
            (c["key"], c["verdict"], c["fingerprint"], c["first_generation"])
            for c in store.candidates()
        )
        populations = [
            (
                g["generation"],
                g["population"],
                g["rng_state"],
                json.dumps(g["stats"], sort_keys=True),
            )
            for g in store.generations()
        ]
    return {
        "hall_of_fame.csv": (run / "hall_of_fame.csv").read_bytes(),
        "pareto.csv": (run / "pareto.csv").read_bytes(),
        "candidates": candidates,
        "populations": populations,
        "evaluations": evaluations,
    }


def stored(run: Path, kind: str = "search") -> dict[tuple, float]:
    """Each stored evaluation's identity and the time it was written."""
    with RunStore.open(run, kind=kind, readonly=True) as store:
        return {
            (e["stage"], e["fingerprint"], e["seed"], e["budget"]): e["created"]
            for e in store.evaluations()
        }


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "lossevo.cli", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_at(proc: subprocess.Popen, run: Path, count: int, deadline: float) -> bool:
    """SIGKILL ``proc`` once ``run`` holds ``count`` evaluations; False if it finished first."""
    while _evaluations(run) < count:
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            return False
        assert time.monotonic() < deadline, "the search made no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def killed_and_resumed(
    run: Path, points: list[int], workers: list[str], search: list[str] = SEARCH
) -> None:
    """Start the search, kill it once it holds each of ``points`` evaluations, resuming after
    each, then resume to the end. Every kill must land before the run finishes, and the final
    session trains only what no earlier session stored (what was stored is kept as it was)."""
    deadline = time.monotonic() + 600
    proc = _start(["search", *search, *workers, "--run-dir", str(run)])
    before: dict[tuple, float] = {}
    for point in points:
        assert _kill_at(proc, run, point, deadline), f"the run finished before {point} evaluations"
        before = stored(run)
        assert len(before) >= point
        proc = _start(["resume", str(run), "--quiet", *workers])
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
    proc.stderr.close()
    after = stored(run)
    assert all(after[key] == created for key, created in before.items())  # not run again
    with RunStore.open(run, kind="search", readonly=True) as store:
        dispatched = [e for e in store.events() if e["kind"] == "dispatched"]
    assert int(dispatched[-1]["message"].split()[0]) == len(after) - len(before)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict, dict[str, int]]:
    """The uninterrupted run's outcome, and kill points inside each of its stages: how many
    evaluations were stored when the first generation, the racing of the last generation and
    the verdict were under way."""
    run = tmp_path_factory.mktemp("reference") / "run"
    result = run_cli("search", *SEARCH, "--run-dir", str(run), timeout=600)
    assert result.returncode == 0, result.stderr
    done = outcome(run)
    with RunStore.open(run, kind="search", readonly=True) as store:
        order = sorted(store.evaluations(), key=lambda e: e["created"])
        first_seen = {c["fingerprint"]: c["first_generation"] for c in store.candidates()}
    search = [e for e in order if e["stage"] != "verdict"]
    verdict = [e for e in order if e["stage"] == "verdict"]
    last_generation = max(first_seen[e["fingerprint"]] or 0 for e in search)
    racing = [i for i, e in enumerate(search) if first_seen[e["fingerprint"]] == last_generation]
    assert racing and len(verdict) >= 2 and racing[0] > 2, "the reference lost a stage"
    points = {
        "first generation": 2,
        "racing": racing[len(racing) // 2] + 1,
        "verdict": len(search) + len(verdict) // 2,
    }
    assert points["first generation"] < points["racing"] < points["verdict"] < len(order)
    return done, points


def test_killed_serial_search_resumes_to_the_uninterrupted_result(reference, tmp_path):
    """Killed in the first generation, while racing a later one, and while the verdict
    trains: each resume continues where the kill left it."""
    done, points = reference
    run = tmp_path / "run"
    killed_and_resumed(run, list(points.values()), [])
    assert outcome(run) == done


def test_killed_ray_search_resumes_to_the_uninterrupted_result(reference, tmp_path):
    """Ray: the driver is killed while racing, with its workers in flight; Ray's own processes
    die with it or are left to time out, and the resumed run starts a fresh local cluster."""
    done, points = reference
    run = tmp_path / "run"
    killed_and_resumed(run, [points["racing"]], ["--workers", "2"])
    assert outcome(run) == done


GAN_SEARCH = [
    "--task", "gan", "--dataset", "digits-8x8", "--width", "8", "--samples", "200",
    "--space", "minimal", "--population", "4", "--generations", "2", "--seed", "1",
    "--steps", "30", "--race-max-seeds", "2", "--verdict-top", "1", "--verdict-seeds", "2",
    "--verdict-steps", "30", "--stop-margin", "0.05", "--quiet",
]  # fmt: skip


def test_a_killed_search_with_early_stopping_resumes_to_the_same_stop_decisions(tmp_path):
    """A GAN search whose trainings stop early at checkpoints (a tiny margin makes many stop),
    killed while racing with trainings in flight between checkpoints: the resumed run makes
    the same stop/continue decisions and ends identical to the uninterrupted one."""
    reference = tmp_path / "reference"
    result = run_cli("search", *GAN_SEARCH, "--run-dir", str(reference), timeout=600)
    assert result.returncode == 0, result.stderr
    done = outcome(reference)
    assert any(row[6] is not None for row in done["evaluations"]), "nothing stopped early"
    racing = sum(row[0] == "search" for row in done["evaluations"])
    run = tmp_path / "run"
    killed_and_resumed(run, [racing // 2], [], GAN_SEARCH)
    assert outcome(run) == done


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (a probe run with its verdict takes ~1-2 MB); ballast leaves a run too
    little of it (needs root to mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_fails_in_one_line_and_resume_completes_identically(
    reference, small_disk, tmp_path
):
    """Ballast leaves the run little room: it completes, or stops in one line with exit 2 and
    the run (if it was made) resumes, once the ballast is gone, to the uninterrupted result."""
    done, _ = reference
    run = small_disk / "run"
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (4 * 2**20 - 150_000))  # ~150 KB left, as before
    result = run_cli("search", *SEARCH, "--run-dir", str(run), timeout=600)
    if result.returncode != 0:
        line = assert_one_line_error(result)
        assert "No space left on device" in line or "disk is full" in line, line
    assert not [p for p in small_disk.iterdir() if p.name.startswith(".")]  # no temp left
    ballast.unlink()
    if not run.exists():  # the folder is made whole or not at all: a rerun starts it
        result = run_cli("search", *SEARCH, "--run-dir", str(run), timeout=600)
    else:
        result = run_cli("resume", str(run), "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert outcome(copy) == done


# --------------------------------------------------------------------------------- replays
REPLAY = """name: killed-replay
losses: [bce, ganetic, least_squares]
runs: 2
steps: 30
checkpoints: [10, 20]
task: gan
task_config: {dataset: digits-8x8, width: 8, n_samples: 200, device: cpu}
baseline: bce
published: ganetic
"""


def replay_outcome(out: Path) -> dict:
    """What a replay must reproduce (timings aside): every stored evaluation with its metrics
    and checkpoints, the report, the table and the sample grids."""
    with RunStore.open(out, kind="replay", readonly=True) as store:
        rows = sorted(
            (e["fingerprint"], e["seed"], e["budget"], e["status"], e["fitness"],
             json.dumps(e["metrics"], sort_keys=True), json.dumps(e["checkpoints"], sort_keys=True))
            for e in store.evaluations()
        )  # fmt: skip
    grids = {p.name: p.read_bytes() for p in sorted((out / "grids").glob("*.png"))}
    files = {name: (out / name).read_bytes() for name in ("report.md", "table.csv")}
    return {"rows": rows, "grids": grids, **files}


def test_a_killed_replay_resumes_to_the_uninterrupted_report(tmp_path):
    """kill -9 after 2 and after 4 of the 6 trainings, resume each time: the same rows, report,
    table and grids as a replay that was never interrupted; nothing stored is trained again."""
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(REPLAY)
    replay = ["replay", "--config", str(protocol), "--quiet", "--workers", "1"]
    result = run_cli(*replay, "--out", str(tmp_path / "reference"), timeout=600)
    assert result.returncode == 0, result.stderr
    out, deadline = tmp_path / "killed", time.monotonic() + 600
    proc = _start([*replay, "--out", str(out)])
    for point in (2, 4):
        assert _kill_at(proc, out, point, deadline), f"the replay finished before {point} runs"
        before = stored(out, kind="replay")
        proc = _start([*replay, "--out", str(out)])
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
    proc.stderr.close()
    after = stored(out, kind="replay")
    assert len(after) == 6 and all(after[key] == created for key, created in before.items())
    assert replay_outcome(out) == replay_outcome(tmp_path / "reference")
