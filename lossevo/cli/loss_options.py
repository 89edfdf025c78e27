"""The ``--transform`` and ``--generator`` flags every command that takes a loss shares."""

from __future__ import annotations

import argparse

from lossevo.loss.conventions import GENERATOR_MODES, TRANSFORMS


def add_loss_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--transform",
        choices=list(TRANSFORMS),
        default=None,
        help="discriminator output transform (default: the loss's own, or sigmoid for formulas)",
    )
    parser.add_argument(
        "--generator",
        choices=list(GENERATOR_MODES),
        default=None,
        help="generator convention (default: the loss's own, or non_saturating for formulas)",
    )
