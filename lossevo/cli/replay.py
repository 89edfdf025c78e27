"""The ``replay`` command: flags to ``lossevo.replay`` (imported when the command runs, so
``--help`` and a bad flag answer without importing torch)."""

from __future__ import annotations

import argparse

from lossevo.cli.search import add_execution_options, execution


def add_study_execution(parser: argparse.ArgumentParser) -> None:
    """--workers, --ray-address, --quiet and --report-only, shared with ``promote``."""
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
    add_study_execution(replay)
    replay.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    if args.config is None and not args.report_only:
        from lossevo.studies.protocol import ProtocolError

        raise ProtocolError(
            "replay needs --config PROTOCOL.yaml (e.g. experiments/ganetic_mnist_cpu.yaml)"
        )
    from lossevo import api

    if args.report_only:
        print(api.replay_report(args.out))
        return 0
    path = api.replay(
        args.config,
        args.out,
        execution=execution(args),
        progress=not args.quiet,
    )
    print(f"report: {path}")
    return 0
