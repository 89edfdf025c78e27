"""A discovered loss as a standalone Python module that imports only torch.

The module's ``loss`` is the very source the engine trains with (``LossExpr.torch_source``), its
``transform`` is copied from ``lossevo.loss.transform`` and its two objectives from
``lossevo.loss.objective``, so the exported, the trained and the displayed loss are one function.
"""

from __future__ import annotations

import ast
import datetime as _dt
import inspect
import json
import re
import textwrap
from pathlib import Path

from lossevo.loss import transform
from lossevo.loss.objective import discriminator_objective, generator_objective
from lossevo.loss.reference import LossSpec
from lossevo.util.version import __version__


def plain_source(fn, name: str | None = None) -> str:
    """``fn``'s source without annotations, optionally renamed: exported modules import only
    torch, so hints naming ``Callable`` or lossevo types cannot travel with the code."""
    source = textwrap.dedent(inspect.getsource(fn))
    node = ast.parse(source).body[0]
    body = "".join(source.splitlines(keepends=True)[node.body[0].lineno - 1 :])
    return f"def {name or node.name}({', '.join(a.arg for a in node.args.args)}):\n{body}"


_TRANSFORM_SOURCE = {
    "sigmoid": plain_source(transform.sigmoid_clipped, "transform"),
    "raw": plain_source(transform.identity, "transform"),
}
_OBJECTIVES_SOURCE = "\n\n".join(
    plain_source(fn) for fn in (discriminator_objective, generator_objective)
)

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

{objectives_source}

class {class_name}(torch.nn.Module):
    """The loss on raw discriminator scores: ``discriminator_loss`` and ``generator_loss``."""

    def forward(self, y_real, y_pred):
        """Mean element-wise loss of already transformed predictions."""
        return loss(y_real, y_pred).mean()

    def discriminator_loss(self, real_scores, fake_scores):
        return discriminator_objective(loss, transform, real_scores, fake_scores)

    def generator_loss(self, fake_scores):
        return generator_objective(loss, transform, GENERATOR, fake_scores)
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
        objectives_source=_OBJECTIVES_SOURCE.rstrip() + "\n",
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
