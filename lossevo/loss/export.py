"""A discovered loss as a standalone Python module that imports only torch.

The module's ``loss`` is the very source the engine trains with (``LossExpr.torch_source``), its
``transform`` is copied from ``lossevo.loss.transform`` and its two objectives from
``lossevo.loss.objective``, so the exported, the trained and the displayed loss are one function.

Text from outside (a loss's name, a run folder's path, notes, provenance) never becomes code: it
reaches the module only inside its docstring, escaped by :func:`docstring_text` and checked to
read back unchanged, or as data literals written by ``repr`` and checked with ``literal_eval``.
"""

from __future__ import annotations

import ast
import datetime as _dt
import inspect
import json
import math
import re
import textwrap
import unicodedata
from pathlib import Path

from lossevo.loss import transform
from lossevo.loss.objective import discriminator_objective, generator_objective
from lossevo.loss.reference import LossSpec
from lossevo.util.errors import LossevoError
from lossevo.util.files import write_text
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
PROVENANCE = {provenance_literal}


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


def docstring_text(text: str) -> str:
    """``text`` escaped to sit inside a triple-quoted docstring and read back as itself.

    Backslashes are doubled, control characters other than newline written as escapes, and no
    three quotes are left in a row, so the text can neither end the string nor start code.
    """
    text = str(text).replace("\\", "\\\\")
    text = "".join(
        ch
        if ch == "\n" or unicodedata.category(ch) != "Cc"
        else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )
    return text.replace('"""', '""\\"')


def data_literal(value):
    """A Python literal for JSON-like ``value`` (non-finite floats become their names)."""
    text = repr(_finite(value))
    if ast.literal_eval(text) != _finite(value):
        raise ValueError(f"provenance is not plain data: {text[:80]}")
    return text


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def module_source(spec: LossSpec, provenance: dict | None = None) -> str:
    """The text of the standalone module for ``spec``."""
    provenance = provenance or {"source": spec.name}
    note = f"\n{textwrap.fill(spec.note, 96)}\n" if spec.note else ""
    doc = {
        "title": f"{spec.name}: a GAN loss exported by lossevo.",
        "version": __version__,
        "date": _dt.date.today().isoformat(),
        "formula": spec.expr.text,
        "latex": spec.expr.latex,
        "transform": spec.transform,
        "generator": spec.generator,
        "note": note,
        "provenance": json.dumps(_finite(provenance), sort_keys=True),
    }
    source = _TEMPLATE.format(
        **{key: docstring_text(value) for key, value in doc.items()},
        formula_repr=repr(spec.expr.text),
        transform_repr=repr(spec.transform),
        generator_repr=repr(spec.generator),
        clip=transform.CLIP,
        provenance_literal=data_literal(provenance),
        loss_source=spec.expr.torch_source.rstrip(),
        transform_source=_TRANSFORM_SOURCE[spec.transform].rstrip() + "\n",
        objectives_source=_OBJECTIVES_SOURCE.rstrip() + "\n",
        class_name=class_name_for(spec.name),
    )
    _check_docstring(source, _TEMPLATE.split('"""', 2)[1].format(**doc))
    return source


def _check_docstring(source: str, expected: str) -> None:
    """The module parses and its docstring is exactly the intended text (defence in depth)."""
    if ast.get_docstring(ast.parse(source), clean=False) != expected:
        raise ValueError("internal error: an exported module's docstring did not read back")


class ExportError(LossevoError):
    """An export that would overwrite a file, or has nowhere to go; one line saying what to do."""


def export_path(spec: LossSpec, path: str | Path) -> Path:
    """Where :func:`export_loss` writes: ``path`` if a .py file, else ``<name>.py`` inside."""
    path = Path(path)
    if path.suffix == ".py":
        return path
    return path / f"{re.sub(r'[^A-Za-z0-9_]+', '_', spec.name).strip('_').lower()}.py"


def export_loss(
    spec: LossSpec, path: str | Path, provenance: dict | None = None, *, force: bool = True
) -> Path:
    """Write the module to ``path`` (a .py file, or a directory to put <name>.py in); an
    existing file is refused unless ``force``.

    The write is atomic: a failure (a full disk) leaves an existing file as it was.
    """
    target = export_path(spec, path)
    if not force and target.exists():
        raise ExportError(
            f"'{target}' already exists; nothing was written: choose another output, or "
            f"overwrite it with --force (force=True in Python)"
        )
    if target != Path(path):
        if Path(path).exists() and not Path(path).is_dir():
            raise ExportError(f"'{path}' is a file, not a folder; name a folder or a .py file")
        Path(path).mkdir(parents=True, exist_ok=True)
    return write_text(target, module_source(spec, provenance))
