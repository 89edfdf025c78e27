"""Loss specifications and the reference losses, written in the same formula language.

A LossSpec is everything training needs to know about a loss and nothing more: the element-wise
expression L(y_real, y_pred), the transform from the discriminator's raw score to y_pred, and the
generator convention. It travels between processes as a small JSON-able dict of text.

Conventions. The discriminator minimises mean L(1, D(x)) + mean L(0, D(G(z))).
``non_saturating``: the generator minimises mean L(1, D(G(z))) (fakes labelled real).
``minimax``: the generator maximises mean L(0, D(G(z))), the original GAN game.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lossevo.loss.conventions import GENERATOR_MODES, TRANSFORMS
from lossevo.loss.expr import LossExpr
from lossevo.loss.formula import FormulaError
from lossevo.util.errors import LossevoError
from lossevo.util.hashing import json_digest

BCE_FORMULA = "-(y_real*log(y_pred) + (1 - y_real)*log(1 - y_pred))"
#: GANetic, element-wise, as in GANLoss_tensorflow.py and example.py of the GANetic repository:
#: p**3 + sqrt(|3.985*y/(p + 1e-8)| + 1e-8). The registry's protected division and square root
#: are exactly these guards for p > 0, so the formula needs no extra epsilons.
GANETIC_FORMULA = "y_pred**3 + sqrt(3.985*y_real/y_pred)"


def spec_key(expr_key: str, transform: str, generator: str) -> str:
    """The digest that identifies a loss: canonical expression, transform, generator."""
    return json_digest({"expr": expr_key, "transform": transform, "generator": generator}, 20)


class LossSpecError(LossevoError):
    """An unknown transform, generator convention or built-in loss name."""


@dataclass(frozen=True)
class LossSpec:
    """A loss ready to train: expression, output transform and generator convention."""

    name: str
    expr: LossExpr
    transform: str = "sigmoid"
    generator: str = "non_saturating"
    note: str = ""

    def __post_init__(self):
        if self.transform not in TRANSFORMS:
            raise LossSpecError(
                f"unknown transform {self.transform!r}; use one of {', '.join(TRANSFORMS)}"
            )
        if self.generator not in GENERATOR_MODES:
            raise LossSpecError(
                f"unknown generator convention {self.generator!r}; use one of "
                f"{', '.join(GENERATOR_MODES)}"
            )

    @classmethod
    def from_formula(
        cls,
        formula: str,
        *,
        name: str | None = None,
        transform: str = "sigmoid",
        generator: str = "non_saturating",
        note: str = "",
    ) -> LossSpec:
        expr = LossExpr.from_text(formula)
        return cls(
            name=name or expr.text, expr=expr, transform=transform, generator=generator, note=note
        )

    @property
    def key(self) -> str:
        """The spec's identity: a digest of the canonical expression, the transform and the
        generator convention (not the name). One formula under two transforms is two losses."""
        return spec_key(self.expr.key, self.transform, self.generator)

    def to_dict(self) -> dict:
        """Plain data: what crosses process boundaries and lands in the run store."""
        return {
            "name": self.name,
            "formula": self.expr.formula,
            "transform": self.transform,
            "generator": self.generator,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LossSpec:
        return cls.from_formula(
            data["formula"],
            name=data.get("name"),
            transform=data.get("transform", "sigmoid"),
            generator=data.get("generator", "non_saturating"),
        )


_REFERENCE = {
    "adversarial": dict(
        formula=BCE_FORMULA,
        transform="sigmoid",
        generator="minimax",
        note="the original minimax GAN (Goodfellow et al. 2014)",
    ),
    "bce": dict(
        formula=BCE_FORMULA,
        transform="sigmoid",
        generator="non_saturating",
        note="non-saturating GAN with binary cross-entropy",
    ),
    "hinge": dict(
        formula="y_real*max(1 - y_pred, 0) + (1 - y_real)*max(1 + y_pred, 0)",
        transform="raw",
        generator="non_saturating",
        note="hinge loss on raw scores; the generator minimises relu(1 - D(G(z)))",
    ),
    "wasserstein": dict(
        formula="y_pred - 2*y_real*y_pred",
        transform="raw",
        generator="non_saturating",
        note="WGAN critic loss -D(x) + D(G(z)) without a Lipschitz penalty",
    ),
    "least_squares": dict(
        formula="(y_pred - y_real)**2",
        transform="raw",
        generator="non_saturating",
        note="LSGAN (Mao et al. 2017), 0/1 coding",
    ),
    "ganetic": dict(
        formula=GANETIC_FORMULA,
        transform="sigmoid",
        generator="non_saturating",
        note="GANetic (Akhmedova & Koerber 2024), element-wise form of "
        "GANLoss_tensorflow.py; the repository's GANLoss_torch.py divides by "
        "one batch sum instead and is a different function",
    ),
    "ngl": dict(
        formula="exp(2.4092 - y_pred*(1 + y_real)) - cos(cos(sin(y_pred)))",
        transform="sigmoid",
        generator="non_saturating",
        note="Next Generation Loss (arXiv 2404.12948), found by GP for classification",
    ),
}

#: The baselines of the published GANetic comparison, in the table's order.
GANETIC_TABLE_LOSSES = ("adversarial", "bce", "hinge", "wasserstein", "least_squares", "ganetic")


def reference_names() -> list[str]:
    return list(_REFERENCE)


def reference_loss(name: str) -> LossSpec:
    """A built-in loss by name (adversarial, bce, hinge, wasserstein, least_squares, ganetic...)."""
    try:
        spec = _REFERENCE[name.lower()]
    except KeyError:
        raise LossSpecError(
            f"unknown loss {name!r}; built-in losses: {', '.join(_REFERENCE)}"
        ) from None
    return LossSpec.from_formula(
        spec["formula"],
        name=name.lower(),
        transform=spec["transform"],
        generator=spec["generator"],
        note=spec["note"],
    )


#: Text that could be meant as a loss's name: a failed formula then also lists the built-ins.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")


def resolve_loss(
    name_or_formula: str, *, transform: str | None = None, generator: str | None = None
) -> LossSpec:
    """A built-in name or a formula; ``transform``/``generator`` override the defaults."""
    if name_or_formula.strip().lower() in _REFERENCE:
        spec = reference_loss(name_or_formula.strip())
        overrides = {k: v for k, v in (("transform", transform), ("generator", generator)) if v}
        if not overrides:
            return spec
        return LossSpec(
            name=spec.name,
            expr=spec.expr,
            note=spec.note,
            **{"transform": spec.transform, "generator": spec.generator, **overrides},
        )
    try:
        return LossSpec.from_formula(
            name_or_formula,
            transform=transform or "sigmoid",
            generator=generator or "non_saturating",
        )
    except FormulaError as err:
        if not _NAME.fullmatch(name_or_formula.strip()):
            raise
        raise FormulaError(
            f"{err} (and {name_or_formula!r} is not a built-in loss: {', '.join(_REFERENCE)})"
        ) from None
