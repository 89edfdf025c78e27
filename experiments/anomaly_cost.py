"""Where one f-AnoGAN anomaly training's time goes: set-up, GAN training, encoder training,
test scoring. Run it with nothing else on the machine; it says so if the load average is not low.

    python experiments/anomaly_cost.py                  # normal digit 0, width 32, 600 + 300 steps
    python experiments/anomaly_cost.py --width 16 --steps 1500

Prints one table: seconds and share of each part, and seconds per GAN and encoder step. Uses
the promotion's own task (``AnomalyTask``) on one torch thread, as each Ray worker runs it.
This is how ``experiments/anomaly_mnist.yaml`` was sized.
"""

from __future__ import annotations

import argparse
import time

from training_cost import one_thread, print_parts, timed  # this folder's sibling benchmark

from lossevo.fitness.anomaly import AnomalyConfig, AnomalyTask
from lossevo.loss.reference import resolve_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", default="bce")
    parser.add_argument("--normal-label", type=int, default=0)
    for flag, default in (("--steps", 600), ("--encoder-steps", 300), ("--width", 32)):
        parser.add_argument(flag, type=int, default=default)  # the study's: anomaly_mnist.yaml
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    load = one_thread()
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
    title = f"{args.loss}, normal digit {args.normal_label}, width {args.width}, one torch thread"
    print_parts(title, load, rows)
    print(f"  per GAN step: {1000 * gan_s / args.steps:.1f} ms; per encoder step: "
          f"{1000 * sum(encoder_s) / args.encoder_steps:.1f} ms")  # fmt: skip
    metrics = out.get("metrics", {})
    print(f"  {out['status']}: AUROC {metrics.get('auroc_residual')} (residual), "
          f"{metrics.get('auroc_discriminator')} (-D)")  # fmt: skip


if __name__ == "__main__":
    main()
