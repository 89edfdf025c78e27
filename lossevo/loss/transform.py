"""How the discriminator's raw score becomes the y_pred a loss sees.

``sigmoid``: p = clip(sigmoid(score), 1e-7, 1 - 1e-7), as in GANetic and Keras' BCE.
``raw``: the score itself (Wasserstein, hinge, least squares).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lossevo.loss.conventions import TRANSFORMS

CLIP = 1e-7


def sigmoid_clipped(score: torch.Tensor) -> torch.Tensor:
    """sigmoid(score) clipped to [1e-7, 1 - 1e-7]; the clip passes no gradient outside it."""
    return torch.sigmoid(score).clamp(CLIP, 1.0 - CLIP)


def identity(score: torch.Tensor) -> torch.Tensor:
    return score


def get_transform(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The torch function for a transform name, or a ValueError naming the valid ones."""
    if name == "sigmoid":
        return sigmoid_clipped
    if name == "raw":
        return identity
    raise ValueError(f"unknown output transform {name!r}; use one of {', '.join(TRANSFORMS)}")
