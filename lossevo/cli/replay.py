"""The ``replay`` and ``promote`` commands: thin flag parsing over ``lossevo.studies``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _execution(parser: argparse.ArgumentParser) -> None:
    from lossevo.cli.search import add_execution_options

    group = add_execution_options(parser, gpus_and_timeout=False)
    group.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: rewrite report.md, table.csv and the figures of --out from its store",
    )


def register(sub) -> None:
    replay = sub.add_parser(
        "replay",
        help="re-run a published loss comparison: several losses x many seeds under "
        "one protocol, with statistics and figures",
        description="Train each loss of a protocol for several independent runs and compare "
        "them (mean, spread, Mann-Whitney U and bootstrap CI against the baseline). "
        "Re-running the same command on the same --out resumes it.",
    )
    replay.add_argument(
        "--config",
        default=None,
        help="protocol YAML: the losses, runs, budget and task it measures; e.g. "
        "experiments/ganetic_mnist_cpu.yaml (CPU, <30 min) or "
        "experiments/ganetic_cifar10.yaml (GPU, as published)",
    )
    replay.add_argument("--out", required=True, help="replay directory (created or resumed)")
    _execution(replay)
    replay.set_defaults(func=cmd_replay)

    promote = sub.add_parser(
        "promote",
        help="re-evaluate a search run's best losses through harder stages",
        description="Take a search run's top K losses plus the baselines (bce, ganetic) "
        "through the stages of a YAML file; after each stage only the best "
        "candidates move on, baselines always do. Resumable like replay.",
    )
    promote.add_argument("run", help="search run directory")
    promote.add_argument("--top", type=int, default=3, help="best losses of the run (default 3)")
    promote.add_argument(
        "--stages", default=None, help="stages YAML, e.g. experiments/promote_cpu.yaml"
    )
    promote.add_argument("--out", required=True, help="promotion directory (created or resumed)")
    _execution(promote)
    promote.set_defaults(func=cmd_promote)


def cmd_replay(args: argparse.Namespace) -> int:
    from lossevo.studies.protocol import ProtocolError
    from lossevo.studies.replay import report_only, run_replay

    if args.report_only:
        print(report_only(Path(args.out)))
        return 0
    if args.config is None:
        raise ProtocolError(
            "replay needs --config PROTOCOL.yaml (e.g. experiments/ganetic_mnist_cpu.yaml)"
        )
    path = run_replay(
        args.config,
        args.out,
        workers=args.workers,
        ray_address=args.ray_address,
        progress=not args.quiet,
    )
    print(f"report: {path}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from lossevo.studies.promote import promote_report_only, run_promotion
    from lossevo.studies.protocol import ProtocolError

    if args.report_only:
        print(promote_report_only(Path(args.out)))
        return 0
    if args.stages is None:
        raise ProtocolError(
            "promote needs --stages STAGES.yaml (e.g. experiments/promote_cpu.yaml)"
        )
    path = run_promotion(
        args.run,
        args.stages,
        args.out,
        top=args.top,
        workers=args.workers,
        ray_address=args.ray_address,
        progress=not args.quiet,
    )
    print(f"report: {path}")
    return 0
