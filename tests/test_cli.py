"""The command line as a user meets it: help, show, export, and one-line errors with exit 2."""

import pytest
from cli_harness import run_cli as lossevo


def test_help():
    result = lossevo("--help")
    assert result.returncode == 0 and "search" in result.stdout and "export" in result.stdout


def test_show_ganetic():
    result = lossevo("show", "ganetic")
    assert result.returncode == 0, result.stderr
    assert "screening   passed" in result.stdout and "guard(y_pred)" in result.stdout


def test_show_reports_rejection_reason():
    result = lossevo("show", "y_pred**2")
    assert result.returncode == 0 and "REJECTED: missing_leaf" in result.stdout


def test_export_formula(tmp_path):
    out = tmp_path / "mine.py"
    result = lossevo("export", "y_pred**3 + sqrt(3.985*y_real/y_pred)", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.exists() and "def loss(y_real, y_pred)" in out.read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["show", "y_pred + "],
        ["show", "__import__('os')"],
        ["export", "frob(y_pred)", "-o", "/tmp/never.py"],
        ["show", "bce", "--transform", "raw", "--generator", "minimax"],
    ],
)
def test_errors_are_one_line_exit_2_unless_valid(args):
    result = lossevo(*args)
    if args[1] == "bce":
        assert result.returncode == 0
        return
    assert result.returncode == 2
    assert result.stderr.startswith("lossevo: error: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_debug_shows_traceback():
    result = lossevo("--debug", "show", "y_pred + ")
    assert result.returncode != 0 and "Traceback" in result.stderr
