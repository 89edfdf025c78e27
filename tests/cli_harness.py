"""Running the real ``lossevo`` command, and checking how it failed.

Shared by the CLI, hostile-input and fault tests: each case runs the command as a user would,
then asserts the exit code, a one-line message without a traceback, and that the files that were
there before are byte-identical after. ``timeout`` is a hang guard, not a speed test: past it the
subprocess is killed, or the in-process run ends the test process with every thread's traceback.

By default the command runs in this interpreter (``lossevo.cli.main`` with its own argv, working
folder, environment and captured stdout/stderr): importing torch again for each of ~150 cases was
most of the suite's time. ``isolated=True`` runs ``python -m lossevo.cli`` in a subprocess, for what
only a process shows: a PID in a lock message, signals, a closed pipe, imports at start-up.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: ``lossevo search`` at its lightest real setting (probe task, a few screened trees, short races
#: and verdict), for tests about the folder, messages or files rather than the search itself.
TINY_SEARCH = ["search", "--task", "probe", "--space", "minimal", "--population", "4", "--quiet"]
TINY_SEARCH += ["--generations", "1", "--steps", "20", "--verdict-steps", "20"]
TINY_SEARCH += ["--verdict-seeds", "2", "--verdict-top", "1"]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(
    *args: str,
    cwd: str | os.PathLike | None = None,
    timeout: float = 60.0,
    env: dict | None = None,
    isolated: bool = False,
) -> CliResult:
    """``lossevo ARGS`` in ``cwd`` with ``env`` added to the environment; in a subprocess
    (``python -m lossevo.cli``, this checkout first on the path) when ``isolated``."""
    if isolated:
        return _run_in_subprocess(args, cwd, timeout, env)
    return _run_in_process(args, cwd, timeout, env)


def _run_in_subprocess(args, cwd, timeout: float, env: dict | None) -> CliResult:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "lossevo.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def _run_in_process(args, cwd, timeout: float, env: dict | None) -> CliResult:
    """What a subprocess would report: the exit status ``main`` returns or raises (argparse's
    ``SystemExit``), and an escaped exception as the interpreter would print it (exit 1)."""
    from lossevo.cli import main

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    faulthandler.dump_traceback_later(timeout, exit=True)  # a watchdog thread: no signal taken
    with _working_folder(cwd), _environment(env or {}):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as stop:
                code = _exit_status(stop.code, err)
            except BaseException:  # noqa: BLE001 - the interpreter's own last resort
                traceback.print_exc(file=err)
                code = 1
            finally:
                faulthandler.cancel_dump_traceback_later()
    return CliResult(code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def _exit_status(code: object, err: io.StringIO) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)  # sys.exit("message"): printed, status 1
    return 1


@contextlib.contextmanager
def _working_folder(cwd: str | os.PathLike | None) -> Iterator[None]:
    if cwd is None:
        yield
        return
    before = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _environment(extra: dict) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def assert_one_line_error(result: CliResult, code: int = 2) -> str:
    """Exit ``code``, no traceback, and exactly one non-empty line on stderr; returns it."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr[-2000:]}"
    return lines[0]


def snapshot(folder: str | os.PathLike) -> dict[str, bytes]:
    """Every file below ``folder`` by relative path, with its bytes."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
