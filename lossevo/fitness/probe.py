"""A seconds-cheap task: the screening game probe as a fitness, for smoke runs and tests.

Free real and fake scores are trained under the loss as a discriminator would train them; the
fitness is the negative real/fake separation reached in ``steps`` Adam steps (lower is better).
No GAN is trained, so it ranks losses only by how readily they separate, not image quality.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from lossevo.loss.reference import LossSpec
from lossevo.loss.screen import ScreenConfig, game_probe


@dataclass(frozen=True)
class ProbeTask:
    n_scores: int = 32
    lr: float = 0.05

    @classmethod
    def from_config(cls, config: dict) -> ProbeTask:
        return cls(**config)

    def to_config(self) -> dict:
        return asdict(self)

    def evaluate(self, job: dict) -> dict:
        start = time.perf_counter()
        spec = LossSpec.from_dict(job["loss"])
        config = ScreenConfig(
            d_steps=int(job["steps"]), d_lr=self.lr, n_scores=self.n_scores, seed=int(job["seed"])
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
            "fitness": -abs(measurements["separation"]),
            "metrics": measurements,
            "curves": {},
            "seconds": seconds,
            "error": None,
        }
