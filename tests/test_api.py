"""The Python API as a notebook meets it: losses as torch modules that compute what the trainer
and the exported module compute, a probe search started, resumed and read, and bad arguments
refused with the CLI's own one-line messages."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_harness import assert_one_line_error, run_cli

import lossevo
from lossevo.fitness.models import ModelConfig, build_models
from lossevo.fitness.train import TrainConfig, train_gan
from lossevo.loss.screen import probe_scores
from lossevo.search.config import SearchConfig

PACKAGE = Path(lossevo.__file__).parent
LOSSES = ["ganetic", "hinge", "adversarial", "y_pred**2 - 2*y_real*y_pred"]


def load_module(path):
    spec = importlib.util.spec_from_file_location("exported_loss", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_class(module):
    return next(
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, torch.nn.Module) and v is not torch.nn.Module
    )


def objectives_and_grads(crit, real, fake) -> list[torch.Tensor]:
    """Both objectives and their gradients with respect to the scores."""
    real, fake = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    d_loss = crit.discriminator_loss(real, fake)
    g_loss = crit.generator_loss(fake)
    d_real, d_fake = torch.autograd.grad(d_loss, (real, fake))
    (g_fake,) = torch.autograd.grad(g_loss, fake)
    return [d_loss.detach(), g_loss.detach(), d_real, d_fake, g_fake]


@pytest.mark.parametrize("name", LOSSES)
def test_loss_module_equals_the_exported_module_in_values_and_gradients(name, tmp_path):
    crit = lossevo.gan_loss(name, transform="raw" if "2*y_real" in name else None)
    exported = exported_class(load_module(lossevo.export(crit, tmp_path / "mine.py")))()
    scores = probe_scores(crit.spec.transform)
    ours = objectives_and_grads(crit, scores, scores.flip(0))
    theirs = objectives_and_grads(exported, scores, scores.flip(0))
    for got, want in zip(theirs, ours, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    assert torch.isfinite(ours[0]) and ours[2].abs().sum() > 0


def first_step_by_hand(images, crit, config: TrainConfig) -> tuple[float, float]:
    """Step 1 of the training loop redone with ``crit``'s objectives: (d_loss, g_loss)."""
    torch.manual_seed(config.seed)
    rng = torch.Generator().manual_seed(config.seed)
    G, D = build_models(ModelConfig(tuple(images.shape[1:]), config.latent_dim, config.width))
    G, D = (m.to(memory_format=torch.channels_last).train() for m in (G, D))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    real = images[torch.randint(len(images), (config.batch_size,), generator=rng)]
    fake = G(torch.randn(config.batch_size, config.latent_dim, generator=rng))
    d_loss = crit.discriminator_loss(D(real), D(fake.detach()))
    d_loss.backward()
    opt_d.step()
    D.requires_grad_(False)
    return d_loss.item(), crit.generator_loss(D(fake)).item()


@pytest.mark.parametrize("name", ["ganetic", "hinge", "adversarial"])
def test_loss_module_computes_what_the_training_loop_minimises(name):
    images = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(5)) * 2 - 1
    crit = lossevo.gan_loss(name)
    config = TrainConfig(steps=1, batch_size=16, width=8, latent_dim=16, seed=3, curve_every=1)
    result = train_gan(
        images,
        crit.loss,
        transform=crit.spec.transform,
        generator_mode=crit.generator,
        config=config,
    )
    d_loss, g_loss = first_step_by_hand(images, crit, config)
    assert result.curves["d_loss"][0] == pytest.approx(d_loss, rel=1e-6)
    assert result.curves["g_loss"][0] == pytest.approx(g_loss, rel=1e-6)


def test_api_names_leave_every_subpackage_importable():
    # A function named like a subpackage (lossevo.search) would break `import lossevo.search.gp`.
    import lossevo.search.gp as gp

    for package in sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py")):
        module = importlib.import_module(f"lossevo.{package}")
        assert getattr(lossevo, package) is module, f"lossevo.{package} is shadowed"
    assert gp.__name__ == "lossevo.search.gp"
    assert set(lossevo.__all__) <= set(dir(lossevo))


def test_loss_module_describes_itself():
    crit = lossevo.gan_loss("hinge", generator="minimax")
    assert crit.name == "hinge" and crit.generator == "minimax" and crit.spec.transform == "raw"
    assert "Max" in crit.formula and "max" in crit.latex and "hinge" not in repr(crit)
    y = torch.tensor([0.0, 1.0])
    assert crit(y, y).item() == pytest.approx(crit.loss(y, y).mean().item())


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory):
    """A finished one-generation probe run that no test changes (resume works on a copy), so
    each test passes alone and in any order."""
    run_dir = tmp_path_factory.mktemp("api") / "run"
    return lossevo.evolve(run_dir, task="probe", population=4, generations=1, progress=False)


def test_search_returns_a_run_with_a_leaderboard_as_rows(probe_run):
    rows = probe_run.leaderboard()
    assert rows and [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    order = [(r["race"] != "survived", r["fitness"]) for r in rows]  # survivors first
    assert order == sorted(order)
    assert {"text", "fitness", "score", "seeds", "race", "complexity", "formula"} <= set(rows[0])
    assert probe_run.leaderboard(top=1) == rows[:1]
    assert probe_run.config.task == "probe" and probe_run.config.population == 4


def test_the_verdict_and_the_json_view_come_from_the_run(probe_run):
    verdict = probe_run.verdict()
    n = SearchConfig().verdict_seeds  # the default
    assert f"{n} fresh seeds" in verdict["sentence"]  # whichever way it goes
    assert verdict["seeds"] == list(range(1000, 1000 + n))
    data = probe_run.to_json()
    assert data["verdict"] == verdict and data["leaderboard"] == probe_run.leaderboard()
    assert [g["generation"] for g in data["generations"]] == [0]


def test_leaderboard_as_a_data_frame_holds_the_same_rows(probe_run):
    pytest.importorskip("pandas")
    frame = probe_run.leaderboard(as_frame=True)
    assert frame.to_dict("records") == probe_run.leaderboard()


def test_best_losses_are_modules_in_leaderboard_order(probe_run, tmp_path):
    rows = probe_run.leaderboard()
    best = probe_run.best(k=len(rows))
    assert [m.formula for m in best] == [r["text"] for r in rows]
    assert all(isinstance(m, lossevo.GanLoss) for m in best)
    paths = probe_run.export(tmp_path / "losses", top=1)
    assert [p.name for p in paths] == ["rank1.py"]
    exported = exported_class(load_module(paths[0]))()
    scores = probe_scores(best[0].spec.transform)
    for got, want in zip(
        objectives_and_grads(exported, scores, -scores),
        objectives_and_grads(best[0], scores, -scores),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


def test_resume_extends_a_run_and_open_run_reads_it(probe_run, tmp_path):
    run_dir = tmp_path / "run"  # a copy: the shared run stays as every other test expects it
    shutil.copytree(probe_run.run_dir, run_dir)
    opened = lossevo.open_run(run_dir)
    assert opened.generations_done == 1 and opened.leaderboard() == probe_run.leaderboard()
    resumed = lossevo.resume(run_dir, generations=2, progress=False)
    assert resumed.generations_done == 2 and resumed.leaderboard()
    assert [g["generation"] for g in resumed.to_json()["generations"]] == [0, 1]
    assert lossevo.open_run(probe_run.run_dir).generations_done == 1
    with pytest.raises(lossevo.LossevoError, match="contradicts the stored run"):
        lossevo.resume(run_dir, seed=99, progress=False)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: lossevo.evolve(population=3, popsize=4), "unknown search setting(s) popsize"),
        (lambda: lossevo.gan_loss("bce", transform="tanh"), "unknown transform 'tanh'"),
        (lambda: lossevo.evaluate(42), "a loss is a name, a formula or lossevo.gan_loss"),
        (lambda: lossevo.open_run("/nonexistent/run"), "does not exist"),
    ],
)
def test_bad_arguments_are_one_line_lossevo_errors(call, message):
    with pytest.raises(lossevo.LossevoError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_best_and_export_refuse_a_count_below_one(probe_run, tmp_path):
    for call in (lambda: probe_run.best(k=0), lambda: probe_run.export(tmp_path, top=0)):
        with pytest.raises(lossevo.LossevoError, match="at least 1"):
            call()
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "api_call, cli_args",
    [
        (
            lambda d: lossevo.evolve(d / "r", task="probe", population=1, progress=False),
            ["search", "--task", "probe", "--population", "1", "--run-dir", "r"],
        ),
        (lambda d: lossevo.gan_loss("frob(y_pred)"), ["show", "frob(y_pred)"]),
        (lambda d: lossevo.resume(d / "nothing", progress=False), ["resume", "nothing"]),
    ],
)
def test_api_and_cli_refuse_with_the_same_line(api_call, cli_args, tmp_path):
    with pytest.raises(lossevo.LossevoError) as err:
        api_call(tmp_path)
    line = assert_one_line_error(run_cli(*cli_args, cwd=tmp_path))
    assert line == f"lossevo: error: {err.value}".replace(str(tmp_path) + "/", "")
    assert not (tmp_path / "r").exists()


def test_importing_lossevo_leaves_torch_unloaded_until_the_api_is_used():
    """``import lossevo`` (and so every ``lossevo.util`` import in a fresh process) is cheap;
    the API's names still import as written in the README."""
    code = (
        "import sys, lossevo\n"
        "assert 'torch' not in sys.modules, 'import lossevo loaded torch'\n"
        "assert set(lossevo.__all__) <= set(dir(lossevo))\n"
        "try:\n"
        "    lossevo.no_such_name\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('a missing name did not raise AttributeError')\n"
        "from lossevo import evolve, GanLoss\n"
        "assert evolve is lossevo.api.evolve and 'torch' in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
