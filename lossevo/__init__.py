"""lossevo: genetic programming for GAN loss functions."""

from lossevo.util.version import __version__

__all__ = ["__version__"]
