"""The two GAN objectives of an element-wise loss, and the loss as a torch module.

One function per objective: the training loop calls them, :class:`GanLoss` (what the Python API
hands out) calls them, and ``export`` copies their source into every exported module, so the
trained, the returned and the exported loss compute the same thing by the same code.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lossevo.loss.reference import LossSpec
from lossevo.loss.transform import get_transform


def discriminator_objective(
    loss: Callable, transform: Callable, real_scores: torch.Tensor, fake_scores: torch.Tensor
) -> torch.Tensor:
    """What the discriminator minimises: mean L(1, t(D(x))) + mean L(0, t(D(G(z))))."""
    p_real, p_fake = transform(real_scores), transform(fake_scores)
    return (
        loss(torch.ones_like(p_real), p_real).mean() + loss(torch.zeros_like(p_fake), p_fake).mean()
    )


def generator_objective(
    loss: Callable, transform: Callable, generator: str, fake_scores: torch.Tensor
) -> torch.Tensor:
    """What the generator minimises: mean L(1, t(D(G(z)))), or -mean L(0, ...) for minimax."""
    p_fake = transform(fake_scores)
    if generator == "minimax":
        return -loss(torch.zeros_like(p_fake), p_fake).mean()
    return loss(torch.ones_like(p_fake), p_fake).mean()


class GanLoss(nn.Module):
    """A loss on raw discriminator scores: ``discriminator_loss`` and ``generator_loss``.

    Drop-in for a training loop: ``d_loss = crit.discriminator_loss(D(x), D(G(z).detach()))``,
    ``g_loss = crit.generator_loss(D(G(z)))``. ``forward(y_real, y_pred)`` is the mean
    element-wise loss of already transformed predictions, as in exported modules.
    """

    def __init__(self, spec: LossSpec):
        super().__init__()
        self.spec = spec
        self.loss = spec.expr.torch_fn()
        self.transform = get_transform(spec.transform)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def formula(self) -> str:
        """The canonical formula, as displayed and exported."""
        return self.spec.expr.text

    @property
    def latex(self) -> str:
        return self.spec.expr.latex

    @property
    def generator(self) -> str:
        """The generator convention: non_saturating or minimax."""
        return self.spec.generator

    def forward(self, y_real: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return self.loss(y_real, y_pred).mean()

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        return discriminator_objective(self.loss, self.transform, real_scores, fake_scores)

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return generator_objective(self.loss, self.transform, self.spec.generator, fake_scores)

    def extra_repr(self) -> str:
        return (
            f"{self.spec.expr.text!r}, transform={self.spec.transform!r}, "
            f"generator={self.spec.generator!r}"
        )
