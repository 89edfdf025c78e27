"""The ``lossevo`` command line: thin argument parsing over the library's functions.

Every user error (bad formula, space, dataset, run directory...) is a ValueError subclass with a
one-line message; it is printed as ``lossevo: error: ...`` with exit status 2, and a traceback
only with --debug.
"""

from __future__ import annotations

import argparse
import sys

from lossevo.cli import evaluate, export, promote, replay, search, show
from lossevo.util.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lossevo",
        description="Genetic programming for GAN loss functions: search, screen, train, "
        "export and replay.",
    )
    parser.add_argument("--version", action="version", version=f"lossevo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for register in _commands():
        register(sub)
    return parser


def _commands() -> list:
    """Each command module's ``register(subparsers)``, in the order ``--help`` lists them."""
    return [
        show.register,
        export.register,
        search.register,
        evaluate.register,
        replay.register,
        promote.register,
    ]


def main(argv: list[str] | None = None) -> int:
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
    except (ValueError, FileNotFoundError, OSError) as err:
        if args.debug:
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"lossevo: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
