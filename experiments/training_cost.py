"""Where one target training's time goes: task set-up, training steps, checkpoint scoring, final
scoring. Run it with nothing else on the machine; it says so if the load average is not low.

    python experiments/training_cost.py                      # 28x28 offline MNIST, 1,500 steps
    python experiments/training_cost.py --steps 300 --dataset digits-8x8 --lr 2e-3 --samples 500

Prints one table: seconds and share of each part, and seconds per training step. Uses the
replay's own task (``GanTask``) on one torch thread, as each Ray worker runs it.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from lossevo.fitness.gan import GanConfig, GanTask
from lossevo.loss.reference import resolve_loss


def timed(obj: object, name: str, into: list[float]) -> None:
    """Replace ``obj.name`` with a wrapper that appends each call's wall time to ``into``."""
    method = getattr(obj, name)

    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - began)

    setattr(obj, name, wrapper)


def one_thread() -> float:
    """Run torch on one thread, as each Ray worker does; the load average at the start."""
    torch.set_num_threads(1)
    return os.getloadavg()[0]


def print_parts(title: str, load: float, rows: list[tuple[str, float]]) -> float:
    """Print each part's seconds and share, and the total, which is returned."""
    total = sum(seconds for _, seconds in rows)
    print(title)
    print(f"load average at start: {load:.2f}" + ("  (NOT ALONE: an upper bound)" * (load > 0.5)))
    for name, seconds in rows:
        print(f"  {name:<58} {seconds:7.1f} s  {100 * seconds / total:5.1f}%")
    print(f"  {'total':<58} {total:7.1f} s")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", default="bce")
    parser.add_argument("--dataset", default="mnist-offline")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--checkpoints", type=int, nargs="*", default=[250, 500, 750, 1000, 1250])
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    load = one_thread()
    start = time.perf_counter()
    task = GanTask(
        GanConfig(
            dataset=args.dataset, width=args.width, lr=args.lr, n_samples=args.samples, device="cpu"
        )
    )
    setup = time.perf_counter() - start

    scoring: list[float] = []
    timed(task, "score_images", scoring)  # each scoring: the checkpoints, then the final one
    job = {
        "loss": resolve_loss(args.loss).to_dict(),
        "seed": args.seed,
        "steps": args.steps,
        "checkpoints": [c for c in args.checkpoints if c < args.steps],
    }
    began = time.perf_counter()
    out = task.evaluate(job)
    total = time.perf_counter() - began

    checkpoint_s, final_s = sum(scoring[:-1]), scoring[-1] if scoring else 0.0
    training_s = total - checkpoint_s - final_s
    rows = [
        ("task set-up (data, classifier from cache)", setup),
        (f"training: {args.steps} steps", training_s),
        (f"checkpoint scoring: {len(scoring) - 1} x {args.samples} samples", checkpoint_s),
        ("final scoring (samples, features, FID, KID, coverage)", final_s),
    ]
    title = f"{args.loss} on {args.dataset}, width {args.width}, lr {args.lr:g}, one torch thread"
    print_parts(title, load, rows)
    print(f"  per training step: {1000 * training_s / args.steps:.1f} ms")
    print(f"  {out['status']}: fitness {out.get('fitness')}, classes covered "
          f"{out.get('metrics', {}).get('classes_covered')}")  # fmt: skip


if __name__ == "__main__":
    main()
