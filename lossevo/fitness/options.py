"""The training options every GAN-trained task shares, and one job's training run under them.

The gan and anomaly tasks both train a DCGAN with the candidate loss before they measure
anything; their configs extend :class:`TrainingOptions` so the fields, defaults and checks are
written once, and :func:`train_for_job` turns a job and those options into one training run.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch

from lossevo.fitness.checks import TaskConfigError
from lossevo.fitness.train import TrainConfig, TrainResult, train_gan
from lossevo.loss.reference import LossSpec


@dataclass(frozen=True)
class TrainingOptions:
    """Data and DCGAN training options shared by the tasks that train a GAN per job."""

    task_name: ClassVar[str] = "training"

    dataset: str = "mnist-offline"
    data_root: str | None = None
    image_size: int | None = None
    batch_size: int = 64
    width: int = 32
    latent_dim: int = 100
    lr: float = 2e-4
    beta1: float = 0.5
    device: str = "auto"

    @classmethod
    def from_config(cls, config: dict):
        """The config from plain data; an unknown key is refused, naming the task."""
        if not isinstance(config, dict):
            raise TaskConfigError(
                f"the {cls.task_name} task's options must be a mapping, not {config!r}"
            )
        unknown = set(config) - {f.name for f in fields(cls)}
        if unknown:
            raise TaskConfigError(
                f"unknown {cls.task_name} task option(s): {', '.join(sorted(unknown))}"
            )
        return cls(**config)

    def train_config(self, *, steps: int, seed: int, device: str) -> TrainConfig:
        """The training loop's config for one job under these options."""
        return TrainConfig(
            steps=steps,
            batch_size=self.batch_size,
            lr=self.lr,
            beta1=self.beta1,
            latent_dim=self.latent_dim,
            width=self.width,
            seed=seed,
            device=device,
        )


def checkpoint_steps(job: dict) -> list[int]:
    """The job's checkpoint steps (``job["checkpoints"]``), sorted, each in [1, steps)."""
    steps, raw = int(job["steps"]), job.get("checkpoints") or ()
    points = sorted({int(s) for s in raw})
    if points and not (1 <= points[0] and points[-1] < steps):
        raise TaskConfigError(f"checkpoints must lie in [1, {steps}), got {points}")
    return points


def train_for_job(
    job: dict,
    images: torch.Tensor,
    options: TrainingOptions,
    device: str,
    on_checkpoint=None,
) -> tuple[TrainResult, dict]:
    """Train a GAN on ``images`` for one job; returns the TrainResult and the result skeleton.

    The skeleton is the plain-data result every GAN task fills in (status, curves, seconds...).
    ``on_checkpoint(step, G)`` runs after each of the job's checkpoint steps.
    """
    spec = LossSpec.from_dict(job["loss"])
    steps, seed = int(job["steps"]), int(job["seed"])
    if steps < 1:
        raise TaskConfigError(f"the training budget must be at least 1 step, got {steps}")
    result = train_gan(
        images,
        spec.expr.torch_fn(),
        transform=spec.transform,
        generator_mode=spec.generator,
        config=options.train_config(steps=steps, seed=seed, device=device),
        checkpoints=checkpoint_steps(job),
        on_checkpoint=on_checkpoint,
    )
    out = {
        "status": result.status,
        "fitness": None,
        "metrics": {},
        "curves": result.curves,
        "seconds": 0.0,
        "error": result.reason,
        "train_seconds": result.seconds,
    }
    if result.status != "ok":
        out["metrics"] = {"diverged_at": result.diverged_at}
    return result, out
