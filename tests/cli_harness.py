"""Running the real ``lossevo`` command in a subprocess, and checking how it failed.

Shared by the hostile-input and fault tests: each case runs the CLI as a user would, then
asserts the exit code, a one-line message without a traceback, a wall-time ceiling and that the
files that were there before are byte-identical after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(
    *args: str, cwd: str | os.PathLike | None = None, timeout: float = 60.0, env: dict | None = None
) -> CliResult:
    """``python -m lossevo.cli ARGS`` with this checkout first on the path."""
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
