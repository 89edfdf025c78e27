"""The command line answers ``--help``, a bad flag and the refusals made before any work without
importing torch (seconds of start-up): torch comes in only when a command trains or reads a
run's losses. Each case runs the real CLI in a subprocess that reports, after the command, what
it imported.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cli_harness import ROOT

#: Runs ``lossevo.cli.main`` on argv and prints, as its last line, whether torch was imported.
CHILD = """
import sys
from lossevo.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print("\\ntorch imported:", "torch" in sys.modules)
sys.exit(code)
"""

COMMANDS = ["search", "resume", "show", "export", "evaluate", "replay", "promote"]


def run_light(*args: str, cwd) -> tuple[int, str, bool]:
    """Exit status, stderr and whether torch was imported by ``lossevo ARGS``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("torch imported:"), proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.returncode, proc.stderr, last.endswith("True")


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=lambda c: " ".join(c))
def test_help_does_not_import_torch(command, tmp_path):
    code, stderr, torch = run_light(*command, "--help", cwd=tmp_path)
    assert code == 0, stderr
    assert not torch


REFUSALS = {
    "bad flag": (["search", "--bogus"], "unrecognized arguments: --bogus"),
    "bad type": (["search", "--population", "x"], "invalid int value: 'x'"),
    "bad choice": (["evaluate", "bce", "--metric", "nope"], "invalid choice: 'nope'"),
    "bad setting": (["search", "--population", "1"], "--population must be at least 2"),
    "bad budget": (["search", "--task", "probe", "--budget", "3x"], "--budget must be"),
    "gan option for probe": (["search", "--task", "probe", "--lr", "1"], "--lr set(s)"),
    "resume nothing": (["resume", "missing"], "'missing' does not exist"),
    "resume a folder": (["resume", "."], "is not a lossevo run directory"),
    "show nothing": (["show", "./missing/run"], "no such run directory"),
    "export nothing": (["export", "./missing/run", "-o", "out"], "no such run directory"),
    "bad formula": (["show", "bad("], "formula does not parse"),
    "replay without config": (["replay", "--out", "out"], "replay needs --config"),
    "promote without stages": (["promote", "run", "--out", "out"], "promote needs --stages"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusal_before_work_does_not_import_torch(case, tmp_path):
    args, message = REFUSALS[case]
    code, stderr, torch = run_light(*args, cwd=tmp_path)
    assert code == 2, stderr
    assert message in stderr, stderr
    assert not torch, f"lossevo {' '.join(args)} imported torch to refuse"
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a refusal wrote files"
