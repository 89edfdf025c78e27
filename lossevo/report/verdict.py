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
- ``p_worse``, ``p_worse_corrected``: the same test the other way (the candidate is worse,
  ratio > 1), Holm-corrected the same way: a replay asks both questions of each loss;
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

from lossevo.fitness.scores import score_value
from lossevo.report.stats import bootstrap_mean_ci, holm
from lossevo.search.racing_stats import EXACT_SIGN_FLIPS, detectable_ratio, sign_flip_p
from lossevo.util.terminal import for_terminal

#: How a control is named in the sentence ("0.93 x BCE"); other names are used as given.
_LABELS = {"bce": "BCE"}
#: The power the verdict's detectable ratio is quoted at, and the fewest seeds whose spread
#: is measured rather than assumed.
POWER = 0.8
MIN_SEEDS_FOR_SD = 3


def control_label(name: str) -> str:
    """A control as the verdict and the figures name it: ``BCE``, else the name as given."""
    return _LABELS.get(name, name)


def _finite(value: float | None) -> float | None:
    """A fitness usable in a ratio (``fitness.scores.score_value``): None when missing or not
    finite; a perfect 0 (a task scored as 1 - AUROC) floored at ``MIN_SCORE``; a negative one
    refused (ScoreError, a ValueError)."""
    if value is None:
        return None
    score = score_value(value)
    return None if math.isinf(score) else score


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
        "sd_log": None,
        "ratio": None,
        "low": None,
        "high": None,
        "p": None,
        "p_worse": None,
    }
    if not finite:
        return row
    worst = max(finite)
    logs = [
        math.log(worst if c is None else c) - math.log(worst if k is None else k) for c, k in pairs
    ]
    ci = bootstrap_mean_ci(logs, n_resamples=n_boot, confidence=confidence, seed=seed)
    row.update(
        sd_log=float(np.std(logs, ddof=1)) if len(logs) > 1 else None,
        ratio=math.exp(ci["mean"]),
        low=math.exp(ci["low"]),
        high=math.exp(ci["high"]),
        p=sign_flip_p(logs, exact_up_to=EXACT_SIGN_FLIPS, n_random=n_perm, seed=seed),
        p_worse=sign_flip_p(
            [-x for x in logs], exact_up_to=EXACT_SIGN_FLIPS, n_random=n_perm, seed=seed
        ),
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
        low, high = _ratio_text(r["low"]), _ratio_text(r["high"])
        return (
            f"{best} beats {label}: {_ratio_text(r['ratio'])} x {label} ({ci} {low}-{high}, "
            f"corrected p {_p_text(r['p_corrected'])}, {_seeds_text(r['n_seeds'])}){also}."
        )
    best = min(scored, key=lambda n: scored[n]["ratio"])
    r = scored[best]
    low, high = _ratio_text(r["low"]), _ratio_text(r["high"])
    return (
        f"On {_seeds_text(r['n_seeds'])} no candidate beats {label}: the best, {best}, is "
        f"{_ratio_text(r['ratio'])} x {label} ({ci} {low}-{high}, corrected p "
        f"{_p_text(r['p_corrected'])})."
    )


def _ratio_text(ratio: float) -> str:
    """Two decimals, or as many as it takes not to print 1.00 for a ratio that is not 1 (a
    consistent 0.2% gain can be significant: "beats BCE: 1.00 x BCE" would read as a tie)."""
    for digits in (2, 3, 4, 5):
        text = f"{ratio:.{digits}f}"
        if ratio == 1 or text.rstrip("0").rstrip(".") != "1":
            return text
    return f"{ratio:.6g}"


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
    worse = holm([r["p_worse"] for r in rows.values()])
    for name, p, p_worse in zip(rows, holm([r["p"] for r in rows.values()]), worse, strict=True):
        row = rows[name]
        row["p_corrected"], row["p_worse_corrected"] = p, p_worse
        row["beats"] = p is not None and p < alpha and row["ratio"] < 1
        row["collapse_rate"] = _collapse_rate(collapsed.get(name), row["seeds"])
    control_seeds = sorted(control)
    scored = [n for n, r in rows.items() if r["ratio"] is not None]
    winners = sorted((n for n in scored if rows[n]["beats"]), key=lambda n: rows[n]["ratio"])
    label = control_label(control_name)
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
        "power": _measured_power(rows, len(control_seeds), alpha),
    }


def verdict_power(
    n_seeds: int,
    sd_log: float,
    comparisons: int,
    *,
    alpha: float = 0.05,
    power: float = POWER,
    measured: bool = False,
) -> dict:
    """What a verdict on ``n_seeds`` seeds can detect at spread ``sd_log`` (the sd of the
    per-seed log ratios, measured or assumed) among ``comparisons`` candidates: plain data with
    ``detectable_ratio`` (None when those seeds can never show a winner, see
    :func:`lossevo.search.racing_stats.detectable_ratio`). Choose the verdict's defaults with
    it: ``verdict_power(6, 0.2, 3)["detectable_ratio"]`` is about 0.73."""
    return {
        "seeds": n_seeds,
        "sd_log": sd_log,
        "sd_measured": measured,
        "comparisons": comparisons,
        "alpha": alpha,
        "power": power,
        "detectable_ratio": detectable_ratio(
            n_seeds, sd_log, alpha=alpha, power=power, comparisons=comparisons
        ),
        "test": "one-sided, Holm-corrected; paired t approximation of the sign-flip test",
    }


def _measured_power(rows: Mapping[str, dict], n_seeds: int, alpha: float) -> dict | None:
    """:func:`verdict_power` at the pooled sd of the candidates' log ratios, measured on those
    with at least ``MIN_SEEDS_FOR_SD`` seeds; None when none has that many."""
    measured = [
        (r["n_seeds"] - 1, r["sd_log"])
        for r in rows.values()
        if r["sd_log"] is not None and r["n_seeds"] >= MIN_SEEDS_FOR_SD
    ]
    if not measured:
        return None
    pooled = math.sqrt(sum(df * sd**2 for df, sd in measured) / sum(df for df, _ in measured))
    return verdict_power(n_seeds, pooled, len(rows), alpha=alpha, measured=True)


def power_text(power: Mapping) -> str:
    """``With 6 seeds this verdict can detect ratios below 0.75 (80% power, ...)``."""
    where = "measured here" if power["sd_measured"] else "assumed"
    bar = (
        f"{power['power']:.0%} power, one-sided {power['alpha']:g} Holm-corrected over "
        f"{power['comparisons']}; sd of the log ratios {power['sd_log']:.2f}, {where}"
    )
    if power["detectable_ratio"] is None:
        return (
            f"With {power['seeds']} seeds this verdict cannot show a winner at all "
            f"({power['comparisons']} x 2^-{power['seeds']} >= {power['alpha']:g}): "
            f"it needs more seeds."
        )
    return (
        f"With {power['seeds']} seeds this verdict can detect ratios below "
        f"{power['detectable_ratio']:.2f} ({bar})."
    )


def _geometric_mean(values) -> float | None:
    xs = [v for v in (_finite(v) for v in values) if v is not None]
    return float(np.exp(np.mean(np.log(xs)))) if xs else None


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def verdict_text(v: Mapping) -> str:
    """A fixed-width table of :func:`verdict`'s result, best ratio first, then what it can
    detect (:func:`power_text`, with 3 seeds or more) and its sentence, last."""
    control = v["control"]
    rows = v["candidates"]
    order = sorted(rows, key=lambda n: (rows[n]["ratio"] is None, rows[n]["ratio"] or 0.0, n))
    label = control_label(control["name"])
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
    out.append("")
    if v.get("power"):  # what the verdict could see, then its answer (the last line)
        out.append(power_text(v["power"]))
    out.append(for_terminal(v["sentence"]))
    return "\n".join(out)
