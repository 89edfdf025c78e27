"""A discovered loss as a standalone Python module that imports only torch.

The module's ``loss`` is the very source the engine trains with (``LossExpr.torch_source``) and
its ``transform`` is copied from ``lossevo.loss.transform``, so the exported function, the
trained one and the displayed formula are one function.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import re
import textwrap
from pathlib import Path

from lossevo.loss import transform
from lossevo.loss.reference import LossSpec
from lossevo.util.version import __version__

_TRANSFORM_SOURCE = {
    "sigmoid": inspect.getsource(transform.sigmoid_clipped).replace(
        "def sigmoid_clipped(score: torch.Tensor) -> torch.Tensor:", "def transform(score):"
    ),
    "raw": inspect.getsource(transform.identity).replace(
        "def identity(score: torch.Tensor) -> torch.Tensor:", "def transform(score):"
    ),
}

_TEMPLATE = '''"""{title}

Exported by lossevo {version} on {date}. Imports only torch.

    L(y_real, y_pred) = {formula}

LaTeX: {latex}

y_pred = transform(discriminator score): {transform}.
Generator convention: {generator}.
{note}
Provenance: {provenance}
"""

import torch

FORMULA = {formula_repr}
TRANSFORM = {transform_repr}
GENERATOR = {generator_repr}
CLIP = {clip!r}


{loss_source}


{transform_source}

class {class_name}(torch.nn.Module):
    """The loss on raw discriminator scores: ``discriminator_loss`` and ``generator_loss``."""

    def forward(self, y_real, y_pred):
        """Mean element-wise loss of already transformed predictions."""
        return loss(y_real, y_pred).mean()

    def discriminator_loss(self, real_scores, fake_scores):
        p_real, p_fake = transform(real_scores), transform(fake_scores)
        return (loss(torch.ones_like(p_real), p_real).mean()
                + loss(torch.zeros_like(p_fake), p_fake).mean())

    def generator_loss(self, fake_scores):
        p_fake = transform(fake_scores)
        if GENERATOR == "minimax":
            return -loss(torch.zeros_like(p_fake), p_fake).mean()
        return loss(torch.ones_like(p_fake), p_fake).mean()
'''


def class_name_for(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name) or ["Exported"]
    text = "".join(w[:1].upper() + w[1:] for w in words)
    return (text if text[0].isalpha() else f"Loss{text}") + (
        "" if text.endswith("Loss") else "Loss"
    )


def module_source(spec: LossSpec, provenance: dict | None = None) -> str:
    """The text of the standalone module for ``spec``."""
    provenance = provenance or {"source": spec.name}
    latex = spec.expr.latex.replace("\\", "\\\\")
    return _TEMPLATE.format(
        title=f"{spec.name}: a GAN loss exported by lossevo.",
        version=__version__,
        date=_dt.date.today().isoformat(),
        formula=spec.expr.text,
        latex=latex,
        transform=spec.transform,
        generator=spec.generator,
        note=f"\n{textwrap.fill(spec.note, 96)}\n" if spec.note else "",
        provenance=json.dumps(provenance, sort_keys=True),
        formula_repr=repr(spec.expr.text),
        transform_repr=repr(spec.transform),
        generator_repr=repr(spec.generator),
        clip=transform.CLIP,
        loss_source=spec.expr.torch_source.rstrip(),
        transform_source=_TRANSFORM_SOURCE[spec.transform].rstrip() + "\n",
        class_name=class_name_for(spec.name),
    )


def export_loss(spec: LossSpec, path: str | Path, provenance: dict | None = None) -> Path:
    """Write the module to ``path`` (a .py file, or a directory to put <name>.py in)."""
    path = Path(path)
    if path.suffix != ".py":
        path.mkdir(parents=True, exist_ok=True)
        path = path / f"{re.sub(r'[^A-Za-z0-9_]+', '_', spec.name).strip('_').lower()}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(module_source(spec, provenance))
    return path
