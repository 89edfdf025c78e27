"""lossevo: genetic programming for GAN loss functions."""

__version__ = "0.1.0"
