"""The package version, in one place (the wheel metadata and every export quote it)."""

__version__ = "0.1.0"
