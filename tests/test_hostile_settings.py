"""Hostile search settings, budgets and execution options, through the CLI and the API.

The defects of RELIABILITY.md's second campaign (R1-R23) that concern settings: each is typed
as a user would (CLI cases through the real command in a subprocess) or called as a notebook
would (API cases), on the seconds-cheap probe task, and must be refused in one line before
anything is created, or must work.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from pathlib import Path

import pytest
import test_search
import torch
from cli_harness import TINY_SEARCH, assert_one_line_error, run_cli, snapshot

import lossevo
from lossevo.cli import build_parser
from lossevo.runs.executors import Execution, Job, SerialExecutor, cores, make_executor
from lossevo.runs.store import RunStore
from lossevo.search.config import EXTEND, SearchConfig, settings
from lossevo.search.run import create_run, start_search
from lossevo.search.spend import Spend
from lossevo.util.budget import BudgetError, parse_budget
from lossevo.util.errors import LossevoError

ROOT = Path(__file__).resolve().parent.parent
#: A tiny probe search: two generations, racing on 2 seeds at 40 steps, a 2-seed verdict.
TINY = {
    **test_search.TINY,
    **dict(generations=2, population=4, steps=40, race_max_seeds=2),
    **dict(verdict_top=1, verdict_seeds=2, verdict_steps=40, controls=("bce",)),
}
HUGE = "1" * 4400


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A probe run that ended on its generation count (2 of 2)."""
    path = tmp_path_factory.mktemp("finished") / "run"
    start_search(path, SearchConfig(**TINY), echo=lambda s: None, progress=False)
    return path


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory) -> Path:
    """A probe run that ended on a 1-step budget after its first of 5 generations."""
    path = tmp_path_factory.mktemp("budgeted") / "run"
    config = SearchConfig(**{**TINY, "generations": 5, "budget": "1steps"})
    start_search(path, config, echo=lambda s: None, progress=False)
    return path


def _copy(run: Path, folder: Path) -> Path:
    return Path(shutil.copytree(run, folder / "run"))


def _refused(*args: str, cwd: Path, message: str) -> None:
    """The CLI refuses in one line naming ``message``, and the folder is unchanged."""
    before, names = snapshot(cwd), sorted(os.listdir(cwd))
    line = assert_one_line_error(run_cli(*args, cwd=cwd, timeout=120))
    assert line.startswith("lossevo: error: ") and message in line, line
    assert snapshot(cwd) == before and sorted(os.listdir(cwd)) == names


# --- settings generated from SearchConfig's metadata ---------------------------------------


def test_search_and_resume_flags_are_generated_from_the_settings_metadata():
    """Every setting with a flag is a ``search`` flag whose default is SearchConfig's, and
    ``resume`` has exactly the settings a resume extends or checks."""
    parser = build_parser()
    args = parser.parse_args(["search"])
    defaults = SearchConfig()
    for name, rule in settings().items():
        if rule.flag:
            value = getattr(args, name)
            assert (tuple(value) if isinstance(value, list) else value) == getattr(defaults, name)
    resume = parser.parse_args(["resume", "R"])
    offered = {n for n in vars(resume) if n in settings()}
    assert offered == {n for n, r in settings().items() if r.resume == EXTEND or r.resume_flag}
    assert {"generations", "budget", "space", "seed", "population", "race_alpha"} <= offered


def test_search_help_lists_every_setting_flag_with_its_default(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name, rule in settings().items():
        if rule.flag:
            assert rule.flag_name(name) in help_text, name
    assert "(default 10)" in help_text and "(default bce ganetic least_squares)" in help_text


# --- R1, R2, R3: settings refused before the run folder exists -----------------------------


def test_r1_verdict_seeds_have_an_upper_bound_refused_before_the_folder_exists(tmp_path):
    _refused(
        *TINY_SEARCH,
        "--verdict-seeds",
        "1000000",
        "--run-dir",
        "R",
        cwd=tmp_path,
        message="--verdict-seeds must be in [2, 1000]",
    )
    assert not (tmp_path / "R").exists()


@pytest.mark.parametrize(
    "settings_, message",
    [
        ({"controls": ()}, "--controls must be one or more loss names"),  # R2
        ({"tournament_size": 0}, "--tournament-size must be at least 1"),  # R3
        ({"hall_of_fame": -3}, "--hall-of-fame must be at least 1"),
        ({"crossover_prob": 7}, "--crossover-prob must be in [0, 1]"),
        ({"mutation_prob": -2}, "--mutation-prob must be in [0, 1]"),
        ({"task_config": {"n_scores": -5}}, "probe n_scores must be an integer from 2"),
    ],
)
def test_r2_r3_api_settings_are_checked_before_the_run_exists(settings_, message, tmp_path):
    with pytest.raises(LossevoError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        lossevo.evolve(
            tmp_path / "R", task="probe", population=4, generations=1, progress=False, **settings_
        )
    assert "\n" not in str(err.value)
    assert not (tmp_path / "R").exists()


# --- R4, R11: budgets ----------------------------------------------------------------------


@pytest.mark.parametrize("text", [HUGE + "steps", HUGE + "s", "١٠m", "٢٠٠٠٠steps"])
def test_r4_huge_and_non_ascii_budgets_are_budget_errors(text):
    with pytest.raises(BudgetError) as err:
        parse_budget(text)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_r4_a_4400_digit_budget_is_one_line_on_search_and_on_resume(finished, tmp_path):
    _refused(
        *TINY_SEARCH,
        "--budget",
        HUGE + "steps",
        "--run-dir",
        "R",
        cwd=tmp_path,
        message="more than 30 digits",
    )
    run = _copy(finished, tmp_path)
    for budget, message in ((HUGE + "steps", "more than 30 digits"),
                            ("١٠m", "--budget must be a duration")):  # fmt: skip
        _refused("resume", str(run), "--generations", "3", "--budget", budget, cwd=tmp_path,
                 message=message)  # fmt: skip


def test_r11_a_budget_over_11_days_extends_and_reads_back():
    extended = parse_budget("12d").plus(parse_budget("1h"))
    assert "e" not in extended.text()
    assert parse_budget(extended.text()) == extended


def test_r11_a_12_day_run_can_be_extended(tmp_path):
    settings_ = {**TINY, "generations": 1, "budget": "12d"}
    run = lossevo.evolve(tmp_path / "R", progress=False, **settings_)
    lossevo.resume(run.run_dir, generations=2, budget="1h", progress=False)
    assert run.generations_done == 2


# --- R6, R15: API arguments of the wrong kind ----------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: lossevo.gan_loss(None), "gan_loss takes a loss name or a formula"),
        (lambda d: lossevo.gan_loss(5), "gan_loss takes a loss name or a formula"),
        (lambda d: lossevo.evolve(d / "R", task="probe", workers="2"), "--workers must be"),
        (lambda d: lossevo.evaluate("bce", seeds="2"), "seeds must be a whole number"),
        (lambda d: lossevo.evolve(d / "R", task_config="x"), "task_config must be a dict"),
        (lambda d: lossevo.evolve(d / "R", task="probe", gpus_per_eval=-1), "--gpus-per-eval"),
        (lambda d: lossevo.evolve(d / "R", task="probe", eval_timeout=-5), "--eval-timeout"),
    ],
)
def test_r6_r20_api_arguments_of_the_wrong_kind_are_one_line_lossevo_errors(
    call, message, tmp_path
):
    with pytest.raises(LossevoError, match=message) as err:
        call(tmp_path)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "R").exists()


def test_r15_api_resume_names_an_unknown_or_mistyped_setting(finished, tmp_path):
    run = _copy(finished, tmp_path)
    before = snapshot(run)
    with pytest.raises(LossevoError, match=r"^unknown search setting\(s\) populaton"):
        lossevo.resume(run, populaton=6, progress=False)
    with pytest.raises(LossevoError, match=r"^--population must be an integer, not '6'$"):
        lossevo.resume(run, population="6", progress=False)
    assert snapshot(run) == before


# --- R10, R13, R14, R21: resume ------------------------------------------------------------


def test_r10_resume_budget_adds_to_what_was_spent(budgeted, tmp_path):
    run = _copy(budgeted, tmp_path)
    result = run_cli("resume", str(run), "--budget", "100steps", "--quiet", timeout=300)
    assert result.returncode == 0, result.stderr
    with RunStore.open(run, kind="search", readonly=True) as store:
        generations = len(store.generations())
        budget_stops = [e for e in store.events() if e["kind"] == "budget"]
    # more generations ran (a generation that trains little leaves budget for the next), and
    # the added budget, not the generation count (5), stopped them
    assert 2 <= generations < 5 and len(budget_stops) == 2, (generations, budget_stops)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [  # R13: shrinking --generations; R14: a budget on a run that ended on its generations
        ("--generations", "1", "--generations 1 would shrink the run (2 generations)"),
        ("--budget", "1m", "--budget adds nothing: all 2 generations of this run are done"),
    ],
)
def test_r13_r14_a_resume_that_cannot_extend_the_run_says_why(
    finished, tmp_path, flag, value, message
):
    run = _copy(finished, tmp_path)
    _refused("resume", str(run), flag, value, cwd=tmp_path, message=message)


def test_r21_resume_accepts_the_same_space_by_path(finished, tmp_path):
    run = _copy(finished, tmp_path)
    path = ROOT / "search_spaces" / "minimal.yaml"
    result = run_cli("resume", str(run), "--space", str(path), "--quiet", timeout=120)
    assert result.returncode == 0, result.stderr
    _refused(
        "resume", str(run), "--space", "ganetic", cwd=tmp_path, message="contradicts the stored run"
    )


# --- R19: time before a session's first batch -----------------------------------------------


def test_r19_a_killed_sessions_time_before_its_first_batch_counts(tmp_path):
    config = SearchConfig(**{**TINY, "budget": "1h"})
    with create_run(tmp_path / "R", config) as store:
        Spend(store, config)  # a session starts...
        time.sleep(1.0)
        store.log("start", "screening the first population")  # ...works, and is killed
    with RunStore.open(tmp_path / "R", kind="search") as store:
        assert Spend(store, config).seconds() >= 1.0


# --- R20, R22, R23: execution options, run folders, the printed command ---------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--gpus-per-eval", "-1"], "--gpus-per-eval must be 0 or more"),
        (["--eval-timeout", "-5"], "--eval-timeout must be a positive number"),
        (["--workers", "0"], "--workers must be a whole number of at least 1"),
        (["--dataset", "digits-8x8", "--lr", "0.1"], "--dataset, --lr set(s) the gan task"),
    ],
)
def test_r20_execution_and_gan_flags_are_checked(flags, message, tmp_path):
    _refused(*TINY_SEARCH, *flags, "--run-dir", "R", cwd=tmp_path, message=message)


def test_r22_a_dangling_run_dir_symlink_is_named(tmp_path):
    (tmp_path / "R").symlink_to(tmp_path / "nowhere")
    _refused(*TINY_SEARCH, "--run-dir", "R", cwd=tmp_path, message="is a symlink to")


def test_r22_a_run_dir_symlink_to_an_empty_folder_holds_the_run(tmp_path):
    (tmp_path / "target").mkdir()
    (tmp_path / "R").symlink_to(tmp_path / "target")
    result = run_cli(*TINY_SEARCH, "--run-dir", "R", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "target" / "run.db").is_file() and (tmp_path / "R").is_symlink()


def test_r23_the_printed_resume_command_is_shell_quoted(tmp_path):
    name = "a;touch X"
    result = run_cli(*TINY_SEARCH, "--run-dir", name, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    line = next(s for s in result.stdout.splitlines() if "resume with:" in s)
    command = line.split("resume with: ", 1)[1].rstrip(")")
    assert shlex.split(command) == ["lossevo", "resume", name]


# --- the default worker count ----------------------------------------------------------------


def test_default_workers_one_per_core_for_gan_in_process_for_probe():
    assert Execution().workers_for("gan") == cores()
    assert Execution().workers_for("probe") == 1
    assert Execution(workers=3).workers_for("probe") == 3
    assert isinstance(make_executor("gan", {}, Execution(workers=1)), SerialExecutor)
    assert build_parser().parse_args(["search", "--workers", "auto"]).workers is None


def test_the_in_process_executor_trains_on_one_thread_and_restores_the_count():
    before = torch.get_num_threads()
    job = Job("a", {"loss": lossevo.gan_loss("bce").spec.to_dict(), "seed": 0, "steps": 2})
    with make_executor("probe", {}) as executor:
        [(_, result)] = list(executor.run([job]))
        assert result["status"] == "ok" and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
