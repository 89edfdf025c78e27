"""lossevo: genetic programming for GAN loss functions.

The Python API (``lossevo.search``, ``lossevo.loss``, ``lossevo.evaluate``...) lives in
:mod:`lossevo.api`; the command line in :mod:`lossevo.cli` is a thin layer over it.
"""

from lossevo.api import (
    ApiError,
    GanLoss,
    Run,
    evaluate,
    evolve,
    export,
    gan_loss,
    open_run,
    promote,
    promote_report,
    replay,
    replay_report,
    resume,
)
from lossevo.util.errors import LossevoError
from lossevo.util.version import __version__

__all__ = [
    "ApiError",
    "GanLoss",
    "LossevoError",
    "Run",
    "__version__",
    "evaluate",
    "evolve",
    "export",
    "gan_loss",
    "open_run",
    "promote",
    "promote_report",
    "replay",
    "replay_report",
    "resume",
]
