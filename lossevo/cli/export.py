"""``lossevo export TARGET -o OUT``: a loss, or a run's best losses, as standalone modules.

The API is imported once the target is resolved, so a refused target answers without torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lossevo.cli.loss_options import add_loss_options


def register(sub) -> None:
    export = sub.add_parser("export", help="write a loss as a standalone torch module")
    export.add_argument("target", help="built-in loss name, formula, or run directory")
    export.add_argument(
        "-o", "--output", required=True, help="output .py file, or directory (one module per loss)"
    )
    export.add_argument("--top", type=int, default=3, help="how many of a run's best losses")
    export.add_argument(
        "--force", action="store_true", help="overwrite existing modules (refused without it)"
    )
    add_loss_options(export)
    export.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from lossevo.report.target import resolve_target

    target = resolve_target(args.target, transform=args.transform, generator=args.generator)
    if target.note:
        print(f"lossevo: {target.note}", file=sys.stderr)
    from lossevo import api

    if target.run_dir is not None:
        run = api.open_run(target.run_dir)
        for path in run.export(Path(args.output), top=args.top, force=args.force):
            print(path)
        return 0
    print(api.export(target.spec, args.output, source=args.target, force=args.force))
    return 0
