"""``lossevo show TARGET``: a loss (canonical form, LaTeX, screening verdict) or a run directory.

The work is imported inside :func:`cmd_show`, so ``--help`` and a refused target (no such run
directory, a bad formula) answer without importing torch.
"""

from __future__ import annotations

import argparse
import sys

from lossevo.cli.loss_options import add_loss_options
from lossevo.util.terminal import for_terminal


def register(sub) -> None:
    show = sub.add_parser("show", help="show a loss (name or formula) or a run directory")
    show.add_argument("target", help="built-in loss name, formula, or run directory")
    show.add_argument("--top", type=int, default=10, help="leaderboard rows for a run")
    show.add_argument("--source", action="store_true", help="also print the torch source")
    show.add_argument(
        "--json",
        action="store_true",
        help="for a run: print leaderboard, generations and verdict as JSON (for scripts)",
    )
    add_loss_options(show)
    show.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    from lossevo.report.target import resolve_target

    target = resolve_target(args.target, transform=args.transform, generator=args.generator)
    if target.note:
        print(f"lossevo: {target.note}", file=sys.stderr)
    if target.run_dir is not None:
        from lossevo.report.views import show_run

        show_run(target.run_dir, top=args.top, as_json=args.json)
        return 0
    from lossevo.loss.screen import REASONS, screen

    spec = target.spec
    verdict = screen(spec)
    lines = [
        f"name        {spec.name}",
        f"canonical   {spec.expr.text}",
        f"latex       {spec.expr.latex}",
        f"complexity  {spec.expr.complexity}",
        f"transform   {spec.transform}    generator  {spec.generator}",
    ]
    if spec.note:
        lines.append(f"note        {spec.note}")
    if verdict.passed:
        lines.append(f"screening   passed (fingerprint {verdict.fingerprint})")
    else:
        lines.append(f"screening   REJECTED: {verdict.reason} - {REASONS[verdict.reason]}")
        lines.append(f"            {verdict.detail}")
    for key, value in verdict.measurements.items():
        if isinstance(value, float):
            lines.append(f"  {key:<16}{value:.4g}")
    if args.source:
        lines += ["", spec.expr.torch_source]
    print(for_terminal("\n".join(lines)))
    return 0
