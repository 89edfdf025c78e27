"""``lossevo show TARGET``: a loss (canonical form, LaTeX, screening verdict) or a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from lossevo import api
from lossevo.cli.loss_options import add_loss_options
from lossevo.loss.screen import REASONS, screen
from lossevo.report.views import show_run


def register(sub) -> None:
    show = sub.add_parser("show", help="show a loss (name or formula) or a run directory")
    show.add_argument("target", help="built-in loss name, formula, or run directory")
    show.add_argument("--top", type=int, default=10, help="leaderboard rows for a run")
    show.add_argument("--source", action="store_true", help="also print the torch source")
    add_loss_options(show)
    show.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    target = Path(args.target)
    if target.is_dir():
        show_run(target, top=args.top)
        return 0
    spec = api.gan_loss(args.target, transform=args.transform, generator=args.generator).spec
    verdict = screen(spec)
    print(f"name        {spec.name}")
    print(f"canonical   {spec.expr.text}")
    print(f"latex       {spec.expr.latex}")
    print(f"complexity  {spec.expr.complexity}")
    print(f"transform   {spec.transform}    generator  {spec.generator}")
    if spec.note:
        print(f"note        {spec.note}")
    if verdict.passed:
        print(f"screening   passed (fingerprint {verdict.fingerprint})")
    else:
        print(f"screening   REJECTED: {verdict.reason} - {REASONS[verdict.reason]}")
        print(f"            {verdict.detail}")
    for key, value in verdict.measurements.items():
        if isinstance(value, float):
            print(f"  {key:<16}{value:.4g}")
    if args.source:
        print()
        print(spec.expr.torch_source)
    return 0
