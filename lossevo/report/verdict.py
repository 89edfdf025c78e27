"""The verdict on fresh seeds: does any candidate beat the control, by how much, how surely.

A search picks its winners on the seeds it trained them on, so their fitness there is biased
low (the winner's curse). The verdict trains the finalists and the control (BCE) again on
seeds the search never used and asks one question, answered in one sentence.

Per candidate, on the seeds it shares with the control (seed ``s`` is the same initial weights
and data order for every loss, so seeds are paired):

- ``ratio``: geometric mean of the per-seed ratios candidate / control ("0.82 x BCE"), with a
  percentile bootstrap CI that resamples seeds (:func:`lossevo.report.stats.bootstrap_mean_ci`
  on the log ratios);
- ``p``: one-sided sign-flip permutation p-value that the candidate is better (ratio < 1), on
  the log ratios (:func:`lossevo.search.racing_stats.sign_flip_p`: exact up to 16 seeds, else
  seeded Monte Carlo); it assumes nothing about the shape of FID's spread, but cannot go below
  ``2**-n``: with 4 seeds or fewer nothing can beat the control at 0.05;
- ``p_corrected``: Holm-corrected over all candidates (an untestable one counts as p = 1), so
  bringing more finalists to the verdict does not make a lucky one look better;
- ``beats``: ``p_corrected < alpha``;
- ``collapse_rate``: the share of its seeds flagged collapsed (None without flags);
- ``failed_seeds``: seeds that diverged or failed (None or non-finite fitness). **A failed seed
  counts as the worst outcome**: its fitness is taken as the worst finite fitness that the
  candidate or the control reached on any seed of the comparison, so a diverged run never
  helps the loss that diverged (a candidate that fails where the control does not gets a
  ratio >= 1 there; both failing is a tie). A pair with no finite value at all is untestable.

Everything returned is plain JSON (floats, ints, strings, lists, None).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from lossevo.report.stats import bootstrap_mean_ci, holm
from lossevo.search.racing_stats import EXACT_SIGN_FLIPS, sign_flip_p
from lossevo.util.terminal import for_terminal

#: How a control is named in the sentence ("0.93 x BCE"); other names are used as given.
_LABELS = {"bce": "BCE"}


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    if float(value) <= 0:
        raise ValueError(f"fitness must be positive for a ratio, got {value!r}")
    return float(value)


def _collapse_rate(flags: Mapping[int, bool] | None, seeds: list[int]) -> float | None:
    """Share of ``seeds`` flagged collapsed, over the seeds that have a flag."""
    if not flags:
        return None
    known = [bool(flags[s]) for s in seeds if s in flags]
    return sum(known) / len(known) if known else None


def _compare(
    values: Mapping[int, float | None],
    control: Mapping[int, float | None],
    *,
    n_boot: int,
    n_perm: int,
    seed: int,
    confidence: float,
) -> dict:
    """One candidate against the control on their shared seeds, failed seeds at worst."""
    seeds = sorted(values.keys() & control.keys())
    pairs = [(_finite(values[s]), _finite(control[s])) for s in seeds]
    finite = [v for pair in pairs for v in pair if v is not None]
    row = {
        "n_seeds": len(seeds),
        "seeds": [int(s) for s in seeds],
        "failed_seeds": sum(c is None for c, _ in pairs),
        "ratio": None,
        "low": None,
        "high": None,
        "p": None,
    }
    if not finite:
        return row
    worst = max(finite)
    logs = [
        math.log(worst if c is None else c) - math.log(worst if k is None else k) for c, k in pairs
    ]
    ci = bootstrap_mean_ci(logs, n_resamples=n_boot, confidence=confidence, seed=seed)
    row.update(
        ratio=math.exp(ci["mean"]),
        low=math.exp(ci["low"]),
        high=math.exp(ci["high"]),
        p=sign_flip_p(logs, exact_up_to=EXACT_SIGN_FLIPS, n_random=n_perm, seed=seed),
    )
    return row


def _p(p: float | None) -> str:
    """``0.41``, ``0.05``, ``0.012``, ``0.0039``; ``<0.001`` below that; ``-`` when untested."""
    if p is None:
        return "-"
    if p < 0.001:
        return "<0.001"
    return f"{p:.2f}" if p >= 0.1 else f"{p:.2g}"


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {_p(p)}"


def _seeds_text(n: int) -> str:
    return f"{n} fresh seed" + ("" if n == 1 else "s")


def _sentence(rows: Mapping[str, dict], label: str, confidence: float) -> str:
    scored = {n: r for n, r in rows.items() if r["ratio"] is not None}
    ci = f"{confidence:.0%} CI"
    if not scored:
        if not rows:
            return f"No candidate was brought to the verdict against {label}."
        return f"No candidate can be compared with {label}: no seed has a result for both."
    winners = sorted((n for n, r in scored.items() if r["beats"]), key=lambda n: scored[n]["ratio"])
    if winners:
        best = winners[0]
        r = scored[best]
        others = winners[1:]
        also = ""
        if others:
            also = "; so " + ("does " if len(others) == 1 else "do ") + ", ".join(others)
        return (
            f"{best} beats {label}: {r['ratio']:.2f} x {label} ({ci} {r['low']:.2f}-"
            f"{r['high']:.2f}, corrected p {_p_text(r['p_corrected'])}, "
            f"{_seeds_text(r['n_seeds'])}){also}."
        )
    best = min(scored, key=lambda n: scored[n]["ratio"])
    r = scored[best]
    return (
        f"On {_seeds_text(r['n_seeds'])} no candidate beats {label}: the best, {best}, is "
        f"{r['ratio']:.2f} x {label} ({ci} {r['low']:.2f}-{r['high']:.2f}, corrected p "
        f"{_p_text(r['p_corrected'])})."
    )


def verdict(
    candidates: Mapping[str, Mapping[int, float | None]],
    control: Mapping[int, float | None],
    *,
    control_name: str = "bce",
    collapsed: Mapping[str, Mapping[int, bool]] | None = None,
    n_boot: int = 10_000,
    n_perm: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> dict:
    """The verdict of ``candidates`` against ``control`` on fresh seeds (see the module doc).

    ``candidates``: loss name -> {seed: fitness or None}; ``control``: {seed: fitness or None};
    ``collapsed``: loss name (the control under ``control_name``) -> {seed: collapsed?}.
    ``seed`` fixes the bootstrap and (above 16 seeds) the permutation draws, so a verdict is
    reproducible. Returns ``{"control": {...}, "candidates": {name: {...}}, "best", "winners",
    "alpha", "confidence", "n_boot", "seed", "correction", "failed_as", "sentence"}``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if control_name in candidates:
        raise ValueError(f"{control_name!r} is the control: it cannot also be a candidate")
    collapsed = collapsed or {}
    rows = {
        name: _compare(
            values, control, n_boot=n_boot, n_perm=n_perm, seed=seed, confidence=confidence
        )
        for name, values in candidates.items()
    }
    for name, p in zip(rows, holm([r["p"] for r in rows.values()]), strict=True):
        row = rows[name]
        row["p_corrected"] = p
        row["beats"] = p is not None and p < alpha and row["ratio"] < 1
        row["collapse_rate"] = _collapse_rate(collapsed.get(name), row["seeds"])
    control_seeds = sorted(control)
    scored = [n for n, r in rows.items() if r["ratio"] is not None]
    winners = sorted((n for n in scored if rows[n]["beats"]), key=lambda n: rows[n]["ratio"])
    label = _LABELS.get(control_name, control_name)
    return {
        "control": {
            "name": control_name,
            "n_seeds": len(control_seeds),
            "failed_seeds": sum(_finite(control[s]) is None for s in control_seeds),
            "collapse_rate": _collapse_rate(collapsed.get(control_name), control_seeds),
            "geometric_mean": _geometric_mean(control.values()),
        },
        "candidates": rows,
        "best": min(scored, key=lambda n: rows[n]["ratio"]) if scored else None,
        "winners": winners,
        "alpha": alpha,
        "confidence": confidence,
        "n_boot": n_boot,
        "seed": seed,
        "correction": f"holm over {len(rows)} candidates",
        "failed_as": "worst finite fitness of the candidate or the control",
        "sentence": _sentence(rows, label, confidence),
    }


def _geometric_mean(values) -> float | None:
    xs = [v for v in (_finite(v) for v in values) if v is not None]
    return float(np.exp(np.mean(np.log(xs)))) if xs else None


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def verdict_text(v: Mapping) -> str:
    """A fixed-width table of :func:`verdict`'s result, best ratio first, then its sentence."""
    control = v["control"]
    rows = v["candidates"]
    order = sorted(rows, key=lambda n: (rows[n]["ratio"] is None, rows[n]["ratio"] or 0.0, n))
    label = _LABELS.get(control["name"], control["name"])
    names = [control["name"], *order]
    width = max(len("loss"), *(len(for_terminal(n)) for n in names))
    header = (
        f"{'loss':<{width}}  {'x ' + label:>8}  {'95% CI':>11}  {'p (Holm)':>8}  "
        f"{'seeds':>5}  {'failed':>6}  {'collapsed':>9}"
    )

    def line(name, ratio, ci, p, n, failed, collapse) -> str:
        return (
            f"{for_terminal(name):<{width}}  {ratio:>8}  {ci:>11}  {p:>8}  {n:>5}  "
            f"{failed:>6}  {collapse:>9}"
        )

    out = [
        header,
        line(
            control["name"],
            "1.00",
            "",
            "",
            control["n_seeds"],
            control["failed_seeds"],
            _cell(control["collapse_rate"], ".0%"),
        ),
    ]
    for name in order:
        r = rows[name]
        ci = "-" if r["low"] is None else f"{r['low']:.2f}-{r['high']:.2f}"
        p = _p(r["p_corrected"]) + (" *" if r["beats"] else "")
        out.append(
            line(
                name,
                _cell(r["ratio"], ".2f"),
                ci,
                p,
                r["n_seeds"],
                r["failed_seeds"],
                _cell(r["collapse_rate"], ".0%"),
            )
        )
    out += ["", for_terminal(v["sentence"])]
    return "\n".join(out)
