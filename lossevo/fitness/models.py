"""DCGAN generator and discriminator sized from the image shape (C, H, W).

Supported: square images with H = W in {8, 28, 32, 64} and C in {1, 3}. ``width`` is the base
channel count: 64 is the usual full size, 16 a small network for the loss search.

Generator: z -> Linear -> (c0, s0, s0) -> [ConvTranspose 4x4 s2 + BatchNorm + ReLU]* ->
ConvTranspose 4x4 s2 -> tanh. Channels halve as the map doubles (DCGAN); the last hidden map has
``width`` channels. Start maps: 8: 2x2, 28: 7x7, 32: 4x4, 64: 4x4.

Discriminator (GANetic's CIFAR-10 D, scaled by width/64): Conv 3x3 (width) then 3x3 stride-2
convs with (2, 2, 4, 8) x width channels until the map is at most 4x4 (28: 14, 7, 4; 32: 16, 8,
4; 64: 32, 16, 8, 4; 8: 4), LeakyReLU 0.2 after each, Flatten, Dropout 0.4, Linear -> 1.
It returns a raw score of shape (N,); the output transform is the training loop's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

SUPPORTED_SIZES = (8, 28, 32, 64)
SUPPORTED_CHANNELS = (1, 3)
#: Spatial size of the generator's first map for each image size.
_START = {8: 2, 28: 7, 32: 4, 64: 4}
#: Discriminator channel multipliers of the stride-2 convs, in order.
_D_MULTS = (2, 2, 4, 8)


@dataclass
class ModelConfig:
    image_shape: tuple[int, int, int]  # (C, H, W)
    latent_dim: int = 100
    width: int = 64


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """The shape as a (C, H, W) tuple of ints, or a one-line ValueError naming what is supported."""
    shape = tuple(int(s) for s in image_shape)
    if (
        len(shape) != 3
        or shape[0] not in SUPPORTED_CHANNELS
        or shape[1] != shape[2]
        or shape[1] not in SUPPORTED_SIZES
    ):
        sizes = ", ".join(f"{s}x{s}" for s in SUPPORTED_SIZES)
        raise ValueError(
            f"unsupported image shape {shape}; supported: (C, H, W) with C in "
            f"{SUPPORTED_CHANNELS} and H x W in {sizes}"
        )
    return shape


def dcgan_init(module: nn.Module) -> None:
    """DCGAN init: conv/linear weights ~ N(0, 0.02), BatchNorm weights ~ N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z of shape (N, latent_dim) -> images (N, C, H, W) in [-1, 1]."""

    def __init__(
        self, *, image_shape: tuple[int, int, int], latent_dim: int = 100, width: int = 64
    ):
        super().__init__()
        channels, size, _ = check_image_shape(image_shape)
        self.image_shape = (channels, size, size)
        self.latent_dim = latent_dim
        start = _START[size]
        n_up = (size // start).bit_length() - 1  # number of 2x upsamplings
        hidden = [width * 2 ** (n_up - 1 - i) for i in range(n_up)]  # e.g. 4w, 2w, w
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, hidden[0] * start * start, bias=False),
            nn.Unflatten(1, (hidden[0], start, start)),
            nn.BatchNorm2d(hidden[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in zip(hidden[:-1], hidden[1:], strict=True):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(hidden[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """Images (N, C, H, W) -> raw scores (N,); no sigmoid."""

    def __init__(self, *, image_shape: tuple[int, int, int], width: int = 64, dropout: float = 0.4):
        super().__init__()
        channels, size, _ = check_image_shape(image_shape)
        self.image_shape = (channels, size, size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2, True)]
        c_in = width
        for mult in _D_MULTS:
            if size <= 4:
                break
            layers += [nn.Conv2d(c_in, width * mult, 3, 2, 1), nn.LeakyReLU(0.2, True)]
            c_in, size = width * mult, (size + 1) // 2
        layers += [nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in * size * size, 1)]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build_models(config: ModelConfig) -> tuple[Generator, Discriminator]:
    """A freshly initialised (G, D) pair (uses torch's global RNG: seed it first)."""
    g = Generator(image_shape=config.image_shape, latent_dim=config.latent_dim, width=config.width)
    d = Discriminator(image_shape=config.image_shape, width=config.width)
    return g, d
