"""Faults: a probe search killed with SIGKILL at random points and resumed, again and again,
ends with the store of an uninterrupted run; serial and on Ray. And a disk that fills: the run
fails in one line (or completes), and once space is freed, resume completes identically.

Kill points are evaluation counts drawn from a seeded RNG and observed by polling run.db
read-only, so the test does not depend on how fast the machine is.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_harness import ROOT, assert_one_line_error, run_cli

from lossevo.runs.store import RunStore

SEARCH = [
    "--task", "probe", "--space", "ganetic", "--population", "8", "--generations", "3",
    "--seed", "5", "--steps", "60", "--race-max-seeds", "3", "--verdict-top", "2",
    "--verdict-seeds", "2", "--verdict-steps", "60", "--quiet",
]  # fmt: skip
KILLS = 3


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
    """What must be identical: the views' bytes, the populations, and every evaluation."""
    with RunStore.open(run, kind="search", readonly=True) as store:
        evaluations = sorted(
            (e["fingerprint"], e["seed"], e["budget"], e["status"], e["fitness"])
            for e in store.evaluations()
        )
        populations = [
            (g["generation"], g["population"], g["rng_state"]) for g in store.generations()
        ]
    return {
        "hall_of_fame.csv": (run / "hall_of_fame.csv").read_bytes(),
        "pareto.csv": (run / "pareto.csv").read_bytes(),
        "populations": populations,
        "evaluations": evaluations,
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


def killed_and_resumed(run: Path, total: int, workers: list[str], seed: int) -> int:
    """Start the search, kill it at KILLS random evaluation counts, resuming after each, then
    resume to the end. Returns how many kills landed (a run can finish before a kill point)."""
    points = sorted(random.Random(seed).sample(range(1, total), KILLS))
    deadline = time.monotonic() + 600
    landed = 0
    proc = _start(["search", *SEARCH, *workers, "--run-dir", str(run)])
    for point in points:
        if not _kill_at(proc, run, point, deadline):
            break
        landed += 1
        proc = _start(["resume", str(run), "--quiet", *workers])
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
    proc.stderr.close()
    return landed


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict, int]:
    """The uninterrupted run's outcome and its number of evaluations."""
    run = tmp_path_factory.mktemp("reference") / "run"
    result = run_cli("search", *SEARCH, "--run-dir", str(run), timeout=600)
    assert result.returncode == 0, result.stderr
    done = outcome(run)
    assert len(done["evaluations"]) > 2 * KILLS
    return done, len(done["evaluations"])


def test_killed_serial_search_resumes_to_the_uninterrupted_result(reference, tmp_path):
    done, total = reference
    run = tmp_path / "run"
    assert killed_and_resumed(run, total, [], seed=1) >= 1
    assert outcome(run) == done


@pytest.mark.slow
def test_killed_ray_search_resumes_to_the_uninterrupted_result(reference, tmp_path):
    """Ray: the driver is killed with its workers in flight; Ray's own processes die with it or
    are left to time out, and the resumed run starts a fresh local cluster."""
    done, total = reference
    run = tmp_path / "run"
    assert killed_and_resumed(run, total, ["--workers", "2"], seed=2) >= 1
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


@pytest.mark.slow
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
