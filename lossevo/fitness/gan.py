"""Generation quality as a fitness: train a DCGAN with the loss, sample, measure the distance.

The metric is the Fréchet distance between generated and held-out real images in the feature
space of a small classifier trained on the dataset ("domain FID", the practice the FID authors
recommend for MNIST), or Inception-v3 FID for natural and medical images. A GanTask is built
once per worker: the data, the feature extractor and the real statistics stay loaded.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch

from lossevo.fitness.checks import (
    MAX_SAMPLES,
    TaskConfigError,
    check_dataset,
    check_int,
    check_training,
)
from lossevo.fitness.choices import METRICS
from lossevo.fitness.data import ImageData, load_dataset
from lossevo.fitness.device import resolve_device
from lossevo.fitness.early_stop import StopRule
from lossevo.fitness.metrics.frechet import feature_stats, frechet_distance, kid
from lossevo.fitness.options import TrainingOptions, train_for_job
from lossevo.fitness.train import sample
from lossevo.util.png import png_base64


@dataclass(frozen=True)
class GanConfig(TrainingOptions):
    """How one candidate is scored. Defaults: the search budget measured in the README."""

    task_name: ClassVar[str] = "gan"

    n_samples: int = 1000
    metric: str = "auto"
    inception_weights: str | None = None
    cache_dir: str | None = None

    def __post_init__(self):
        if self.metric not in METRICS:
            raise TaskConfigError(
                f"unknown metric {self.metric!r}; use one of {', '.join(METRICS)}"
            )
        if isinstance(self.n_samples, int) and self.n_samples < 2:
            raise TaskConfigError("--samples must be at least 2 (a covariance needs two samples)")
        check_int("--samples", self.n_samples, 2, MAX_SAMPLES, "try --samples 1000")
        check_training(self)


class GanTask:
    """The gan task: ``evaluate(job)`` trains, samples and scores one loss for one seed."""

    Config = GanConfig

    def __init__(self, config: GanConfig):
        self.config = config
        self.device = resolve_device(config.device)
        kwargs = {"root": config.data_root, "image_size": config.image_size}
        self.train_data: ImageData = load_dataset(config.dataset, split="train", **kwargs)
        try:
            self.reference: ImageData = load_dataset(config.dataset, split="test", **kwargs)
        except ValueError:  # a folder without a test split: compare against training images
            self.reference = self.train_data
        metric = config.metric
        if metric == "auto":
            digits = self.train_data.labels is not None and self.train_data.shape[0] == 1
            metric = "domain_fid" if digits else "inception_fid"
        self.metric = metric
        self.extractor_info: dict = {}
        self._classifier = None
        self._features = self._build_extractor()
        ref = self.reference.images[: max(config.n_samples, 2)]
        self.real_features = self._features(ref)
        self.real_stats = feature_stats(self.real_features)

    @classmethod
    def from_config(cls, config: dict) -> GanTask:
        return cls(GanConfig.from_config(config))

    @staticmethod
    def check_config(config: dict) -> None:
        """Refuse a config in one line without loading anything: values, device, dataset."""
        checked = GanConfig.from_config(config)
        resolve_device(checked.device)
        check_dataset(checked.dataset)

    def _build_extractor(self):
        if self.metric == "domain_fid":
            from lossevo.fitness.metrics.classifier import classifier_features, get_classifier

            data = self.train_data
            if data.labels is None:
                raise TaskConfigError(
                    f"domain FID needs labelled data; {data.name} has no labels "
                    f"(use --metric inception_fid)"
                )
            self._classifier, self.extractor_info = get_classifier(
                data.images,
                data.labels,
                dataset_key=data.fingerprint(),
                cache_dir=self.config.cache_dir,
                device=self.device,
            )
            return lambda images: classifier_features(self._classifier, images, device=self.device)
        from lossevo.fitness.metrics.inception import InceptionFeatures, resolve_inception_weights

        weights = resolve_inception_weights(self.config.inception_weights)
        extractor = InceptionFeatures(weights, device=self.device)
        self.extractor_info = {"extractor": "inception-v3", "weights": str(weights)}
        return extractor

    # ------------------------------------------------------------------------------ scoring
    def score_images(self, images: torch.Tensor) -> dict:
        """Metrics of generated ``images`` against the held-out real ones."""
        feats = self._features(images)
        mu, sigma = feature_stats(feats)
        metrics = {self.metric: frechet_distance(mu, sigma, *self.real_stats)}
        kid_mean, kid_std = kid(
            self.real_features, feats, subsets=20, subset_size=min(500, len(feats))
        )
        metrics.update(kid=kid_mean, kid_std=kid_std)
        if self._classifier is not None and self.reference.labels is not None:
            from lossevo.fitness.metrics.classifier import classifier_predict
            from lossevo.fitness.metrics.coverage import mode_coverage

            predicted = classifier_predict(self._classifier, images, device=self.device)
            coverage = mode_coverage(
                predicted, self.reference.labels.numpy(), self.reference.num_classes or 10
            )
            metrics.update(
                classes_covered=coverage["classes_covered"], kl_to_data=coverage["kl_to_data"]
            )
        return metrics

    def _sample(self, generator, seed: int) -> torch.Tensor:
        return sample(generator, self.config.n_samples, seed=10_000 + seed, device=self.device)

    def evaluate(self, job: dict, *, keep_samples: bool = False) -> dict:
        """Train with ``job["loss"]`` for ``job["steps"]`` steps under ``job["seed"]``; score.

        ``job["checkpoints"]`` (steps below ``steps``) scores the same training at those steps
        too, under ``out["checkpoints"][step]`` (its metrics, and ``fitness`` the task's metric):
        one training serves several budgets, and the store keeps the curve. ``job["stop"]``
        (``fitness.early_stop``) lets it stop at a checkpoint: then ``out["steps"]`` is that
        step, ``fitness`` is None and the metrics say why.
        """
        start = time.perf_counter()
        seed = int(job["seed"])
        scored: dict[str, dict] = {}
        rule = StopRule.from_job(job)
        stopped: dict = {}

        def on_checkpoint(step: int, generator) -> bool:
            metrics = self.score_images(self._sample(generator, seed))
            scored[str(step)] = {"fitness": metrics[self.metric], **metrics}
            why = rule.reason(step, metrics[self.metric], metrics) if rule else None
            if why is not None:
                stopped.update(stopped_at=step, stop_reason=why)
            return why is not None

        result, out = train_for_job(
            job, self.train_data.images, self.config, self.device, on_checkpoint
        )
        if scored:
            out["checkpoints"] = scored
        if stopped:  # ok, but no score at the budget: it ranks below every finished training
            out.update(steps=stopped["stopped_at"], metrics=stopped)
        elif result.status == "ok":
            images = self._sample(result.generator, seed)
            metrics = self.score_images(images)
            fitness = metrics[self.metric]
            if math.isfinite(fitness):
                out.update(fitness=fitness, metrics=metrics)
            else:
                out.update(status="diverged", error=f"non-finite {self.metric}")
            if keep_samples:
                out["samples"] = images[:64]
            if job.get("grid"):
                out["grid_png"] = grid_png_base64(images[:64])
        out["seconds"] = time.perf_counter() - start
        return out

    def describe(self) -> dict:
        """The protocol, for reports: dataset, metric, extractor and sample counts."""
        return {
            "dataset": self.train_data.name,
            "train_images": len(self.train_data),
            "reference_images": int(min(len(self.reference), self.config.n_samples)),
            "metric": self.metric,
            "extractor": self.extractor_info,
            "config": asdict(self.config),
            "device": self.device,
        }


def grid_png_base64(images: torch.Tensor, nrow: int = 8) -> str:
    """An image grid as base64 PNG text: samples cross process boundaries as plain data."""
    from torchvision.utils import make_grid

    grid = make_grid(images.clamp(-1, 1) * 0.5 + 0.5, nrow=nrow, padding=2, pad_value=1.0)
    array = grid.mul(255).round().byte().permute(1, 2, 0).numpy()
    return png_base64(array[..., 0] if images.shape[1] == 1 else array)
