"""The one exception type of the metrics package, so callers can catch metric failures alone."""

from __future__ import annotations

from lossevo.util.errors import LossevoError


class MetricError(LossevoError):
    """A metric cannot be computed from these inputs or files; the message says why in one line."""
