"""The one exception type of the metrics package, so callers can catch metric failures alone."""

from __future__ import annotations


class MetricError(ValueError):
    """A metric cannot be computed from these inputs or files; the message says why in one line."""
