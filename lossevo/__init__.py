"""lossevo: genetic programming for GAN loss functions.

The Python API (``lossevo.evolve``, ``lossevo.gan_loss``, ``lossevo.evaluate``...) lives in
:mod:`lossevo.api`; the command line in :mod:`lossevo.cli` is a thin layer over it. The API is
imported on first use (PEP 562), so that ``import lossevo.util...`` and a CLI refusal do not pay
for torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lossevo.util.errors import LossevoError
from lossevo.util.version import __version__

if TYPE_CHECKING:
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
_API_NAMES = frozenset(__all__) - {"LossevoError", "__version__"}


def __getattr__(name: str):
    """The API's names, imported from :mod:`lossevo.api` the first time one is asked for."""
    if name in _API_NAMES:
        from lossevo import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lossevo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
