"""``show``/``export TARGET``: one decision between a run directory, a built-in name, a formula."""

import os

import pytest

from lossevo.loss.formula import FormulaError
from lossevo.report.target import TargetError, resolve_target


@pytest.fixture
def cwd(tmp_path):
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


def test_formula_longer_than_a_file_name_is_a_formula(cwd):
    text = "+".join(f"sqrt({i}.5*y_pred*y_real)" for i in range(12))
    assert len(text) > 255
    target = resolve_target(text)
    assert target.run_dir is None and target.spec.expr.uses_both_leaves


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_empty_text_never_means_the_working_folder(cwd, text):
    with pytest.raises(TargetError, match="empty target"):
        resolve_target(text)


def test_builtin_name_wins_over_a_folder_and_the_note_says_how_to_get_the_folder(cwd):
    (cwd / "bce").mkdir()
    target = resolve_target("bce")
    assert target.spec.name == "bce" and "./bce" in target.note
    assert resolve_target("./bce").run_dir is not None


def test_existing_folder_is_a_run_target(cwd):
    (cwd / "runs" / "r1").mkdir(parents=True)
    assert resolve_target("runs/r1").run_dir.name == "r1"


@pytest.mark.parametrize("text", ["runs/missing", "/no/such/run", "./gone", "runs/missing/"])
def test_missing_path_is_a_missing_run_not_a_bad_formula(cwd, text):
    with pytest.raises(TargetError, match="no such run directory"):
        resolve_target(text)


def test_a_file_is_named_as_a_file(cwd):
    (cwd / "notes.txt").write_text("x")
    with pytest.raises(TargetError, match="is a file"):
        resolve_target("notes.txt")


def test_bad_formula_stays_a_formula_error_and_does_not_echo_itself(cwd):
    text = "y_pred + (" + "y_real * " * 100 + "1"
    with pytest.raises(FormulaError) as info:
        resolve_target(text)
    assert text not in str(info.value)
    with pytest.raises(FormulaError, match="not a built-in loss"):
        resolve_target("ganettic")


def test_overrides_reach_the_spec(cwd):
    target = resolve_target("hinge", generator="minimax")
    assert target.spec.generator == "minimax" and target.spec.transform == "raw"
