"""A seconds-cheap task: the screening game probe as a fitness, for smoke runs and tests.

Free real and fake scores are trained under the loss as a discriminator would train them; the
fitness is 1 / (1 + |separation|) for the real/fake separation reached in ``steps`` Adam steps:
positive, as the search's ratio to a control needs, and lower is better.
No GAN is trained, so it ranks losses only by how readily they separate, not image quality.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields

from lossevo.fitness.checks import TaskConfigError
from lossevo.loss.reference import LossSpec
from lossevo.loss.screen import ScreenConfig, game_probe


@dataclass(frozen=True)
class ProbeConfig:
    """The probe's options: how many free scores, and the Adam learning rate."""

    n_scores: int = 32
    lr: float = 0.05

    def __post_init__(self) -> None:
        n, lr = self.n_scores, self.lr
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 100_000:
            raise TaskConfigError(f"probe n_scores must be an integer from 2 to 100000, not {n!r}")
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < lr < 1e3:
            raise TaskConfigError(f"probe lr must be a number in (0, 1000), not {lr!r}")

    @classmethod
    def from_config(cls, config: dict) -> ProbeConfig:
        unknown = set(config) - {f.name for f in fields(cls)}
        if unknown:
            raise TaskConfigError(f"unknown probe task option(s): {', '.join(sorted(unknown))}")
        return cls(**config)


class ProbeTask:
    """The probe task: ``evaluate(job)`` runs the game probe for ``job["steps"]`` steps."""

    Config = ProbeConfig

    def __init__(self, config: ProbeConfig | None = None):
        self.config = config or ProbeConfig()

    @classmethod
    def from_config(cls, config: dict) -> ProbeTask:
        return cls(ProbeConfig.from_config(config))

    def describe(self) -> dict:
        """The protocol, for reports: the probe's options."""
        return {"task": "probe", "config": asdict(self.config)}

    def evaluate(self, job: dict) -> dict:
        start = time.perf_counter()
        spec = LossSpec.from_dict(job["loss"])
        config = ScreenConfig(
            d_steps=int(job["steps"]),
            d_lr=self.config.lr,
            n_scores=self.config.n_scores,
            seed=int(job["seed"]),
        )
        measurements = game_probe(spec, config)
        seconds = time.perf_counter() - start
        if "non_finite" in measurements:
            return {
                "status": "diverged",
                "fitness": None,
                "metrics": {},
                "curves": {},
                "seconds": seconds,
                "error": measurements["non_finite"],
            }
        return {
            "status": "ok",
            "fitness": 1.0 / (1.0 + abs(measurements["separation"])),
            "metrics": measurements,
            "curves": {},
            "seconds": seconds,
            "error": None,
        }
