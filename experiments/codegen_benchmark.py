"""Generated GANetic torch code against a hand-written GANetic, in the same DCGAN training step.

    python experiments/codegen_benchmark.py --steps 60 --repeats 3

Prints the ratio of training-step times (target <= 1.05) and the seconds of one candidate
evaluation at the default search budget (train + sample + score).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lossevo.fitness.data import load_dataset
from lossevo.fitness.gan import GanConfig, GanTask
from lossevo.fitness.train import TrainConfig, train_gan
from lossevo.loss.reference import reference_loss
from lossevo.search.config import SearchConfig


def hand_written_ganetic(y_real: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """GANLoss_tensorflow.py's formula, written by hand (the input is already clipped)."""
    return y_pred**3 + torch.sqrt(torch.abs(3.985 * y_real / (y_pred + 1e-8)) + 1e-8)


def time_training(fn, images, steps: int, width: int) -> float:
    config = TrainConfig(steps=steps, width=width, seed=0)
    result = train_gan(
        images, fn, transform="sigmoid", generator_mode="non_saturating", config=config
    )
    return result.seconds / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=GanConfig.width)
    args = parser.parse_args()

    images = load_dataset("mnist-offline").images
    generated = reference_loss("ganetic").expr.torch_fn()
    time_training(generated, images, 5, args.width)  # warm-up: imports, allocator
    times = {"generated": [], "hand-written": []}
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit both alike
        times["generated"].append(time_training(generated, images, args.steps, args.width))
        times["hand-written"].append(
            time_training(hand_written_ganetic, images, args.steps, args.width)
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"training step, width {args.width}, batch 64, {args.steps} steps x {args.repeats}:")
    for k, v in med.items():
        print(
            f"  {k:<13} {1000 * v:8.1f} ms/step (runs: "
            f"{', '.join(f'{1000 * x:.1f}' for x in times[k])})"
        )
    print(
        f"  ratio generated / hand-written: {med['generated'] / med['hand-written']:.3f}"
        f"  (target <= 1.05)"
    )

    search = SearchConfig()
    task = GanTask(GanConfig())
    for steps in (search.short_steps, search.full_steps):
        start = time.perf_counter()
        task.evaluate({"loss": reference_loss("bce").to_dict(), "seed": 0, "steps": steps})
        print(
            f"one candidate evaluation at {steps} steps (train + sample + score): "
            f"{time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()
