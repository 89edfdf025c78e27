"""The anomaly task (f-AnoGAN): real training at tiny budgets on small synthetic data on disk."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

import lossevo.fitness.options as training_run
from lossevo.fitness import make_task
from lossevo.fitness.anomaly import AnomalyTask
from lossevo.loss.reference import LossSpec, reference_loss

SMALL = dict(width=16, batch_size=32, latent_dim=32, device="cpu")
BCE_JOB = {"loss": reference_loss("bce").to_dict(), "seed": 0, "steps": 100}
N_NORMAL_TRAIN = 512


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def normal_images(rng: np.random.Generator, n: int, size: int = 28) -> np.ndarray:
    """Dark noisy background with one soft bright disc of random centre and radius."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    cy, cx = rng.uniform(8, size - 8, (2, n, 1, 1))
    radius = rng.uniform(3, 6, (n, 1, 1))
    dist = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    img = 200 / (1 + np.exp(dist - radius)) + rng.uniform(0, 20, (n, size, size))
    return np.clip(img, 0, 255).astype(np.uint8)


def anomalous_images(rng: np.random.Generator, n: int, size: int = 28) -> np.ndarray:
    """The same background with a bright square (odd i) or vertical stripes (even i)."""
    img = rng.uniform(0, 20, (n, size, size))
    for i in range(n):
        if i % 2:
            y, x = rng.integers(2, size - 12, 2)
            s = rng.integers(8, 12)
            img[i, y : y + s, x : x + s] = 255
        else:
            img[i, :, (np.arange(size) % rng.integers(4, 7)) < 2] = 230
    return np.clip(img, 0, 255).astype(np.uint8)


def write_npz(path, *, test_normal: int = 100, test_anomalies: int = 100):
    """A MedMNIST-style .npz: normal = label 0, squares/stripes = labels 1 and 2."""
    rng = np.random.default_rng(0)
    train = np.concatenate([normal_images(rng, N_NORMAL_TRAIN), anomalous_images(rng, 64)])
    train_labels = np.r_[np.zeros(N_NORMAL_TRAIN), 1 + np.arange(64) % 2]
    test = np.concatenate([normal_images(rng, test_normal), anomalous_images(rng, test_anomalies)])
    test_labels = np.r_[np.zeros(test_normal), 1 + np.arange(test_anomalies) % 2]
    np.savez(
        path,
        train_images=train,
        train_labels=train_labels.astype(np.uint8)[:, None],
        test_images=test,
        test_labels=test_labels.astype(np.uint8)[:, None],
    )
    return path


@pytest.fixture(scope="module")
def toy_npz(tmp_path_factory):
    return write_npz(tmp_path_factory.mktemp("npz") / "toy.npz")


@pytest.fixture(scope="module")
def bce_run(toy_npz):
    """One BCE run (100 GAN + 60 encoder steps), recording the images the GAN was trained on."""
    task = AnomalyTask.from_config(
        {"dataset": str(toy_npz), "normal_label": 0, "encoder_steps": 60, **SMALL}
    )
    seen = []

    def recording_train_gan(images, *args, **kwargs):
        seen.append(images)
        return real_train_gan(images, *args, **kwargs)

    real_train_gan = training_run.train_gan
    with pytest.MonkeyPatch.context() as mp:  # a spy: the real training still runs
        mp.setattr(training_run, "train_gan", recording_train_gan)
        result = task.evaluate(BCE_JOB, keep_scores=True)
    return task, result, seen


@pytest.mark.slow
def test_bce_residual_auroc_is_at_least_0_8(bce_run):
    _, result, _ = bce_run
    m = result["metrics"]
    print(
        f"\nBCE: residual AUROC {m['auroc_residual']:.4f}, "
        f"discriminator AUROC {m['auroc_discriminator']:.4f}, {result['seconds']:.1f} s"
    )
    assert result["status"] == "ok" and result["error"] is None
    assert m["auroc_residual"] >= 0.8
    assert 0.0 <= m["auroc_discriminator"] <= 1.0
    assert result["fitness"] == pytest.approx(1.0 - m["auroc_residual"])
    assert (m["n_test"], m["n_anomalies"]) == (200, 100)
    curves = result["curves"]
    assert curves["encoder_step"][-1] == 60 and np.isfinite(curves["encoder_loss"]).all()
    assert curves["step"][-1] == 100


@pytest.mark.slow
def test_auroc_agrees_with_sklearn(bce_run, toy_npz):
    _, result, _ = bce_run
    scores, m = result["scores"], result["metrics"]
    with np.load(toy_npz) as z:
        labels = (z["test_labels"].ravel() != 0).astype(int)
    assert scores["labels"] == labels.tolist()
    assert m["auroc_residual"] == pytest.approx(roc_auc_score(labels, scores["residual"]))
    assert m["auroc_discriminator"] == pytest.approx(roc_auc_score(labels, scores["discriminator"]))


@pytest.mark.slow
def test_gan_is_trained_on_normal_training_images_only(bce_run, toy_npz):
    task, _, seen = bce_run
    with np.load(toy_npz) as z:
        normal = z["train_images"][z["train_labels"].ravel() == 0]
    expected = torch.from_numpy(normal[:, None]).float().div(127.5).sub(1.0)
    assert len(seen) == 1 and len(task.train_data) == N_NORMAL_TRAIN
    assert torch.equal(seen[0], expected) and torch.equal(task.train_data.images, expected)
    assert (task.train_data.labels == 0).all()


@pytest.mark.parametrize("test_normal,test_anomalies", [(20, 0), (0, 20)])
def test_single_class_test_split_is_a_one_line_error(tmp_path, test_normal, test_anomalies):
    path = write_npz(tmp_path / "one.npz", test_normal=test_normal, test_anomalies=test_anomalies)
    with pytest.raises(ValueError, match="needs both normal and anomalous") as err:
        AnomalyTask.from_config({"dataset": str(path), "normal_label": 0})
    assert "\n" not in str(err.value)


def test_config_errors_are_one_line(toy_npz):
    with pytest.raises(ValueError, match="unknown anomaly task option") as err:
        make_task("anomaly", {"dataset": str(toy_npz), "bogus": 1})
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="pass normal_label"):  # toy.npz is not in MedMNIST
        make_task("anomaly", {"dataset": str(toy_npz)})


def test_max_test_keeps_a_fixed_subset_with_both_classes(toy_npz):
    a, b = (
        AnomalyTask.from_config({"dataset": str(toy_npz), "normal_label": 0, "max_test": 40})
        for _ in range(2)
    )
    assert len(a.test_labels) == 40 and 0 < a.test_labels.sum() < 40
    assert torch.equal(a.test_images, b.test_images)


def test_diverged_gan_reports_diverged(toy_npz):
    """A loss that overflows from the first step: status diverged, no fitness, no encoder."""
    exploding = LossSpec.from_formula("cube(cube(cube(y_real/(y_pred - y_pred)))) + y_pred")
    task = AnomalyTask.from_config({"dataset": str(toy_npz), "normal_label": 0, **SMALL})
    result = task.evaluate({**BCE_JOB, "loss": exploding.to_dict(), "steps": 3})
    assert (result["status"], result["fitness"]) == ("diverged", None)
    assert result["metrics"] == {"diverged_at": 1} and "non-finite" in result["error"]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """train/normal (64), train/abnormal (8), test/normal (12), test/abnormal (12) PNGs."""
    root = tmp_path_factory.mktemp("folder") / "toy"
    rng = np.random.default_rng(1)
    for split, n_normal, n_abnormal in (("train", 64, 8), ("test", 12, 12)):
        for name, images in (
            ("normal", normal_images(rng, n_normal)),
            ("abnormal", anomalous_images(rng, n_abnormal)),
        ):
            (root / split / name).mkdir(parents=True)
            for i, img in enumerate(images):
                Image.fromarray(img, mode="L").save(root / split / name / f"{i:03d}.png")
    return root


def test_image_folder_normal_class_and_determinism(image_folder):
    task = make_task("anomaly", {"dataset": str(image_folder), "encoder_steps": 5, **SMALL})
    assert len(task.train_data) == 64  # train/abnormal left out
    # "abnormal" sorts before "normal": the task must map by name, not by label number
    assert task.test_labels.tolist() == [1] * 12 + [0] * 12
    job = {**BCE_JOB, "steps": 5, "seed": 3}
    first, second = (task.evaluate(job, keep_scores=True) for _ in range(2))
    assert first["status"] == "ok" and first["scores"] == second["scores"]
    assert first["metrics"] == second["metrics"]
    with pytest.raises(ValueError, match="no normal class subfolder 'healthy'"):
        make_task("anomaly", {"dataset": str(image_folder), "normal_class": "healthy"})
    with pytest.raises(ValueError, match="pass normal_class"):
        make_task("anomaly", {"dataset": str(image_folder), "normal_label": 0})
