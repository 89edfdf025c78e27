"""The ``promote`` command: flags to ``lossevo.promote`` (imported when the command runs, so
``--help`` and a bad flag answer without importing torch)."""

from __future__ import annotations

import argparse

from lossevo.cli.replay import add_study_execution
from lossevo.cli.search import execution


def register(sub) -> None:
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
    add_study_execution(promote)
    promote.set_defaults(func=cmd_promote)


def cmd_promote(args: argparse.Namespace) -> int:
    if args.stages is None and not args.report_only:
        from lossevo.studies.protocol import ProtocolError

        raise ProtocolError(
            "promote needs --stages STAGES.yaml (e.g. experiments/promote_cpu.yaml)"
        )
    from lossevo import api

    if args.report_only:
        print(api.promote_report(args.out))
        return 0
    path = api.promote(
        args.run,
        args.stages,
        args.out,
        top=args.top,
        execution=execution(args),
        progress=not args.quiet,
    )
    print(f"report: {path}")
    return 0
