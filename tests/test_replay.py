"""Replay and promotion end to end, with real training at tiny budgets and a real SQLite store.

One tiny protocol (3 losses x 2 runs x 20 steps, width 8) is replayed once per module through the
command layer; the other tests resume it, refuse other protocols and check what was written.
"""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from PIL import Image

from lossevo.cli import build_parser
from lossevo.runs.store import RunStore
from lossevo.studies.promote import promotion_results
from lossevo.studies.protocol import ProtocolError, load_protocol
from lossevo.studies.replay import run_replay

TASK = "{dataset: mnist-offline, width: 8, batch_size: 32, n_samples: 200, device: cpu}"
TINY = f"""name: tiny
description: three losses, two runs, twenty steps
losses: [bce, ganetic, hinge]
runs: 2
steps: 20
checkpoints: [5, 10]
task: gan
task_config: {TASK}
baseline: bce
published: ganetic
"""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def command(*argv: str) -> int:
    """Run a replay/promote command in-process, through the CLI's own parser."""
    args = build_parser().parse_args(argv)
    return args.func(args)


def snapshot(directory: Path) -> dict:
    return {
        p.relative_to(directory): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def forbid_training(monkeypatch):
    """Any attempt to build a task or an executor fails the test."""

    def boom(*args, **kwargs):
        raise AssertionError("training was started")

    monkeypatch.setattr("lossevo.runs.executors.make_executor", boom)
    monkeypatch.setattr("lossevo.studies.replay.describe_task", boom)


@pytest.fixture(scope="module")
def replay_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("replay")
    (root / "tiny.yaml").write_text(TINY)
    assert (
        command(
            "replay",
            "--config",
            str(root / "tiny.yaml"),
            "--out",
            str(root / "out"),
            "--quiet",
            "--workers",
            "1",  # in-process: a 20-step tiny GAN does not repay Ray's start-up
        )
        == 0
    )
    return root / "out"


def test_replay_writes_report_table_and_figures(replay_dir):
    report = (replay_dir / "report.md").read_text()
    for text in (
        "## Summary of the runs, unpaired",
        "ganetic's std across runs is",
        "Mann-Whitney",
        "y_pred**3 + sqrt(3.985",
        "domain_fid",
        "classifier",
        "held-out accuracy",
        "200 generated samples",
        "20 generator steps",
        "torch 2.",
        "## The published table",  # the protocol names it (published: ganetic)
        "The published ganetic formula",
    ):
        assert text in report, text
    with open(replay_dir / "table.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["loss"] for r in rows] == ["bce", "ganetic", "hinge"]
    assert all(int(r["runs"]) == 2 and float(r["mean"]) > 0 for r in rows)
    assert rows[0]["p"] == "" and 0 < float(rows[1]["p"]) <= 1
    assert "## Quality and stability against bce, seed by seed" in report
    assert "## The published claims about ganetic" in report and "- Stability: " in report
    assert rows[1]["ratio"] and rows[1]["p_better"] and rows[1]["p_worse"]
    for name in ("fig_runs.png", "fig_losses.png", "fig_samples.png", "fig_curves.png"):
        with Image.open(replay_dir / name) as image:
            image.verify()
        with Image.open(replay_dir / name) as image:
            assert image.size[0] >= 500 and image.size[1] >= 300, (name, image.size)
    assert len(list((replay_dir / "grids").glob("*.png"))) == 3


def test_replay_store_holds_every_run_with_the_protocol(replay_dir):
    with RunStore.open(replay_dir, kind="replay") as store:
        evaluations = store.evaluations()
        assert store.config["steps"] == 20 and store.config["protocol"]["runs"] == 2
        assert store.config["digest"] == load_protocol(replay_dir.parent / "tiny.yaml").digest()
    assert all(sorted(map(int, e["checkpoints"])) == [5, 10] for e in evaluations)
    assert len(evaluations) == 6 and {e["seed"] for e in evaluations} == {0, 1}
    assert all(e["budget"] == 20 and e["status"] == "ok" for e in evaluations)


def test_resume_trains_nothing(replay_dir, monkeypatch):
    with RunStore.open(replay_dir, kind="replay") as store:
        before = [(e["id"], e["created"]) for e in store.evaluations()]
    forbid_training(monkeypatch)
    lines = []
    run_replay(replay_dir.parent / "tiny.yaml", replay_dir, progress=False, echo=lines.append)
    assert "6/6 runs stored, 0 to train" in lines[0]
    with RunStore.open(replay_dir, kind="replay") as store:
        assert [(e["id"], e["created"]) for e in store.evaluations()] == before
    assert command("replay", "--report-only", "--out", str(replay_dir)) == 0


def test_other_protocol_is_refused_before_training(replay_dir, monkeypatch):
    other = replay_dir.parent / "other.yaml"
    other.write_text(TINY.replace("name: tiny", "name: other").replace("steps: 20", "steps: 30"))
    before = snapshot(replay_dir)
    forbid_training(monkeypatch)
    with pytest.raises(ProtocolError, match="holds a replay of protocol 'tiny'") as err:
        run_replay(other, replay_dir, progress=False)
    assert "use another --out" in str(err.value) and "\n" not in str(err.value)
    assert snapshot(replay_dir) == before


@pytest.mark.parametrize(
    "change, match",
    [
        ("stepz: 20", "unknown key 'stepz'"),
        ("task_config: {dataset: mnist-offline, widht: 8}", "widht"),
        ("runs: 0", "runs must be a positive integer"),
        ("epochs: 2", "exactly one of steps and epochs"),
        ("baseline: wgan", "baseline 'wgan' is not among the losses"),
        ("checkpoints: [5, 20]", "checkpoint 20 is not below the budget of 20 steps"),
        ("checkpoints: [10, 5]", "checkpoints must increase"),
        ("checkpoints: [0]", "checkpoints must be a list of positive step counts"),
    ],
)
def test_bad_protocol_is_refused_with_one_line(tmp_path, monkeypatch, change, match):
    key = change.split(":")[0]
    lines = [line for line in TINY.splitlines() if not line.startswith(key) or key == "epochs"]
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(lines + [change]) + "\n")
    forbid_training(monkeypatch)
    with pytest.raises(ProtocolError, match=match) as err:
        command("replay", "--config", str(path), "--out", str(tmp_path / "out"))
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_missing_inception_weights_are_refused_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSEVO_INCEPTION_WEIGHTS", str(tmp_path / "nowhere.pth"))
    monkeypatch.setattr("lossevo.runs.executors.make_executor", forbid_training)
    path = tmp_path / "fid.yaml"
    path.write_text(TINY.replace("device: cpu}", "device: cpu, metric: inception_fid}"))
    with pytest.raises(ValueError, match="Inception-v3 FID weights not found") as err:
        run_replay(path, tmp_path / "out", progress=False)
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()


def test_shipped_protocols_are_valid():
    cpu = load_protocol("experiments/ganetic_mnist_cpu.yaml")
    assert cpu.runs >= 5 and len(cpu.losses) == 6 and cpu.baseline == "bce"
    gpu = load_protocol("experiments/ganetic_cifar10.yaml")
    assert gpu.runs == 25 and gpu.task_config["n_samples"] >= 10_000
    assert gpu.resolve_steps(50_000) == 78_125  # 200 epochs x 50,000 images / batch 128


# ------------------------------------------------------------------------------ promotion


def fake_search_run(path: Path) -> Path:
    """A search run directory with three evaluated candidates (no training needed)."""
    from lossevo.loss.expr import LossExpr
    from lossevo.loss.reference import LossSpec
    from lossevo.loss.screen import fingerprint
    from lossevo.search.config import SearchConfig
    from lossevo.search.space import load_space

    config = SearchConfig(steps=20)
    space = load_space("ganetic")
    store = RunStore.create(
        path,
        {"search": asdict(config), "space": space.to_dict(), "space_digest": space.digest()},
        kind="search",
    )
    with store:
        for i, formula in enumerate(
            ["(y_pred - y_real)**2", "abs(y_pred - y_real)", "(y_pred - y_real)**2 + y_pred**3"]
        ):
            expr = LossExpr.from_text(formula)
            fp = fingerprint(LossSpec(name=formula, expr=expr))
            spec = LossSpec(name=formula, expr=expr)
            store.put_candidate(spec, verdict="passed", fingerprint=fp)
            store.put_evaluation(fp, spec.key, 0, 20, {"status": "ok", "fitness": 10.0 + i})
    return path


def test_promote_through_stages_keeps_baselines(tmp_path):
    run = fake_search_run(tmp_path / "search")
    stages = tmp_path / "stages.yaml"
    stages.write_text(f"""name: tiny-promote
stages:
  - {{name: short, task: gan, task_config: {TASK}, steps: 8, seeds: 1, keep: 1}}
  - {{name: longer, task: gan, task_config: {TASK}, steps: 12, seeds: 2, keep: 0.5,
      first_seed: 1}}
""")
    out = tmp_path / "promo"
    # --workers 1: in-process, as Ray's start-up is test_executors' subject
    promote = ["promote", str(run), "--top", "2", "--stages", str(stages), "--out", str(out)]
    promote += ["--quiet", "--workers", "1"]
    assert command(*promote) == 0
    with open(out / "table.csv") as f:
        rows = list(csv.DictReader(f))
    first = [r for r in rows if r["stage"] == "short"]
    second = [r for r in rows if r["stage"] == "longer"]
    assert {r["loss"] for r in first} == {"bce", "ganetic", "rank1", "rank2"}
    assert {r["loss"] for r in second if r["role"] == "baseline"} == {"bce", "ganetic"}
    assert len([r for r in second if r["role"] == "candidate"]) == 1  # keep: 1
    assert all(r["moved_on"] == "yes" for r in first if r["role"] == "baseline")
    assert all(int(r["n"]) == 2 for r in second)
    assert "## Stage 2: longer" in (out / "report.md").read_text()
    with RunStore.open(out, kind="promote") as store:
        count = len(store.evaluations())
        seeds = {e["seed"] for e in store.evaluations() if e["stage"] == "longer"}
    assert count == 4 + 3 * 2 and seeds == {1, 2}  # fresh seeds: stage 1 decided on seed 0
    results = promotion_results(out)  # what studies built on a promotion read
    assert set(results["short"]) == {
        "bce",
        "ganetic",
        "(y_pred - y_real)**2",
        "Abs(y_pred - y_real)",
    }
    assert all(set(by_seed) == {1, 2} for by_seed in results["longer"].values())
    command(*promote)  # resumes: nothing new
    with RunStore.open(out, kind="promote") as store:
        assert len(store.evaluations()) == count


@pytest.mark.parametrize(
    "stage, match",
    [
        ("{name: s, task: segmentation, task_config: {}, steps: 5, seeds: 1}", "unknown task"),
        ("{name: s, task: gan, task_config: {}, steps: 5, seeds: 1, kep: 1}", "unknown key 'kep'"),
        ("{name: s, task: gan, task_config: {colour: red}, steps: 5, seeds: 1}", "colour"),
        (
            "{name: s, task: gan, task_config: {dataset: nowhere-mnist}, steps: 5, seeds: 1}",
            "unknown dataset 'nowhere-mnist'",
        ),
        (
            "{name: s, task: anomaly, task_config: {dataset: mnist-offline, encoder_steps: 0}, "
            "steps: 5, seeds: 1}",
            "encoder_steps",
        ),
        (
            "{name: a, task: gan, steps: 5, seeds: 2}\n"
            "  - {name: b, task: gan, steps: 9, seeds: 3}",
            "stage 'b' reuses seeds 0-1 of stage 'a' on the same task and data, so it would "
            "judge on the seeds that chose its entrants; give it first_seed: 2",
        ),
        ("{name: s, task: gan, steps: 5, seeds: 1, first_seed: -1}", "first_seed must be"),
    ],
)
def test_bad_stage_is_refused_before_training(tmp_path, monkeypatch, stage, match):
    run = fake_search_run(tmp_path / "search")
    stages = tmp_path / "stages.yaml"
    stages.write_text(f"stages:\n  - {stage}\n")
    forbid_training(monkeypatch)
    with pytest.raises(ProtocolError, match=match) as err:
        command("promote", str(run), "--stages", str(stages), "--out", str(tmp_path / "p"))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "p").exists()


def test_shipped_stage_files_are_valid():
    from lossevo.studies.promote import load_stages

    default = load_stages("experiments/promote_default.yaml")
    assert [s.task for s in default.stages] == ["gan", "gan", "anomaly"]
    cpu = load_stages("experiments/promote_cpu.yaml")
    assert cpu.stages[-1].task_config["normal_label"] == 0
    anomaly = load_stages("experiments/anomaly_mnist.yaml")
    assert [s.task_config["normal_label"] for s in anomaly.stages] == [0, 1, 2]
    assert all(s.survivors(5) == 5 for s in anomaly.stages)  # every loss through every digit
    assert set(anomaly.baselines) == {"bce", "ganetic", "least_squares"}
