"""Where one f-AnoGAN anomaly training's time goes: set-up, GAN training, encoder training,
test scoring. Run it with nothing else on the machine; it says so if the load average is not low.

    python experiments/anomaly_cost.py                       # normal digit 0, width 16, 1,500 steps
    python experiments/anomaly_cost.py --width 32 --steps 300

Prints one table: seconds and share of each part, and seconds per GAN and encoder step. Uses
the promotion's own task (``AnomalyTask``) on one torch thread, as each Ray worker runs it.
This is how ``experiments/anomaly_mnist.yaml`` was sized.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from lossevo.fitness.anomaly import AnomalyConfig, AnomalyTask
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", default="bce")
    parser.add_argument("--normal-label", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--encoder-steps", type=int, default=300)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    config = AnomalyConfig(
        dataset="mnist-offline",
        normal_label=args.normal_label,
        width=args.width,
        encoder_steps=args.encoder_steps,
        device="cpu",
    )
    task = AnomalyTask(config)
    setup = time.perf_counter() - start
    encoder_s: list[float] = []
    scoring_s: list[float] = []
    timed(task, "train_encoder", encoder_s)
    timed(task, "_score", scoring_s)
    job = {"loss": resolve_loss(args.loss).to_dict(), "seed": args.seed, "steps": args.steps}
    began = time.perf_counter()
    out = task.evaluate(job)
    total = time.perf_counter() - began
    gan_s = total - sum(encoder_s) - sum(scoring_s)
    rows = [
        ("task set-up (data)", setup),
        (f"GAN training: {args.steps} steps", gan_s),
        (f"encoder training: {args.encoder_steps} steps", sum(encoder_s)),
        (f"scoring {len(task.test_labels)} test images", sum(scoring_s)),
    ]
    print(f"{args.loss}, normal digit {args.normal_label}, width {args.width}, one torch thread")
    print(f"load average at start: {load:.2f}" + ("  (NOT ALONE: an upper bound)" * (load > 0.5)))
    for name, seconds in rows:
        print(f"  {name:<44} {seconds:7.1f} s  {100 * seconds / (setup + total):5.1f}%")
    print(f"  {'total':<44} {setup + total:7.1f} s")
    print(f"  per GAN step: {1000 * gan_s / args.steps:.1f} ms; per encoder step: "
          f"{1000 * sum(encoder_s) / args.encoder_steps:.1f} ms")  # fmt: skip
    metrics = out.get("metrics", {})
    print(f"  {out['status']}: AUROC {metrics.get('auroc_residual')} (residual), "
          f"{metrics.get('auroc_discriminator')} (-D)")  # fmt: skip


if __name__ == "__main__":
    main()
