"""A wheel built from the checkout works where the checkout is not: installed with pip into a
bare folder (no editable install, the test environment's dependencies reused), run from a folder
outside the checkout, it shows and exports a loss and runs a probe search from shipped spaces."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import lossevo
from lossevo.loss.screen import probe_scores

ROOT = Path(__file__).resolve().parent.parent
#: What a checkout may hold that is not the project (environments, builds, outputs).
NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "runs", "evaluations")


def pip(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--no-index", "--quiet"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The wheel, and a folder it is installed in; the checkout is copied so the build leaves
    nothing behind in it."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    pip("wheel", "--no-build-isolation", "-w", str(root / "dist"), str(source), cwd=root)
    (wheel,) = (root / "dist").glob("lossevo-*.whl")
    pip("install", "--target", str(root / "site"), str(wheel), cwd=root)
    outside = root / "elsewhere"
    outside.mkdir()
    return {"wheel": wheel, "site": root / "site", "cwd": outside}


def run_installed(installed: dict, *args: str) -> subprocess.CompletedProcess:
    """``python ARGS`` with only the installed folder on PYTHONPATH, outside the checkout."""
    env = {**os.environ, "PYTHONPATH": str(installed["site"]), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=installed["cwd"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_wheel_ships_the_package_and_its_search_spaces(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    for space in ("ganetic", "minimal", "full"):
        assert f"lossevo/search/spaces/{space}.yaml" in names
    assert not any(n.startswith(("tests/", "experiments/", "search_spaces/")) for n in names)
    result = run_installed(installed, "-c", "import lossevo; print(lossevo.__file__)")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(installed["site"]), result.stdout
    assert installed["wheel"].name.startswith(f"lossevo-{lossevo.__version__}-")


@pytest.mark.slow
def test_installed_command_shows_and_exports_a_loss(installed):
    script = installed["site"] / "bin" / "lossevo"  # the console script pip wrote
    for command in (["-m", "lossevo.cli"], [str(script)]):
        result = run_installed(installed, *command, "show", "ganetic")
        assert result.returncode == 0, result.stderr
        assert "screening   passed" in result.stdout
    target = installed["cwd"] / "ganetic_loss.py"
    result = run_installed(installed, "-m", "lossevo.cli", "export", "ganetic", "-o", str(target))
    assert result.returncode == 0, result.stderr
    spec = importlib.util.spec_from_file_location("wheel_export", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    scores = probe_scores("sigmoid")
    want = lossevo.gan_loss("ganetic")
    got = next(
        v for v in vars(module).values() if isinstance(v, type) and v.__name__.endswith("Loss")
    )()
    torch.testing.assert_close(
        got.discriminator_loss(scores, -scores), want.discriminator_loss(scores, -scores)
    )
    torch.testing.assert_close(got.generator_loss(scores), want.generator_loss(scores))


@pytest.mark.slow
def test_installed_command_runs_a_probe_search(installed):
    args = ["search", "--task", "probe", "--population", "4", "--generations", "1"]
    result = run_installed(installed, "-m", "lossevo.cli", *args, "--run-dir", "R", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    run = installed["cwd"] / "R"
    assert (run / "run.db").is_file() and (run / "hall_of_fame.csv").is_file()
    assert lossevo.open_run(run).leaderboard(), result.stdout
