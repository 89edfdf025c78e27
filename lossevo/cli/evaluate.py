"""``lossevo evaluate LOSS``: train and score one loss over seeds, as a researcher would check it.

Prints a table of the metrics per seed and their aggregate, and writes a PNG grid of samples
(and a JSON of every number) into --out.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

from tqdm import tqdm

from lossevo.fitness.gan import AGGREGATES, METRICS, FitnessConfig
from lossevo.util.errors import LossevoError
from lossevo.util.files import check_writable_dir, write_bytes, write_text

DEFAULTS = FitnessConfig()


def register(sub) -> None:
    ev = sub.add_parser("evaluate", help="train a DCGAN with one loss and score it over seeds")
    ev.add_argument("loss", help="built-in loss name (bce, ganetic, ...) or a formula")
    ev.add_argument(
        "--dataset",
        default=DEFAULTS.dataset,
        help="mnist-offline (default, no download), digits-8x8, mnist, cifar10, a "
        "folder of images, or a MedMNIST .npz",
    )
    ev.add_argument(
        "--data-root",
        default=None,
        help="folder holding MNIST/ or cifar-10-batches-py/ (mnist, cifar10)",
    )
    ev.add_argument(
        "--download",
        action="store_true",
        help="allow torchvision to download mnist/cifar10 into --data-root",
    )
    ev.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    ev.add_argument("--seeds", type=int, default=3, help="independent runs (default 3)")
    ev.add_argument("--width", type=int, default=DEFAULTS.width)
    ev.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    ev.add_argument(
        "--samples",
        type=int,
        default=DEFAULTS.n_samples,
        help="generated (and real) samples for the metric",
    )
    ev.add_argument(
        "--metric",
        choices=METRICS,
        default="auto",
        help="auto: domain FID for labelled grayscale digits, else Inception FID",
    )
    ev.add_argument(
        "--inception-weights",
        default=None,
        help="pt_inception-2015-12-05 weights file (or $LOSSEVO_INCEPTION_WEIGHTS)",
    )
    ev.add_argument("--image-size", type=int, default=None, help="resize images to this size")
    ev.add_argument("--aggregate", choices=AGGREGATES, default="mean")
    ev.add_argument("--device", default="auto", help="cpu, cuda or auto")
    ev.add_argument("--transform", choices=["sigmoid", "raw"], default=None)
    ev.add_argument("--generator", choices=["non_saturating", "minimax"], default=None)
    ev.add_argument("--out", default=None, help="output folder (default evaluations/<loss>)")
    ev.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from lossevo.fitness.gan import GanFitness, aggregate
    from lossevo.loss.reference import resolve_loss

    if args.steps < 1:
        raise LossevoError(f"--steps must be at least 1 (got {args.steps}); try --steps 300")
    if args.seeds < 1:
        raise LossevoError(f"--seeds must be at least 1 (got {args.seeds})")
    spec = resolve_loss(args.loss, transform=args.transform, generator=args.generator)
    out = check_writable_dir(args.out or Path("evaluations") / _slug(spec.name))
    if args.download:
        from lossevo.fitness.data import load_dataset

        load_dataset(args.dataset, root=args.data_root, download=True, limit=1)
    task = GanFitness(
        FitnessConfig(
            dataset=args.dataset,
            data_root=args.data_root,
            image_size=args.image_size,
            batch_size=args.batch_size,
            width=args.width,
            n_samples=args.samples,
            metric=args.metric,
            inception_weights=args.inception_weights,
            device=args.device,
        )
    )
    print(f"loss      {spec.expr.text}   ({spec.transform}, {spec.generator})")
    info = task.describe()
    print(
        f"protocol  {info['dataset']}: {info['train_images']} training images, "
        f"{args.steps} steps, width {args.width}, batch {args.batch_size}; "
        f"{task.metric} on {info['reference_images']} samples, device {task.device}"
    )
    results = []
    for seed in tqdm(range(args.seeds), desc="seeds", unit="run"):
        job = {"loss": spec.to_dict(), "seed": seed, "steps": args.steps, "grid": seed == 0}
        results.append(task.evaluate(job))
    _print_table(results, task.metric)
    summary = aggregate(results, args.aggregate)
    print(
        f"\n{args.aggregate} {task.metric} over {summary['n']} ok seed(s): "
        f"{_fmt(summary['fitness'])} ± {_fmt(summary['std'])}  "
        f"(diverged {summary['diverged']}, failed {summary['failed']})"
    )
    grid = next((r.get("grid_png") for r in results if r.get("grid_png")), None)
    if grid:
        write_bytes(out / "samples.png", base64.b64decode(grid))
        print(f"samples   {out / 'samples.png'}")
    record = {
        "loss": spec.to_dict(),
        "protocol": info,
        "steps": args.steps,
        "summary": summary,
        "runs": [{k: v for k, v in r.items() if k != "grid_png"} for r in results],
    }
    write_text(out / "evaluation.json", json.dumps(record, indent=2, default=str))
    print(f"numbers   {out / 'evaluation.json'}")
    return 0


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")[:60] or "loss"


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _print_table(results: list[dict], metric: str) -> None:
    keys = [metric, "kid", "classes_covered", "kl_to_data"]
    keys = [k for k in keys if any(k in r["metrics"] for r in results)]
    print(f"\n{'seed':>4}  {'status':<9}" + "".join(f"{k:>16}" for k in keys) + f"{'seconds':>9}")
    for seed, r in enumerate(results):
        cells = "".join(f"{_fmt(r['metrics'].get(k)):>16}" for k in keys)
        print(f"{seed:>4}  {r['status']:<9}{cells}{r['seconds']:>9.1f}")
