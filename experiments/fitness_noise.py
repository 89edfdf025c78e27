"""How noisy is the fitness? Mean and std over seeds for a few losses at one budget.

    python experiments/fitness_noise.py --losses bce ganetic --seeds 5 --steps 150 --width 32

Prints a table and, with --json, writes every run. The ratio std/|mean difference| tells how many
seeds a ranking of two losses needs.
"""

from __future__ import annotations

import argparse
import json
import statistics

from tqdm import tqdm

from lossevo.fitness.gan import GanConfig, GanTask
from lossevo.loss.reference import resolve_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--losses", nargs="+", default=["bce", "ganetic"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--width", type=int, default=GanConfig.width)
    parser.add_argument("--batch-size", type=int, default=GanConfig.batch_size)
    parser.add_argument("--samples", type=int, default=GanConfig.n_samples)
    parser.add_argument("--json")
    args = parser.parse_args()

    task = GanTask(GanConfig(width=args.width, batch_size=args.batch_size, n_samples=args.samples))
    runs = {}
    with tqdm(total=len(args.losses) * args.seeds, unit="eval") as bar:
        for name in args.losses:
            runs[name] = []
            for seed in range(args.seeds):
                result = task.evaluate(
                    {"loss": resolve_loss(name).to_dict(), "seed": seed, "steps": args.steps}
                )
                runs[name].append(
                    {k: result[k] for k in ("status", "fitness", "metrics", "seconds")}
                )
                bar.update(1)
    print(
        f"\n{args.steps} steps, width {args.width}, batch {args.batch_size}, "
        f"{args.samples} samples, metric {task.metric}"
    )
    print(f"{'loss':<12}{'mean':>10}{'std':>10}{'min':>10}{'max':>10}{'s/eval':>9}")
    summary = {}
    for name, results in runs.items():
        values = [r["fitness"] for r in results if r["status"] == "ok"]
        mean = statistics.fmean(values) if values else float("nan")
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        secs = statistics.fmean(r["seconds"] for r in results)
        summary[name] = {"mean": mean, "std": std, "values": values, "seconds": secs}
        print(
            f"{name:<12}{mean:>10.1f}{std:>10.1f}{min(values, default=0):>10.1f}"
            f"{max(values, default=0):>10.1f}{secs:>9.1f}"
        )
    names = list(summary)
    for a, b in zip(names, names[1:], strict=False):
        diff = abs(summary[a]["mean"] - summary[b]["mean"])
        pooled = ((summary[a]["std"] ** 2 + summary[b]["std"] ** 2) / 2) ** 0.5
        if diff > 0:
            # seeds per loss, two-sided z-test at 5% with 80% power: n = 2 (2.8 s / d)^2
            need = 2 * (2.8 * pooled / diff) ** 2
            print(
                f"{a} vs {b}: difference {diff:.1f}, pooled std {pooled:.1f} -> about "
                f"{need:.1f} seeds per loss to separate them reliably"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "summary": summary, "runs": runs}, fh, indent=2)


if __name__ == "__main__":
    main()
