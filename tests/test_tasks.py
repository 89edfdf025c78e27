"""The one task registry: every part that names a task (executors, study files, the CLI) reads
it, and every task speaks the same protocol (from_config, evaluate, describe)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from lossevo.fitness import TASKS, check_task_config, make_task, task_class
from lossevo.fitness.anomaly import AnomalyConfig, AnomalyTask
from lossevo.fitness.gan import GanConfig, GanTask
from lossevo.fitness.options import TrainingOptions
from lossevo.fitness.probe import ProbeConfig, ProbeTask
from lossevo.loss.reference import reference_loss
from lossevo.search.config import SEARCH_TASKS
from lossevo.studies.protocol import ProtocolError
from lossevo.studies.protocol import check_task_config as check_study_config
from lossevo.util.errors import LossevoError


def test_registry_pairs_each_task_with_its_config():
    assert TASKS == {"gan": GanTask, "anomaly": AnomalyTask, "probe": ProbeTask}
    assert [TASKS[k].Config for k in TASKS] == [GanConfig, AnomalyConfig, ProbeConfig]
    for cls in TASKS.values():
        for method in ("from_config", "evaluate", "describe"):
            assert callable(getattr(cls, method)), (cls, method)
    assert set(SEARCH_TASKS) <= set(TASKS)


def test_gan_and_anomaly_share_one_training_config():
    shared = {f.name for f in fields(TrainingOptions)}
    assert shared >= {"batch_size", "width", "latent_dim", "lr", "beta1", "device", "dataset"}
    for config in (GanConfig, AnomalyConfig):
        assert issubclass(config, TrainingOptions)
        assert shared <= {f.name for f in fields(config)}
    # one default width: at 16 the anomaly task's MNIST GAN drew strokes, AUROC 0.26 (below chance)
    assert AnomalyConfig().width == GanConfig().width == 32
    train = GanConfig(batch_size=8, width=8).train_config(steps=3, seed=4, device="cpu")
    assert (train.batch_size, train.width, train.steps, train.seed) == (8, 8, 3, 4)


@pytest.mark.parametrize("kind", list(TASKS))
def test_unknown_options_are_refused_in_one_line_naming_the_task(kind):
    with pytest.raises(LossevoError, match=f"unknown {kind} task option") as err:
        check_task_config(kind, {"bogus": 1})
    assert "\n" not in str(err.value)
    with pytest.raises(ProtocolError, match=f"stage 1: task_config: unknown {kind} task option"):
        check_study_config(kind, {"bogus": 1}, "stage 1")


def test_unknown_task_is_refused_everywhere_alike():
    with pytest.raises(
        LossevoError, match="unknown task 'segmentation'; known tasks: gan, anomaly"
    ):
        task_class("segmentation")
    with pytest.raises(ProtocolError, match="unknown task 'segmentation'; use one of gan, anomaly"):
        check_study_config("segmentation", {}, "f.yaml")


def test_probe_task_speaks_the_protocol():
    task = make_task("probe", {"n_scores": 16})
    assert task.describe() == {"task": "probe", "config": {"n_scores": 16, "lr": 0.05}}
    result = task.evaluate({"loss": reference_loss("bce").to_dict(), "seed": 0, "steps": 5})
    separation = abs(result["metrics"]["separation"])
    assert result["status"] == "ok" and result["fitness"] == 1 / (1 + separation) < 1
