"""Statistics for comparing losses across runs: summaries, two-sample tests, bootstrap CIs, Holm.

The GANetic claim is about the distribution of a metric across runs (mean and spread), so a
comparison needs more than two means: a rank test that does not assume normality (Mann-Whitney
U) and a bootstrap confidence interval of the mean difference. Everything here is a pure function
of lists of numbers; degenerate inputs (one run, identical values, no runs) give a result with a
``note`` saying why it is degenerate, never an exception or a silent NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lossevo.fitness.seeds import finite_values, summarize
from lossevo.util.fmt import fmt_number

__all__ = ["summarize"]  # the one summary over seeds, shared with the search and promote


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> dict:
    """Two-sided Mann-Whitney U test of ``a`` against ``b`` (``scipy.stats.mannwhitneyu``).

    Returns ``{"u", "p", "n_a", "n_b", "method", "note"}``; ``u`` is the statistic of ``a``
    (how many (a_i, b_j) pairs have a_i > b_j, ties counting one half). With an empty sample
    ``u`` and ``p`` are None; when every value is equal the samples are indistinguishable and
    ``p`` is 1.0 (scipy's normal approximation would divide by a zero variance).
    """
    from scipy.stats import mannwhitneyu

    xs, ys = finite_values(a), finite_values(b)
    out = {"u": None, "p": None, "n_a": len(xs), "n_b": len(ys), "method": None, "note": ""}
    if not xs or not ys:
        out["note"] = "no test: a sample is empty"
        return out
    if len(set(xs) | set(ys)) == 1:
        out.update(u=len(xs) * len(ys) / 2, p=1.0, method="degenerate", note="all values are equal")
        return out
    # Exact null distribution without ties (cheap at these sizes: 25 vs 25 takes ~10 ms);
    # with ties, the normal approximation with scipy's tie correction.
    method = "exact" if len(set(xs + ys)) == len(xs + ys) else "asymptotic"
    result = mannwhitneyu(xs, ys, alternative="two-sided", method=method)
    out.update(u=float(result.statistic), p=float(result.pvalue), method=method)
    if min(len(xs), len(ys)) < 3:
        out["note"] = "too few runs for a small p-value"
    return out


def _check_bootstrap(n_resamples: int, confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")


def _resampled_means(xs: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_resamples`` resamples of ``xs`` with replacement, each of its size."""
    return xs[rng.integers(0, xs.size, size=(n_resamples, xs.size))].mean(axis=1)


def _percentile_interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` percentile interval of bootstrap statistics."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(
    values: Sequence[float],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Percentile bootstrap CI of mean(values), resampling the values (one sample).

    For paired data pass the per-pair differences (or log ratios): resampling them resamples
    whole pairs. Seeded like :func:`bootstrap_mean_diff`. Returns ``{"mean", "low", "high",
    "confidence", "n_resamples", "note"}``; an empty sample gives None throughout, one value an
    interval of width 0 (noted).
    """
    _check_bootstrap(n_resamples, confidence)
    xs = np.asarray(finite_values(values))
    out = {
        "mean": None,
        "low": None,
        "high": None,
        "confidence": confidence,
        "n_resamples": n_resamples,
        "note": "",
    }
    if xs.size == 0:
        out["note"] = "no interval: the sample is empty"
        return out
    rng = np.random.default_rng(seed)
    low, high = _percentile_interval(_resampled_means(xs, n_resamples, rng), confidence)
    out.update(mean=float(xs.mean()), low=low, high=high)
    if xs.size < 2:
        out["note"] = "one value: the interval ignores its spread"
    return out


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the input's order, over all ``len(pvalues)`` tests.

    A missing p-value (None: a comparison that could not be tested) counts as a test with
    p = 1, so leaving a loss untested never makes the others look stronger; it stays None.
    Adjusted: sort ascending, ``p_(i) * (m - i)`` (i from 0), running maximum, capped at 1.
    """
    m = len(pvalues)
    filled = [1.0 if p is None else float(p) for p in pvalues]
    order = sorted(range(m), key=lambda i: filled[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, filled[i] * (m - rank)))
        adjusted[i] = running
    return [None if p is None else a for p, a in zip(pvalues, adjusted, strict=True)]


def bootstrap_mean_diff(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Percentile bootstrap CI of mean(a) - mean(b), resampling each sample independently.

    Seeded (numpy ``default_rng(seed)``), so a report is reproducible. Returns ``{"diff",
    "low", "high", "confidence", "n_resamples", "note"}``. A sample of one run contributes no
    resampling spread (noted); an empty sample gives None throughout.
    """
    _check_bootstrap(n_resamples, confidence)
    xs, ys = np.asarray(finite_values(a)), np.asarray(finite_values(b))
    out = {
        "diff": None,
        "low": None,
        "high": None,
        "confidence": confidence,
        "n_resamples": n_resamples,
        "note": "",
    }
    if xs.size == 0 or ys.size == 0:
        out["note"] = "no interval: a sample is empty"
        return out
    rng = np.random.default_rng(seed)
    diffs = _resampled_means(xs, n_resamples, rng) - _resampled_means(ys, n_resamples, rng)
    low, high = _percentile_interval(diffs, confidence)
    out.update(diff=float(xs.mean() - ys.mean()), low=float(low), high=float(high))
    if min(xs.size, ys.size) < 2:
        out["note"] = "one run in a sample: the interval ignores its run-to-run spread"
    return out


def compare(values: Sequence[float], baseline: Sequence[float], **bootstrap_options) -> dict:
    """Both tests of ``values`` against ``baseline``: ``{"mann_whitney", "bootstrap"}``."""
    return {
        "mann_whitney": mann_whitney(values, baseline),
        "bootstrap": bootstrap_mean_diff(values, baseline, **bootstrap_options),
    }


def comparison_rows(
    values: Mapping[str, Sequence[float | None]], baseline: str, **bootstrap_options
) -> dict[str, dict]:
    """Per loss: :func:`summarize` of its finite values plus ``runs`` (all, None included),
    and against ``baseline`` the Mann-Whitney p and the bootstrap CI of the mean difference
    (``p``, ``diff``, ``low``, ``high``, ``test_note``; None for the baseline itself)."""
    rows = {}
    base = values.get(baseline, [])
    for name, vals in values.items():
        row = {
            **summarize(vals),
            "runs": len(vals),
            "p": None,
            "diff": None,
            "low": None,
            "high": None,
            "test_note": "",
        }
        if name != baseline:
            test = compare(vals, base, **bootstrap_options)
            mw, boot = test["mann_whitney"], test["bootstrap"]
            notes = [n for n in (mw["note"], boot["note"]) if n]
            row.update(
                p=mw["p"],
                diff=boot["diff"],
                low=boot["low"],
                high=boot["high"],
                test_note="; ".join(notes),
            )
        rows[name] = row
    return rows


def _g(value: float | None) -> str:
    return fmt_number(value, empty="n/a")


def _rank(rows: Mapping[str, dict], name: str, key: str) -> int | None:
    scored = sorted((r[key], n) for n, r in rows.items() if r[key] is not None)
    return next((i for i, (_, n) in enumerate(scored, 1) if n == name), None)


def _against_baseline(rows: Mapping[str, dict], focus: str, baseline: str, alpha: float) -> str:
    """One sentence: the focus loss's spread and mean against the baseline's, with the tests."""
    f, b = rows[focus], rows[baseline]
    if f["mean"] is None or b["mean"] is None:
        return f"{focus} or {baseline} has no finished run, so they cannot be compared."

    def compared(x: float, y: float) -> str:
        return "lower" if x < y else "higher" if x > y else "equal"

    sig = (
        "significant" if f["p"] is not None and f["p"] < alpha else "not significant"
    ) + f" at {alpha:g}"
    ci = "n/a" if f["low"] is None else f"[{_g(f['low'])}, {_g(f['high'])}]"
    excludes = f["low"] is not None and (f["low"] > 0 or f["high"] < 0)
    return (
        f"{focus}'s std across runs is {_g(f['std'])} vs {baseline}'s {_g(b['std'])} "
        f"({compared(f['std'], b['std'])}); its mean is {_g(f['mean'])} vs {_g(b['mean'])} "
        f"({compared(f['mean'], b['mean'])}; Mann-Whitney p = {_g(f['p'])}, {sig}; bootstrap "
        f"95% CI of the mean difference {ci}, which {'excludes' if excludes else 'includes'} 0)."
    )


def finding(
    rows: Mapping[str, dict], baseline: str, focus: str | None = None, alpha: float = 0.05
) -> list[str]:
    """The comparison in plain words, computed from ``rows`` (:func:`comparison_rows`).

    ``focus`` is the loss a published claim is about (GANetic in its table), and only then is
    the published pattern checked; without it, the comparison is about the non-baseline loss
    with the lowest mean. Lower metric values are better.
    """
    scored = {n: r for n, r in rows.items() if r["mean"] is not None}
    out: list[str] = []
    claim = focus if focus in rows else None
    if claim is None:
        others = [n for n in scored if n != baseline]
        focus = min(others, key=lambda n: scored[n]["mean"]) if others else None
    if focus is not None and baseline in rows:
        out.append(_against_baseline(rows, focus, baseline, alpha))
    if scored:
        best_mean = min(scored, key=lambda n: scored[n]["mean"])
        best_std = min(scored, key=lambda n: scored[n]["std"])
        out.append(
            f"Lowest mean: {best_mean} ({_g(scored[best_mean]['mean'])}); lowest std: "
            f"{best_std} ({_g(scored[best_std]['std'])})."
        )
        if claim is not None and claim in scored:
            rm, rs = _rank(scored, focus, "mean"), _rank(scored, focus, "std")
            holds = "holds" if rm == 1 and rs == 1 else "does not hold"
            out.append(
                f"The published pattern ({focus} lowest in both mean and spread) "
                f"{holds} here: {focus} ranks {rm} of {len(scored)} by mean and {rs} "
                f"of {len(scored)} by std."
            )
    bad = {n: r["runs"] - r["n"] for n, r in rows.items() if r["runs"] - r["n"]}
    out.append(
        "Runs that diverged or failed (not scored): "
        + ", ".join(f"{n} {k}/{rows[n]['runs']}" for n, k in bad.items())
        + "."
        if bad
        else "No run diverged or failed."
    )
    fewest = min((r["runs"] for r in rows.values()), default=0)
    if fewest < 5:
        out.append(
            f"With {fewest} runs per loss these tests have little power; read them as "
            f"indications, not evidence."
        )
    out.append("The p-values are not corrected for comparing several losses with the baseline.")
    return out
