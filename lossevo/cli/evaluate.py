"""``lossevo evaluate LOSS``: flags to ``lossevo.evaluate``; prints its table and aggregate.

The driver (training, scoring, ``samples.png`` and ``evaluation.json`` in --out) is
``lossevo.fitness.evaluate``, imported when the command runs (with the API, and torch), so
``--help`` and a bad flag answer at once. The gan task's options left out are the API's defaults
(``GanConfig``'s), so they are defined once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lossevo.cli.loss_options import add_loss_options
from lossevo.fitness.choices import METRICS
from lossevo.fitness.seeds import AGGREGATES

#: Flags that are the gan task's options, as flag -> ``lossevo.evaluate`` keyword; one left out
#: takes that function's default.
TASK_OPTIONS = {
    "dataset": "dataset",
    "width": "width",
    "batch_size": "batch_size",
    "samples": "n_samples",
}


def register(sub) -> None:
    ev = sub.add_parser("evaluate", help="train a DCGAN with one loss and score it over seeds")
    ev.add_argument("loss", help="built-in loss name (bce, ganetic, ...) or a formula")
    ev.add_argument(
        "--dataset",
        default=None,
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
    ev.add_argument("--width", type=int, default=None, help="DCGAN width multiplier")
    ev.add_argument("--batch-size", type=int, default=None)
    ev.add_argument(
        "--samples",
        type=int,
        default=None,
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
    add_loss_options(ev)
    ev.add_argument("--out", default=None, help="output folder (default evaluations/<loss>)")
    ev.add_argument(
        "--no-screen", action="store_true", help="train even a loss that screening rejects"
    )
    ev.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from lossevo import api
    from lossevo.fitness.evaluate import results_table, slug, summary_line

    given = {key: getattr(args, flag) for flag, key in TASK_OPTIONS.items()}
    loss = api.gan_loss(args.loss, transform=args.transform, generator=args.generator)
    record = api.evaluate(
        loss,
        seeds=args.seeds,
        steps=args.steps,
        **{key: value for key, value in given.items() if value is not None},
        device=args.device,
        aggregate=args.aggregate,
        out=Path(args.out or Path("evaluations") / slug(loss.name)),
        download=args.download,
        data_root=args.data_root,
        image_size=args.image_size,
        metric=args.metric,
        inception_weights=args.inception_weights,
        screen=not args.no_screen,
    )
    print()
    print(results_table(record))
    print()
    print(summary_line(record))
    for label, path in record["files"].items():
        print(f"{label:<10}{path}")
    return 0
