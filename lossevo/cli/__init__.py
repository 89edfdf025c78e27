"""The ``lossevo`` command line: thin argument parsing over the library's functions.

Every user error (bad formula, space, dataset, run directory...) is a LossevoError with a
one-line message; it is printed as ``lossevo: error: ...`` with exit status 2, and a traceback
only with --debug.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lossevo.util.errors import LossevoError
from lossevo.util.version import __version__


def _add_loss_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--transform",
        choices=["sigmoid", "raw"],
        default=None,
        help="discriminator output transform (default: the loss's own, or sigmoid for formulas)",
    )
    parser.add_argument(
        "--generator",
        choices=["non_saturating", "minimax"],
        default=None,
        help="generator convention (default: the loss's own, or non_saturating for formulas)",
    )


def cmd_show(args: argparse.Namespace) -> int:
    """Show a loss (canonical form, LaTeX, screening verdict) or a run directory."""
    target = Path(args.target)
    if target.is_dir():
        from lossevo.report.views import show_run

        show_run(target, top=args.top)
        return 0
    from lossevo.loss.reference import resolve_loss
    from lossevo.loss.screen import REASONS, screen

    spec = resolve_loss(args.target, transform=args.transform, generator=args.generator)
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


def cmd_export(args: argparse.Namespace) -> int:
    """Export a loss (name or formula) or a run's best losses as standalone modules."""
    from lossevo.loss.export import export_loss

    target = Path(args.target)
    if target.is_dir():
        from lossevo.report.views import export_run

        for path in export_run(target, top=args.top, out_dir=Path(args.output)):
            print(path)
        return 0
    from lossevo.loss.reference import resolve_loss

    spec = resolve_loss(args.target, transform=args.transform, generator=args.generator)
    path = export_loss(spec, args.output, provenance={"source": args.target})
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lossevo",
        description="Genetic programming for GAN loss functions: search, screen, train, "
        "export and replay.",
    )
    parser.add_argument("--version", action="version", version=f"lossevo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    show = sub.add_parser("show", help="show a loss (name or formula) or a run directory")
    show.add_argument("target", help="built-in loss name, formula, or run directory")
    show.add_argument("--top", type=int, default=10, help="leaderboard rows for a run")
    show.add_argument("--source", action="store_true", help="also print the torch source")
    _add_loss_options(show)
    show.set_defaults(func=cmd_show)

    export = sub.add_parser("export", help="write a loss as a standalone torch module")
    export.add_argument("target", help="built-in loss name, formula, or run directory")
    export.add_argument(
        "-o", "--output", required=True, help="output .py file, or directory (one module per loss)"
    )
    export.add_argument("--top", type=int, default=3, help="how many of a run's best losses")
    _add_loss_options(export)
    export.set_defaults(func=cmd_export)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list:
    """Other modules' ``register(subparsers)`` functions (search, evaluate, replay...)."""
    from lossevo.cli import evaluate, replay, search

    return [search.register, evaluate.register, replay.register]


def main(argv: list[str] | None = None) -> int:
    """Run one command. An expected failure (a LossevoError, or an OSError such as a full disk
    or a missing file) is one line and exit 2; anything else is a bug: one line naming it and
    exit 1. ``--debug`` shows the traceback of either."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("lossevo: interrupted", file=sys.stderr)
        return 130
    except (LossevoError, OSError) as err:
        if args.debug:
            raise
        print(f"lossevo: error: {_first_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:
        if args.debug:
            raise
        print(
            f"lossevo: internal error: {type(err).__name__}: {_first_line(err)} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
