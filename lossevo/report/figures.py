"""Figures for replay and promotion reports; each function writes one PNG and returns its path.

* :func:`box_strip`: the per-run metric of each loss as a box with every run drawn on top
  (the GANetic paper's Figure 2 shows the spread across runs this way).
* :func:`loss_curves`: each loss and its derivative over its input, for y_real = 0 and 1
  (Figure 4), computed with autograd from the very torch function that is trained.
* :func:`sample_grids`: one generated-sample grid per loss, side by side.
* :func:`learning_curves`: the metric at each checkpoint, median and spread over seeds per loss.
* :func:`interval_panels`: one panel per setting (e.g. a normal class): every run of each loss,
  its mean with a confidence interval, and published figures as dashed lines.

Matplotlib runs headless (Agg); nothing here touches the run store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from lossevo.loss.reference import LossSpec
from lossevo.util.fmt import shorten
from lossevo.util.png import decode_png

#: Where losses are drawn: p in (0, 1) for the sigmoid transform, raw scores for ``raw``.
P_RANGE = (0.01, 0.99)
RAW_RANGE = (-3.0, 3.0)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def box_strip(
    values: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    ylabel: str,
    title: str,
    notes: Mapping[str, str] | None = None,
) -> Path:
    """Box plot per loss with each run as a jittered dot; ``notes`` go under the tick labels
    (e.g. "2 diverged"). Losses without a finite value get an empty slot, not a crash."""
    plt = _pyplot()
    names = list(values)
    data = [[v for v in values[n] if v is not None and math.isfinite(v)] for n in names]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(names) + 1.5), 4.2), dpi=120)
    positions = np.arange(1, len(names) + 1)
    filled = [(p, d) for p, d in zip(positions, data, strict=True) if d]
    if filled:
        ax.boxplot(
            [d for _, d in filled],
            positions=[p for p, _ in filled],
            widths=0.55,
            showfliers=False,
            medianprops={"color": "black"},
        )
    rng = np.random.default_rng(0)
    for pos, d in zip(positions, data, strict=True):
        if d:
            ax.scatter(pos + rng.uniform(-0.15, 0.15, len(d)), d, s=16, alpha=0.75, zorder=3)
    labels = [f"{n}\n{(notes or {}).get(n, '')}".rstrip() for n in names]
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_xlim(0.4, len(names) + 0.6)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def loss_curve_data(spec: LossSpec, points: int = 400) -> dict:
    """L(y, x) and dL/dx for y = 0 and 1 over the loss's input x, by autograd in float64.

    x is y_pred: the probability p for sigmoid losses, the raw score for ``raw`` ones.
    """
    low, high = P_RANGE if spec.transform == "sigmoid" else RAW_RANGE
    x = torch.linspace(low, high, points, dtype=torch.float64)
    fn = spec.expr.torch_fn()
    out = {
        "x": x.numpy(),
        "input": "p = sigmoid(D(x))" if spec.transform == "sigmoid" else "raw score D(x)",
    }
    for label in (0.0, 1.0):
        xs = x.clone().requires_grad_(True)
        values = fn(torch.full_like(xs, label), xs)
        (grad,) = torch.autograd.grad(values.sum(), xs)
        out[f"value_{label:g}"] = values.detach().numpy()
        out[f"grad_{label:g}"] = grad.numpy()
    return out


def loss_curves(specs: Sequence[LossSpec], path: str | Path, *, title: str | None = None) -> Path:
    """A 2 x n grid: top row L(y_real, y_pred), bottom row dL/dy_pred, one column per loss.

    Sigmoid losses are drawn over p in [0.01, 0.99], raw-score losses over scores in [-3, 3];
    each panel's x label says which. Gradient axes are symmetric-log: at p = 0.01 BCE's is
    -100 and GANetic's about -998.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(specs), figsize=(3.0 * len(specs), 5.6), dpi=110, squeeze=False)
    for col, spec in enumerate(specs):
        data = loss_curve_data(spec)
        for row, kind in enumerate(("value", "grad")):
            ax = axes[row][col]
            for label, style in (("0", "--"), ("1", "-")):
                ax.plot(data["x"], data[f"{kind}_{label}"], style, label=f"y_real = {label}")
            if kind == "grad":
                ax.set_yscale("symlog", linthresh=1.0)
            ax.axhline(0, color="grey", lw=0.5)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"{spec.name}\n({spec.transform}, {spec.generator})", fontsize=9)
            else:
                ax.set_xlabel(f"y_pred: {data['input']}", fontsize=8)
            if col == 0:
                ax.set_ylabel("loss L" if kind == "value" else "dL / d y_pred")
        if col == 0:
            axes[0][0].legend(fontsize=7)
    fig.suptitle(
        title
        or "Each loss (top) and its gradient (bottom) for real (y_real = 1) and "
        "fake (y_real = 0) labels",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return _save(fig, path)


def sample_grids(
    grids: Mapping[str, str],
    path: str | Path,
    *,
    title: str,
    captions: Mapping[str, str] | None = None,
) -> Path:
    """The base64 PNG grids side by side (up to 3 per row), each titled by its loss."""
    plt = _pyplot()
    names = list(grids)
    cols = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols, 4.1 * rows), dpi=110, squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        image = decode_png(grids[name])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_title(f"{name}\n{(captions or {}).get(name, '')}".rstrip(), fontsize=9)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def learning_curves(
    curves: Mapping[str, Mapping[int, Sequence[float]]],
    path: str | Path,
    *,
    ylabel: str,
    title: str,
) -> Path:
    """Per loss, the median over seeds of the metric at each step (a line) and the range from
    the 25th to the 75th percentile (a band); log y, since early metrics are 10x the last."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.4), dpi=120)
    for name, by_step in curves.items():
        steps = sorted(s for s, vs in by_step.items() if _finite(vs))
        if not steps:
            continue
        quartiles = np.array([np.percentile(_finite(by_step[s]), (25, 50, 75)) for s in steps])
        (line,) = ax.plot(steps, quartiles[:, 1], "o-", ms=3, label=name)
        ax.fill_between(steps, quartiles[:, 0], quartiles[:, 2], color=line.get_color(), alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("generator steps")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def interval_panels(
    panels: Mapping[str, Mapping[str, Mapping]],
    path: str | Path,
    *,
    ylabel: str,
    references: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """One panel per setting: per loss its runs (``values``, jittered dots) and ``mean`` with
    the interval ``low``-``high`` (a bar), and each reference value as a labelled dashed line.

    ``panels``: panel title -> loss -> {"values", "mean", "low", "high"}; a loss without a mean
    shows its dots only. ``references``: panel title -> label -> value.
    """
    plt = _pyplot()
    # each panel its own y range: settings differ in difficulty more than losses within one do
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), dpi=120)
    axes = np.atleast_1d(axes)
    labels: list[str] = []  # one colour per reference label across panels
    for k, (ax, (title, rows)) in enumerate(zip(axes, panels.items(), strict=True)):
        rng = np.random.default_rng(k)
        for x, row in enumerate(rows.values()):
            ys = _finite(row["values"])
            ax.scatter(x + rng.uniform(-0.12, 0.12, len(ys)), ys, s=14, alpha=0.6, zorder=3)
            if row.get("mean") is not None:
                below, above = row["mean"] - row["low"], row["high"] - row["mean"]
                ax.errorbar(x, row["mean"], yerr=[[below], [above]], fmt="_", color="black",
                            markersize=16, capsize=4, zorder=4)  # fmt: skip
        for label, value in (references or {}).get(title, {}).items():
            labels += [label] * (label not in labels)
            ax.axhline(value, ls="--", lw=1, color=f"C{6 + labels.index(label)}", label=label)
        ax.set_xticks(range(len(rows)), [shorten(n, 22) for n in rows], rotation=30, ha="right",
                      fontsize=7)  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if labels:
            ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel(ylabel)
    fig.tight_layout()
    return _save(fig, path)


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]
