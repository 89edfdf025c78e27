"""Hostile formulas and show/export targets through the real CLI: one line, exit 2, nothing lost.

Each error case runs ``lossevo`` in a subprocess in a folder holding a user's file, and asserts the
exit status, a single line on stderr without a traceback, a wall-time ceiling (a hang, not a
speed test: the machine running the suite may be busy) and that the folder is byte-identical.
"""

import re
import sqlite3

import pytest
from cli_harness import TINY_SEARCH, assert_one_line_error, run_cli, snapshot

#: Generous on a shared machine; the defects this guards against took minutes or never ended.
CEILING = 90.0


def nested(template: str, depth: int, inner: str = "y_pred") -> str:
    for _ in range(depth):
        inner = template.format(inner)
    return inner


LONG_VALID = "+".join(f"sqrt({i}.5*y_pred*y_real)" for i in range(12))

ERRORS = [
    # (id, arguments, a piece of the message)
    ("division-depth-100", ["show", nested("y_real/({})", 100)], "parentheses deep"),
    ("sqrt-depth-40", ["show", nested("sqrt({})", 40)], "levels deep"),
    ("export-depth-100", ["export", nested("y_real/({})", 100), "-o", "x.py"], "parentheses"),
    ("long-sum", ["show", " + ".join(["y_pred*y_real"] * 300)], "characters long"),
    ("many-nodes", ["show", "+".join(["y_pred"] * 500)], "characters long|nodes|levels"),
    ("nul-byte", ["show", "y_pred +\x01 y_real"], "parse"),
    ("empty", ["show", ""], "empty target"),
    ("blank", ["export", "   ", "-o", "x.py"], "empty target"),
    ("missing-run", ["show", "runs/never-made"], "no such run directory"),
    ("missing-abs-run", ["export", "/nonexistent/run", "-o", "x.py"], "no such run directory"),
    ("file-not-run", ["show", "mine.txt"], "is a file"),
    ("not-a-run-folder", ["show", "./bce"], "not a lossevo run directory"),
    ("evaluate-constant", ["evaluate", "y_real + 1", "--steps", "2"], "screening"),
    (
        "evaluate-overflow",
        ["evaluate", nested("cube({})", 12) + " + y_real", "--steps", "2"],
        "screening",
    ),
]


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "mine.txt").write_text("a user's file\n")
    (tmp_path / "bce").mkdir()
    (tmp_path / "bce" / "notes.txt").write_text("a folder named like a built-in loss\n")
    return tmp_path


@pytest.mark.parametrize("args, match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_error_is_one_line_and_changes_nothing(workdir, args, match):
    before = snapshot(workdir)
    result = run_cli(*args, cwd=workdir, timeout=CEILING)
    line = assert_one_line_error(result)
    assert any(piece in line for piece in match.split("|")), line
    assert len(line) < 400, line
    assert snapshot(workdir) == before


@pytest.mark.parametrize(
    "args",
    [
        ["show", nested("y_real/({})", 10)],  # D1: 1.9 MB of source and over 60 s before
        ["show", LONG_VALID],  # D3: over 255 characters, was tried as a file name
        ["show", "--", "-y_real*log(y_pred) - (1 - y_real)*log(1 - y_pred)"],
    ],
    ids=["division-depth-10", "long-formula", "leading-minus"],
)
def test_valid_formulas_work(workdir, args):
    result = run_cli(*args, cwd=workdir, timeout=CEILING)
    assert result.returncode == 0, result.stderr
    # shown with a verdict (both long ones have L(0, p) constant: fake_branch_constant)
    assert re.search(r"screening   (passed|REJECTED: [a-z_]+)", result.stdout), result.stdout
    assert "Traceback" not in result.stderr


def test_builtin_name_wins_over_a_folder_and_says_how_to_pick_the_folder(workdir):
    result = run_cli("show", "bce", cwd=workdir, timeout=CEILING)
    assert result.returncode == 0, result.stderr
    assert "non-saturating GAN" in result.stdout
    assert "./bce" in result.stderr


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory):
    """A tiny real search whose folder name is hostile: quotes, a payload, a backslash."""
    root = tmp_path_factory.mktemp("runs")
    run_dir = root / "inj" / 'x"""; __import__("os").system("touch PWNED"); """y\\'
    result = run_cli(*TINY_SEARCH, "--run-dir", str(run_dir), cwd=root, timeout=600)
    assert result.returncode == 0, result.stderr
    return run_dir


def test_export_of_a_hostile_run_folder_runs_nothing_on_import(probe_run, tmp_path):
    result = run_cli("export", str(probe_run), "--top", "1", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    code = "import sys; sys.path.insert(0, '.'); import rank1; print(rank1.PROVENANCE['run'])"
    check = run_cli_python(code, cwd=tmp_path / "out")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == str(probe_run.resolve())
    assert not (tmp_path / "out" / "PWNED").exists() and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("top", ["0", "-2"])
def test_export_refuses_top_below_one(probe_run, tmp_path, top):
    result = run_cli("export", str(probe_run), f"--top={top}", "-o", "out", cwd=tmp_path)
    assert "--top must be at least 1" in assert_one_line_error(result)
    assert not (tmp_path / "out").exists()


def test_show_escapes_terminal_sequences_stored_in_the_run(probe_run, tmp_path):
    copy = tmp_path / "run"
    copy.mkdir()
    for path in probe_run.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    with sqlite3.connect(copy / "run.db") as conn:
        conn.execute("UPDATE candidates SET text = text || char(27) || '[2J' || char(7)")
    result = run_cli("show", str(copy), cwd=tmp_path, timeout=CEILING)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b[2J" in result.stdout


def run_cli_python(code: str, cwd):
    """``python -I -c CODE`` in ``cwd``, as a user importing an exported module would."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )
