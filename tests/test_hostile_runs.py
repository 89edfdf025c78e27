"""Hostile run directories, configs, databases, datasets and flags through the real CLI.

Each case builds its files in a fresh folder, runs ``lossevo`` there in a subprocess, and
asserts: exit 2, one line on stderr saying what is wrong, no traceback, done within a wall
ceiling, and every file in the folder byte-identical afterwards, with none added (a refusal
changes nothing and creates no folder). RELIABILITY.md numbers the defects (D6-D17).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import test_search
from cli_harness import TINY_SEARCH, assert_one_line_error, run_cli, snapshot

from lossevo.runs.store import RunStore
from lossevo.search.config import SearchConfig
from lossevo.search.run import start_search
from lossevo.util.files import current_umask

RUN = "run"  # the copy of the tiny probe run inside each case's folder
# test_search's tiny probe search, one generation, racing on 2 seeds at 40 steps
TINY = {
    **test_search.TINY,
    **dict(generations=1, steps=40, race_max_seeds=2, verdict_top=1, verdict_seeds=2),
    **dict(verdict_steps=40, controls=("bce",)),
}
STORED = ["--population", "6", "--seed", "3", "--space", "minimal", "--task", "probe"]


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> Path:
    """A finished one-generation probe search, copied into each case that needs a run."""
    path = tmp_path_factory.mktemp("origin") / RUN
    start_search(path, SearchConfig(**TINY), progress=False, echo=lambda s: None)
    return path


def _copy_run(probe_run: Path, folder: Path) -> Path:
    shutil.copytree(probe_run, folder / RUN)
    return folder / RUN


def _edit_config(folder: Path, edit: Callable[[dict], object]) -> None:
    path = folder / RUN / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps(edit(config)))


def _drop_digest(folder: Path) -> None:
    """A run made before configs were pinned: no digest in meta."""
    with contextlib.closing(sqlite3.connect(folder / RUN / "run.db")) as db, db:
        db.execute("DELETE FROM meta WHERE key IN ('config', 'config_digest')")


def _randomise_past_header(folder: Path) -> None:
    db = folder / RUN / "run.db"
    data = db.read_bytes()
    assert len(data) > 16384, "the probe run's database is too small to damage past 8 KB"
    noise = random.Random(0).randbytes(len(data) - 8192)
    db.write_bytes(data[:8192] + noise)


def _drop_table(folder: Path) -> None:
    with contextlib.closing(sqlite3.connect(folder / RUN / "run.db")) as db, db:
        db.execute("DROP TABLE evaluations")


def _png_header(path: Path, width: int, height: int) -> None:
    """A valid 8-bit grayscale PNG claiming ``width x height`` pixels in a few hundred bytes:
    one all-zero row, deflated; a decoder that trusts the header allocates it all."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1), 9)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _stages(folder: Path, text: str) -> None:
    (folder / "stages.yaml").write_text(text)


STAGE = "{name: s, task: gan, task_config: {width: 8, device: cpu}, steps: 2, seeds: 1}"


@dataclass
class Case:
    name: str
    args: list[str]
    message: str
    setup: Callable[[Path], None] | None = None  # builds the folder's files (run copied first)
    needs_run: bool = True


def _user_folder(folder: Path) -> None:
    (folder / "proj").mkdir()
    (folder / "proj" / "config.json").write_text('{"my": 1}\n')
    (folder / "proj" / "hall_of_fame.csv").write_text("keep\n")


EVALUATE = ["evaluate", "bce", "--steps", "1", "--seeds", "1", "--device", "cpu", "--out", "ev"]
GAN_SEARCH = ["search", "--task", "gan", "--run-dir", "new", "--quiet"]
DAMAGED = [
    ("resume", [RUN, "--quiet"]),
    ("show", [RUN]),
    ("export", [RUN, "-o", "out"]),
    ("promote", [RUN, "--stages", "stages.yaml", "--out", "promo", "--quiet"]),
]


def _damaged(damage: Callable[[Path], None], message: str, tag: str) -> list[Case]:
    def setup(folder: Path) -> None:
        _stages(folder, f"name: p\nstages:\n  - {STAGE}\n")
        damage(folder)

    return [Case(f"{tag}-{cmd}", [cmd, *args], message, setup) for cmd, args in DAMAGED]


CASES = [
    # D6: a folder of the user's is never written into; nor a file, nor an existing run
    Case(
        "user-folder",
        ["search", "--task", "probe", "--run-dir", "proj"],
        "is not empty and is not a lossevo run",
        _user_folder,
        False,
    ),
    Case(
        "file-as-run-dir",
        ["search", "--task", "probe", "--run-dir", "f"],
        "exists and is not a directory",
        lambda d: (d / "f").write_text("mine\n"),
        False,
    ),
    Case("existing-run", ["search", "--task", "probe", "--run-dir", RUN], "already holds a run"),
    Case("missing-run", ["resume", "nowhere"], "does not exist", None, False),
    # D10: a contradicting value is still refused, naming the stored one
    Case(
        "resume-contradicts", ["resume", RUN, "--population", "7"], "(population=6); resume without"
    ),
    # D11: hand edits of config.json, and malformed files
    Case(
        "edited-population",
        ["resume", RUN, "--generations", "3"],
        "(search.population 6 -> 12)",
        lambda d: _edit_config(d, lambda c: {**c, "search": {**c["search"], "population": 12}}),
    ),
    Case(
        "edited-steps",
        ["resume", RUN, "--generations", "3"],
        "(search.steps 40 -> 200)",
        lambda d: _edit_config(d, lambda c: {**c, "search": {**c["search"], "steps": 200}}),
    ),
    Case(
        "config-empty",
        ["resume", RUN],
        "was edited since the run started",
        lambda d: _edit_config(d, lambda c: {}),
    ),
    Case(
        "config-list",
        ["resume", RUN],
        "is not a JSON object",
        lambda d: _edit_config(d, lambda c: [1, 2]),
    ),
    Case(
        "config-many-without-digest",
        ["resume", RUN, "--generations", "2"],
        "--population must be an integer, not 'many'",
        lambda d: (
            _edit_config(d, lambda c: {**c, "search": {**c["search"], "population": "many"}}),
            _drop_digest(d),
        ),
    ),
    Case(
        "config-not-json",
        ["show", RUN],
        "is unreadable",
        lambda d: (d / RUN / "config.json").write_text("{"),
    ),
    # D12: damaged databases, for every command that reads a run
    *_damaged(_randomise_past_header, "run.db' is damaged (", "random"),
    *_damaged(_drop_table, "is damaged (no table evaluations)", "no-table"),
    # D16: decompression bombs in an image folder
    Case(
        "png-bomb",
        [*EVALUATE, "--dataset", "bomb"],
        "decompression bomb",
        lambda d: _png_header(d / "bomb" / "a.png", 30000, 30000),
        False,
    ),
    Case(
        "png-over-pixel-cap",
        [*EVALUATE, "--dataset", "big"],
        "over the limit",
        lambda d: _png_header(d / "big" / "a.png", 5000, 5000),
        False,
    ),
    # D15: every flag is checked before any work or any folder
    *[
        Case(f"evaluate{flag}{value}", [*EVALUATE, flag, value], message, None, False)
        for flag, value, message in [
            ("--width", "0", "--width must be an integer from 1 to 1024, not 0"),
            ("--width", "-3", "--width must be an integer from 1 to 1024, not -3"),
            ("--batch-size", "-4", "--batch-size must be an integer from 1 to 65536"),
            ("--batch-size", "0", "--batch-size must be an integer from 1 to 65536"),
            ("--device", "bogus", "--device must be cpu, cuda, cuda:N, mps or auto"),
            ("--image-size", "100000", "--image-size must be one of 8, 28, 32, 64"),
            ("--samples", "200000000", "--samples must be an integer from 2 to 100000"),
            ("--dataset", "nowhere", "unknown dataset 'nowhere'"),
        ]
    ],
    Case(
        "evaluate-out-is-a-file",
        EVALUATE,
        "--out ev is a file",
        lambda d: (d / "ev").write_text("mine\n"),
        False,
    ),
    *[
        Case(f"search{flag}{value}", [*GAN_SEARCH, flag, value], message, None, False)
        for flag, value, message in [
            ("--width", "0", "--width must be an integer from 1 to 1024"),
            ("--samples", "1", "--samples must be at least 2"),
            ("--device", "bogus", "--device must be cpu, cuda, cuda:N, mps or auto"),
            ("--dataset", "nowhere", "unknown dataset 'nowhere'"),
        ]
    ],
    Case(
        "replay-width-0",
        ["replay", "--config", "p.yaml", "--out", "rp", "--quiet"],
        "--width must be an integer from 1 to 1024, not 0",
        lambda d: (d / "p.yaml").write_text(
            "name: p\nlosses: [bce, ganetic]\nruns: 1\nsteps: 2\ntask: gan\n"
            "task_config: {width: 0, device: cpu}\n"
        ),
        False,
    ),
    # D17 and a bad stage device: the promotion folder is never made
    *[
        Case(
            f"promote-{tag}",
            ["promote", RUN, "--stages", "stages.yaml", "--out", "promo", "--quiet"],
            message,
            lambda d, text=text: _stages(d, text),
        )
        for tag, text, message in [
            (
                "baselines-nested",
                f"name: p\nbaselines: [[bce]]\nstages:\n  - {STAGE}\n",
                "baselines must be a list of built-in loss names",
            ),
            (
                "baselines-string",
                f"name: p\nbaselines: bce\nstages:\n  - {STAGE}\n",
                "baselines must be a list of built-in loss names",
            ),
            (
                "stage-device",
                "name: p\nstages:\n  - {name: s, task: gan, task_config: {device: bogus}, "
                "steps: 2, seeds: 1}\n",
                "--device must be cpu, cuda, cuda:N, mps or auto",
            ),
        ]
    ],
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_refused_in_one_line_changing_nothing(case: Case, probe_run, tmp_path):
    if case.needs_run:
        _copy_run(probe_run, tmp_path)
    if case.setup is not None:
        case.setup(tmp_path)
    before = snapshot(tmp_path)
    result = run_cli(*case.args, cwd=tmp_path, timeout=120)
    line = assert_one_line_error(result, code=2)
    assert line.startswith("lossevo: error: ") and case.message in line, line
    assert snapshot(tmp_path) == before


def test_resume_accepts_every_setting_repeated_with_its_stored_value(probe_run, tmp_path):
    """D10: --population 6 on a population-6 run (and --seed, --space, --task, --steps and the
    racing settings)."""
    run = _copy_run(probe_run, tmp_path)
    racing = ["--steps", "40", "--race-min-seeds", "2", "--race-max-seeds", "2"]
    result = run_cli("resume", str(run), *STORED, *racing, "--quiet", timeout=120)
    assert result.returncode == 0, result.stderr


def test_an_empty_folder_may_become_a_run(tmp_path):
    """D6: an existing empty folder is used; the run lands in it, complete."""
    (tmp_path / "empty").mkdir()
    result = run_cli(*TINY_SEARCH, "--run-dir", "empty", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert {"config.json", "run.db", "run.lock", "hall_of_fame.csv"} <= set(
        os.listdir(tmp_path / "empty")
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left
    mode = (tmp_path / "empty" / "run.db").stat().st_mode & 0o777
    assert mode == 0o644 & ~current_umask(), oct(mode)  # not 0600


def test_a_live_run_is_locked_and_the_message_names_its_pid(probe_run, tmp_path):
    """D7: a second writer is refused while the first holds the run; then it may go on."""
    run = _copy_run(probe_run, tmp_path)
    with RunStore.open(run, kind="search"):
        before = snapshot(run)
        result = run_cli("resume", str(run), "--generations", "2", "--quiet", timeout=120)
        line = assert_one_line_error(result)
        assert f"is in use by another lossevo process (PID {os.getpid()})" in line
        after = snapshot(run)
        # SQLite's readers mark the shared-memory index of a live WAL; every real file is kept
        assert after.pop("run.db-shm") and before.pop("run.db-shm")
        assert after == before
    result = run_cli("resume", str(run), "--generations", "2", "--quiet", timeout=120)
    assert result.returncode == 0, result.stderr


def test_a_run_without_a_digest_gets_one_then_edits_are_refused(probe_run, tmp_path):
    """D11: runs made before digests are upgraded on the first writing open."""
    _copy_run(probe_run, tmp_path)
    _drop_digest(tmp_path)
    assert run_cli("resume", RUN, "--quiet", cwd=tmp_path, timeout=120).returncode == 0
    with contextlib.closing(sqlite3.connect(tmp_path / RUN / "run.db")) as db:
        assert db.execute("SELECT count(*) FROM meta WHERE key = 'config_digest'").fetchone() == (
            1,
        )
    _edit_config(tmp_path, lambda c: {**c, "search": {**c["search"], "seed": 4}})
    line = assert_one_line_error(run_cli("resume", RUN, cwd=tmp_path, timeout=120))
    assert "(search.seed 3 -> 4)" in line


@pytest.fixture
def readonly_copy(probe_run, tmp_path):
    """The probe run on a read-only tmpfs (needs root; chmod does not stop root)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)]).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        shutil.copytree(probe_run, mount / RUN)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount / RUN
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_show_works_on_a_read_only_run_and_resume_says_read_only(readonly_copy):
    before = snapshot(readonly_copy)
    result = run_cli("show", str(readonly_copy), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "figure: not written (Read-only file system)" in result.stdout
    line = assert_one_line_error(run_cli("resume", str(readonly_copy), "--quiet", timeout=120))
    assert "cannot write to the run" in line and "Read-only file system" in line
    assert snapshot(readonly_copy) == before


def test_an_unexpected_exception_is_one_line_and_exit_1(tmp_path):
    """The internal-error path needs a bug to show; none is known, so one is planted: a
    command whose function raises. --debug shows its traceback instead."""
    code = (
        "import sys, lossevo.cli as cli, lossevo.cli.show as show\n"
        "def boom(args): raise RuntimeError('planted bug\\nsecond line')\n"
        "show.cmd_show = boom\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for argv, rc in ([["show", "bce"], 1], [["--debug", "show", "bce"], 1]):
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == rc, proc.stderr
        if "--debug" in argv:
            assert "Traceback" in proc.stderr and "planted bug" in proc.stderr
        else:
            assert proc.stderr == (
                "lossevo: internal error: RuntimeError: planted bug "
                "(rerun with --debug for the traceback)\n"
            )


def test_lock_is_dropped_when_its_holder_is_killed(probe_run, tmp_path):
    """kill -9 releases the flock (the kernel does), so a crashed run resumes at once."""
    run = _copy_run(probe_run, tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(run / 'run.lock')!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.pwrite(fd, b'%d\\n' % os.getpid(), 0)\n"
            "print('locked', flush=True); time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        line = assert_one_line_error(run_cli("resume", str(run), "--quiet", timeout=120))
        assert f"(PID {holder.pid})" in line
    finally:
        holder.kill()
        holder.wait()
    fd = os.open(run / "run.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
    finally:
        os.close(fd)
    assert run_cli("resume", str(run), "--quiet", timeout=120).returncode == 0
