"""The ``lossevo`` command line: thin argument parsing over the library's functions.

Every user error (bad formula, space, dataset, run directory...) is a LossevoError with a
one-line message; it is printed as ``lossevo: error: ...`` with exit status 2, and a traceback
only with --debug.
"""

from __future__ import annotations

import argparse
import os
import sys

from lossevo.cli import evaluate, export, promote, replay, search, show
from lossevo.util.errors import LossevoError
from lossevo.util.version import __version__


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors in one line, like every other lossevo error: the
    message, then where the full usage is (``--help``), with exit status 2."""

    def error(self, message: str):
        formula_like = any(c in message for c in "*/()") or "required: target" in message
        hint = "; a formula that starts with '-' goes after '--'" if formula_like else ""
        self.exit(2, f"lossevo: error: {message}{hint} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    """Run one command. An expected failure (a LossevoError, or an OSError such as a full disk
    or a missing file) is one line and exit 2; anything else is a bug: one line naming it and
    exit 1. ``--debug`` shows the traceback of either. A closed stdout (``| head``) ends the
    command quietly with ``EXIT_BROKEN_PIPE``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
        return code
    except KeyboardInterrupt:
        print("lossevo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _stdout_closed()
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


#: Exit status when the reader of stdout went away (``lossevo show RUN | head -1``): 128 +
#: SIGPIPE, what ``cat``, ``git`` and every tool killed by the signal report, so a pipeline under
#: ``set -o pipefail`` sees the output was cut short; plain shells ignore it, and nothing is
#: printed (``head`` got what it asked for).
EXIT_BROKEN_PIPE = 141


def _stdout_closed() -> int:
    """Quietly give up on a closed stdout: point it at /dev/null so the interpreter's final
    flush of what is still buffered cannot fail again (the idiom of Python's signal docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
