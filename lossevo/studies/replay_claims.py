"""What a replay says about each loss against the baseline, and about a published loss's claims.

Seeds are paired: seed ``s`` is the same initial weights and data order for every loss. Per loss:

- **quality**: the ratio to the baseline (geometric mean of per-seed ratios) with a bootstrap 95%
  CI, and one-sided sign-flip tests in both directions (better, worse), each Holm-corrected
  across the losses (:func:`lossevo.report.verdict.verdict`, failed seeds counted at worst);
- **stability**: the sd of log metric across seeds, and a paired bootstrap 95% CI of its ratio
  to the baseline's (resampling seeds, so both sds see the same seeds);
- the collapse rate and the classes the samples cover.

A published claim (the focus loss has better quality; it trains more stably) is *confirmed* when
its test says so at ``alpha``, *refuted* when the test in the other direction does, and otherwise
*undetermined*, with the number of seeds that would settle it at the measured spread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from lossevo.fitness.scores import collapsed, finite_or_none
from lossevo.report.verdict import POWER, control_label, verdict
from lossevo.search.racing_stats import power_seeds

ALPHA = 0.05
N_BOOT = 10_000
#: What :func:`loss_rows` adds to a replay's table.csv, beside the per-loss summary.
COLUMNS = (
    "ratio",
    "ratio_low",
    "ratio_high",
    "sd_log_ratio",
    "paired_seeds",
    "p_better",
    "p_worse",
    "sd_log",
    "sd_ratio",
    "sd_ratio_low",
    "sd_ratio_high",
    "collapse_rate",
    "classes_min",
    "classes_mean",
)


def seed_values(rows: Sequence[Mapping]) -> dict[int, float | None]:
    """Seed -> the training's score (None: diverged or failed)."""
    return {int(r["seed"]): finite_or_none(r) for r in rows}


def _collapse_flags(rows: Sequence[Mapping]) -> dict[int, bool]:
    flags = {int(r["seed"]): collapsed(r.get("metrics")) for r in rows}
    return {seed: flag for seed, flag in flags.items() if flag is not None}


def _classes(rows: Sequence[Mapping]) -> list[int]:
    return [
        int(r["metrics"]["classes_covered"])
        for r in rows
        if (r.get("metrics") or {}).get("classes_covered") is not None
    ]


def _sd_log(values: Sequence[float]) -> float | None:
    logs = [math.log(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    return float(np.std(logs, ddof=1)) if len(logs) >= 2 else None


def sd_ratio_ci(
    values: Mapping[int, float | None],
    baseline: Mapping[int, float | None],
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict:
    """``sd_log(values) / sd_log(baseline)`` on the seeds where both are finite, with a paired
    percentile bootstrap CI (seeds resampled together; resamples with a zero sd are skipped)."""
    shared = [s for s in sorted(values.keys() & baseline.keys()) if values[s] and baseline[s]]
    shared = [s for s in shared if math.isfinite(values[s]) and math.isfinite(baseline[s])]
    out = {"n_seeds": len(shared), "ratio": None, "low": None, "high": None}
    if len(shared) < 3:
        return out
    a = np.log([values[s] for s in shared])
    b = np.log([baseline[s] for s in shared])
    if np.std(b, ddof=1) == 0:
        return out
    out["ratio"] = float(np.std(a, ddof=1) / np.std(b, ddof=1))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(shared), size=(n_boot, len(shared)))
    sd_a, sd_b = np.std(a[picks], axis=1, ddof=1), np.std(b[picks], axis=1, ddof=1)
    ratios = sd_a[sd_b > 0] / sd_b[sd_b > 0]
    tail = 100 * (1 - confidence) / 2
    out["low"], out["high"] = (float(np.percentile(ratios, q)) for q in (tail, 100 - tail))
    return out


def loss_rows(results: Mapping[str, Sequence[Mapping]], baseline: str) -> dict[str, dict]:
    """Per loss (the baseline included, untested): quality, stability, collapse and classes."""
    values = {name: seed_values(rows) for name, rows in results.items()}
    flags = {name: _collapse_flags(rows) for name, rows in results.items()}
    others = {name: v for name, v in values.items() if name != baseline}
    judged = verdict(
        others, values[baseline], control_name=baseline, collapsed=flags, n_boot=N_BOOT
    )
    rows = {}
    for name, rs in results.items():
        quality = judged["candidates"].get(name, {})
        classes = _classes(rs)
        rows[name] = {
            "loss": name,
            "runs": len(rs),
            "ratio": quality.get("ratio"),
            "ratio_low": quality.get("low"),
            "ratio_high": quality.get("high"),
            "sd_log_ratio": quality.get("sd_log"),
            "paired_seeds": quality.get("n_seeds"),
            "p_better": quality.get("p_corrected"),
            "p_worse": quality.get("p_worse_corrected"),
            "sd_log": _sd_log(list(values[name].values())),
            **_sd_ratio_columns(values[name], values[baseline], name == baseline),
            "collapse_rate": (judged["control"] if name == baseline else quality).get(
                "collapse_rate"
            ),
            "classes_min": min(classes) if classes else None,
            "classes_mean": float(np.mean(classes)) if classes else None,
        }
    return rows


def _sd_ratio_columns(values: Mapping, baseline: Mapping, is_baseline: bool) -> dict:
    ci = {} if is_baseline else sd_ratio_ci(values, baseline)
    return {
        "sd_ratio": ci.get("ratio"),
        "sd_ratio_low": ci.get("low"),
        "sd_ratio_high": ci.get("high"),
    }


def quality_seeds(ratio: float | None, sd_log_ratio: float | None) -> int | None:
    """Paired seeds that detect ``ratio`` at ``sd_log_ratio`` (80% power, two-sided 0.05);
    None when either is unknown or the ratio is exactly 1."""
    if ratio is None or not sd_log_ratio or ratio == 1:
        return None
    return power_seeds(sd_log_ratio, effect=1 - min(ratio, 1 / ratio), paired=True, power=POWER)


def stability_seeds(sd_ratio: float | None, alpha: float = ALPHA) -> int | None:
    """Seeds per loss that tell an sd ratio ``sd_ratio`` from 1 (80% power, two-sided
    ``alpha``), from var(log sd) ~ 1 / (2 (n - 1)) per loss for normal log metrics; pairing
    is ignored, so this errs on the side of more seeds."""
    if not sd_ratio or sd_ratio == 1:
        return None
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(POWER)
    return 1 + math.ceil((z / abs(math.log(sd_ratio))) ** 2)


def quality_claim(rows: Mapping[str, dict], focus: str, baseline: str) -> str:
    """One sentence: does ``focus`` reach a lower metric than ``baseline``?"""
    r, label = rows[focus], control_label(baseline)
    if r["ratio"] is None:
        return f"Quality: undetermined; {focus} has no seed with a result beside {label}'s."
    measured = (
        f"{r['ratio']:.2f} x {label} (95% CI {r['ratio_low']:.2f}-{r['ratio_high']:.2f}, "
        f"{r['paired_seeds']} paired seeds"
    )
    if r["p_better"] is not None and r["p_better"] < ALPHA and r["ratio"] < 1:
        return f"Quality: confirmed. {focus} is {measured}, Holm p = {r['p_better']:.2g})."
    if r["p_worse"] is not None and r["p_worse"] < ALPHA and r["ratio"] > 1:
        return (
            f"Quality: refuted. {focus} is worse: {measured}, Holm p = {r['p_worse']:.2g} "
            f"that it is worse)."
        )
    seeds = quality_seeds(r["ratio"], r["sd_log_ratio"])
    if seeds:
        settle = (
            f"about {seeds} paired seeds would settle a ratio of {r['ratio']:.2f} at the measured "
            f"sd of per-seed log ratios ({r['sd_log_ratio']:.2f}; 80% power, two-sided 0.05)"
        )
    elif not r["sd_log_ratio"]:
        settle = "the seeds needed are unknown: one paired seed (or identical ratios) has no spread"
    else:
        settle = "no number of seeds would: the measured ratio is 1"
    return (
        f"Quality: undetermined. {focus} is {measured}; Holm p = {r['p_better']:.2g} better, "
        f"{r['p_worse']:.2g} worse); {settle}."
    )


def stability_claim(rows: Mapping[str, dict], focus: str, baseline: str) -> str:
    """One sentence: is ``focus``'s metric less spread across seeds than ``baseline``'s?"""
    r, label = rows[focus], control_label(baseline)
    if r.get("sd_ratio") is None:
        return f"Stability: undetermined; too few seeds with results for {focus} and {label}."
    measured = (
        f"the sd of log metric across seeds is {r['sd_ratio']:.2f} x {label}'s "
        f"(95% CI {r['sd_ratio_low']:.2f}-{r['sd_ratio_high']:.2f}; {r['sd_log']:.2f} against "
        f"{rows[baseline]['sd_log']:.2f}; collapse rate {_rate(r['collapse_rate'])} against "
        f"{_rate(rows[baseline]['collapse_rate'])})"
    )
    if r["sd_ratio_high"] < 1:
        return f"Stability: confirmed. For {focus} {measured}."
    if r["sd_ratio_low"] > 1:
        return f"Stability: refuted. {focus} is less stable: {measured}."
    seeds = stability_seeds(r["sd_ratio"])
    settle = (
        f"about {seeds} seeds per loss would tell an sd ratio of {r['sd_ratio']:.2f} from 1 "
        f"(80% power, two-sided 0.05)"
        if seeds
        else "no number of seeds would: the measured ratio is 1"
    )
    return f"Stability: undetermined. For {focus} {measured}; {settle}."


def _rate(rate: float | None) -> str:
    return "unmeasured" if rate is None else f"{rate:.0%}"
