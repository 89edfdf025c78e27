"""Anomaly detection as a fitness: f-AnoGAN (Schlegl et al. 2019) trained with the loss.

A DCGAN is trained with the loss on the *normal* train images only. With G and D frozen, an
encoder E is then trained (f-AnoGAN's izi_f) to minimise, over normal images,

    A(x) = ||x - G(E(x))||^2 / n_pixels + kappa * ||f(x) - f(G(E(x)))||^2 / n_features

with f the input of D's last Linear layer. A normal-only GAN cannot reproduce an anomaly, so
A(x) is the anomaly score; -D(x) (raw score) is a second, cheaper one. Both are measured by
AUROC on the test split (1 = not the normal class); fitness = 1 - AUROC(A), lower is better.

E is D's conv trunk with a Linear head to ``latent_dim`` and no output activation: z ~ N(0, I)
is unbounded, so f-AnoGAN's tanh (made for a uniform prior) would clip codes E may need. The
head is standardised on normal images before training so the first codes have the prior's
scale: near z = 0, G's BatchNorm-ReLU layers are flat and E got exactly zero gradient in one
of three seeds measured. Adam at 1e-4 keeps codes at that scale; at 1e-3 they ran to |z| ~ 100,
where G saturates to a blank image, in three of three seeds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from lossevo.fitness.checks import TaskConfigError, check_dataset, check_training
from lossevo.fitness.data import (
    IMAGE_SUFFIXES,
    ImageData,
    known_datasets,
    load_dataset,
    normal_label_for,
)
from lossevo.fitness.device import resolve_device
from lossevo.fitness.metrics.auroc import auroc
from lossevo.fitness.models import Discriminator
from lossevo.fitness.options import TrainingOptions, train_for_job


@dataclass(frozen=True)
class AnomalyConfig(TrainingOptions):
    """How one candidate is scored for anomaly detection.

    ``normal_label`` picks the normal class of a labelled dataset (default: the MedMNIST
    table of ``normal_label_for``, or 0 for the bundled digit datasets); an image folder names
    it by its class subfolder instead, ``normal_class``. ``max_test`` keeps a fixed random
    subset of the test split (the same one for every candidate). The width is the shared
    default, 32: at 16, BCE's GAN on one MNIST digit drew strokes and its AUROC was 0.26.
    """

    task_name: ClassVar[str] = "anomaly"

    normal_label: int | None = None
    normal_class: str = "normal"
    encoder_steps: int = 300
    encoder_lr: float = 1e-4
    kappa: float = 1.0
    max_test: int | None = None

    def __post_init__(self):
        check_training(self)
        if self.encoder_steps < 1:
            raise TaskConfigError(f"encoder_steps must be at least 1, got {self.encoder_steps}")
        if self.kappa < 0:
            raise TaskConfigError(f"kappa must be non-negative, got {self.kappa}")
        if self.max_test is not None and self.max_test < 2:
            raise TaskConfigError(
                f"max_test must be at least 2 (one normal, one anomaly), got {self.max_test}"
            )


def folder_classes(root: Path, split: str) -> list[str]:
    """Class subfolder names of an image folder's split, in the order load_dataset labels them."""
    base = root / split if (root / split).is_dir() else root
    parts = (
        p.relative_to(base).parts
        for p in base.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    return sorted({t[0] for t in parts if len(t) > 1 and not any(s.startswith(".") for s in t)})


def normal_labels(c: AnomalyConfig) -> tuple[int, int, int | str]:
    """Label of the normal class in the train and test splits, and its name for reports.

    An image folder labels its class subfolders by sorted name per split, so "normal" may be
    label 1 in test (beside "abnormal") and 0 in a train split holding only normal images.
    """
    path = Path(c.dataset).expanduser()
    named = c.dataset.strip().lower() in known_datasets()
    if not named and path.is_dir():
        if c.normal_label is not None:
            raise ValueError(
                "an image folder names its normal class by subfolder: pass "
                "normal_class, not normal_label"
            )
        labels = []
        for split in ("train", "test"):
            classes = folder_classes(path, split)
            if c.normal_class not in classes:
                raise ValueError(
                    f"no normal class subfolder {c.normal_class!r} in the {split} "
                    f"split of {path} (classes: {', '.join(classes)})"
                )
            labels.append(classes.index(c.normal_class))
        return labels[0], labels[1], c.normal_class
    label = c.normal_label
    if label is None:
        label = 0 if named else normal_label_for(path)
    if label is None:
        raise ValueError(f"no known normal class for {path.name}: pass normal_label")
    return int(label), int(label), int(label)


def build_encoder(image_shape: tuple[int, int, int], width: int, latent_dim: int) -> nn.Module:
    """D's conv trunk (same layers and init, no dropout) with a Linear head to ``latent_dim``."""
    trunk = list(Discriminator(image_shape=image_shape, width=width, dropout=0.0).net)
    head = trunk[-1]
    body = [m for m in trunk[:-1] if not isinstance(m, nn.Dropout)]
    return nn.Sequential(*body, nn.Linear(head.in_features, latent_dim))


class _Critic:
    """D's raw score and penultimate features (the input of its last Linear) in one pass.

    A forward pre-hook on the last Linear reads the features, so this relies only on D ending
    in a Linear layer, not on how its modules are arranged.
    """

    def __init__(self, discriminator: nn.Module):
        linears = [m for m in discriminator.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError("the discriminator has no Linear layer to take features from")
        self.d, self._features = discriminator, None
        linears[-1].register_forward_pre_hook(self._keep)

    def _keep(self, _module: nn.Module, args: tuple) -> None:
        self._features = args[0]

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        score = self.d(x).reshape(len(x))
        features, self._features = self._features.flatten(1), None
        return score, features


class AnomalyTask:
    """The anomaly task: ``evaluate(job)`` trains GAN and encoder on normal images, scores."""

    Config = AnomalyConfig

    def __init__(self, config: AnomalyConfig):
        self.config = c = config
        self.device = resolve_device(c.device)
        kwargs = {"root": c.data_root, "image_size": c.image_size}
        train = load_dataset(c.dataset, split="train", **kwargs)
        test = load_dataset(c.dataset, split="test", **kwargs)
        name = train.name
        if train.labels is None or test.labels is None:
            raise ValueError(
                f"{name} has no class labels: anomaly detection needs labelled "
                f"train and test splits (an image folder needs class subfolders)"
            )
        train_normal, test_normal, self.normal = normal_labels(c)
        self.train_data: ImageData = train.subset(train.labels == train_normal)
        if len(self.train_data) == 0:
            raise ValueError(f"{name} has no normal (class {self.normal}) training images")
        if c.max_test is not None and c.max_test < len(test):
            keep = np.sort(np.random.default_rng(0).permutation(len(test))[: c.max_test])
            test = test.subset(keep)
        self.test_images = test.images
        self.test_labels = (test.labels != test_normal).numpy().astype(np.int64)
        if (n_anomalies := int(self.test_labels.sum())) in (0, len(test)):
            only = "anomalies" if n_anomalies else f"normal (class {self.normal}) images"
            raise ValueError(
                f"the test split of {name} holds only {only}: anomaly detection "
                f"needs both normal and anomalous test images"
            )

    @staticmethod
    def check_config(config: dict) -> None:
        """Refuse a config in one line without loading anything: values, device, dataset."""
        checked = AnomalyConfig.from_config(config)
        resolve_device(checked.device)
        check_dataset(checked.dataset)

    @classmethod
    def from_config(cls, config: dict) -> AnomalyTask:
        return cls(AnomalyConfig.from_config(config))

    def _residual(
        self, x: torch.Tensor, generator: nn.Module, encoder: nn.Module, critic: _Critic
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image izi_f residual A(x) and raw D score D(x)."""
        reconstruction = generator(encoder(x))
        d_score, f_real = critic(x)
        _, f_rec = critic(reconstruction)
        pixels = (x - reconstruction).pow(2).flatten(1).mean(1)
        return pixels + self.config.kappa * (f_real - f_rec).pow(2).mean(1), d_score

    def train_encoder(
        self, generator: nn.Module, critic: _Critic, seed: int
    ) -> tuple[nn.Module, dict[str, list[float]]]:
        """E trained on normal images with G and D frozen (eval mode) for encoder_steps."""
        c = self.config
        torch.manual_seed(seed)
        rng = torch.Generator().manual_seed(seed + 1)
        encoder = build_encoder(self.train_data.shape, c.width, c.latent_dim).to(self.device)
        data = self.train_data.images.to(self.device)
        with torch.no_grad():  # standardise the head: initial codes mean 0, std 1 per dimension
            x = data[torch.randint(len(data), (256,), generator=rng).to(self.device)]
            z, head = encoder(x), encoder[-1]
            std = z.std(0).clamp_min(1e-8)
            head.weight.div_(std[:, None])
            head.bias.sub_(z.mean(0)).div_(std)
        opt = torch.optim.Adam(encoder.parameters(), lr=c.encoder_lr)
        curves: dict[str, list[float]] = {"encoder_step": [], "encoder_loss": []}
        for step in range(1, c.encoder_steps + 1):
            x = data[torch.randint(len(data), (c.batch_size,), generator=rng).to(self.device)]
            loss = self._residual(x, generator, encoder, critic)[0].mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step == 1 or step % 10 == 0 or step == c.encoder_steps:
                curves["encoder_step"].append(step)
                curves["encoder_loss"].append(loss.item())
        return encoder.eval(), curves

    @torch.no_grad()
    def _score(
        self, generator: nn.Module, encoder: nn.Module, critic: _Critic
    ) -> tuple[np.ndarray, np.ndarray]:
        residual, d_score = [], []
        for i in range(0, len(self.test_images), 256):
            x = self.test_images[i : i + 256].to(self.device)
            r, d = self._residual(x, generator, encoder, critic)
            residual.append(r.double().cpu())
            d_score.append(d.double().cpu())
        return torch.cat(residual).numpy(), torch.cat(d_score).numpy()

    def evaluate(self, job: dict, *, keep_scores: bool = False) -> dict:
        """Train with ``job["loss"]`` for ``job["steps"]`` steps under ``job["seed"]``; score.

        ``keep_scores`` adds ``"scores"``: per test image the residual, the discriminator
        score -D(x) and the label (1 = anomaly), as lists.
        """
        start = time.perf_counter()
        seed = int(job["seed"])
        result, out = train_for_job(job, self.train_data.images, self.config, self.device)
        if result.status != "ok":
            out["seconds"] = time.perf_counter() - start
            return out
        generator, discriminator = result.generator, result.discriminator
        for module in (generator, discriminator):
            module.to(self.device).eval().requires_grad_(False)
        critic = _Critic(discriminator)
        encoder, curves = self.train_encoder(generator, critic, seed)
        out["curves"] = {**result.curves, **curves}
        residual, d_score = self._score(generator, encoder, critic)
        anomaly_d = -d_score  # less real-looking -> more anomalous
        if not (np.isfinite(residual).all() and np.isfinite(anomaly_d).all()):
            out.update(
                status="diverged",
                error="non-finite anomaly scores",
                seconds=time.perf_counter() - start,
            )
            return out
        auc = auroc(residual, self.test_labels)
        out.update(
            fitness=1.0 - auc,
            metrics={
                "auroc_residual": auc,
                "auroc_discriminator": auroc(anomaly_d, self.test_labels),
                "n_test": len(self.test_labels),
                "n_anomalies": int(self.test_labels.sum()),
                "encoder_loss": curves["encoder_loss"][-1],
            },
        )
        if keep_scores:
            out["scores"] = {
                "residual": residual.tolist(),
                "discriminator": anomaly_d.tolist(),
                "labels": self.test_labels.tolist(),
            }
        out["seconds"] = time.perf_counter() - start
        return out

    def describe(self) -> dict:
        """The protocol, for reports: dataset, normal class, split sizes and config."""
        return {
            "dataset": self.train_data.name,
            "normal": self.normal,
            "train_images": len(self.train_data),
            "test_images": len(self.test_labels),
            "test_anomalies": int(self.test_labels.sum()),
            "config": asdict(self.config),
            "device": self.device,
        }
