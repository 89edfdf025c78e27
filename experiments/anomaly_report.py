"""Does GANetic's anomaly-detection advantage show on real images? MNIST one-vs-rest, per loss.

    lossevo promote experiments/results/demo_search/run --top 2 \\
        --stages experiments/anomaly_mnist.yaml --out experiments/results/anomaly_mnist --workers 2
    python experiments/anomaly_report.py [--out experiments/results/anomaly_mnist]

Each stage of the promotion is one normal digit: f-AnoGAN (``lossevo.fitness.anomaly``) trained
with the loss on that digit's training images, scored by AUROC on the 1,000 test digits (100
normal, 900 anomalies). Per normal digit and loss: mean AUROC over the seeds with a bootstrap
95% CI, beside published MNIST one-class figures of GAN-based detectors
(``experiments/anomaly_published.json``). Pooled over (digit, seed) pairs, each loss against
BCE: the ratio of the ranking error 1 - AUROC (geometric mean of per-pair ratios, bootstrap CI,
one-sided sign-flip tests both ways, Holm over the losses; the replay's quality test) and the
mean AUROC difference with a paired bootstrap CI; then the search's functions against least
squares, their family, the same way. Writes ``anomaly.md``, ``anomaly.json`` and
``fig_auroc.png`` beside the promotion's report; an unfinished promotion is reported on the
pairs every loss has, and says so.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from lossevo.report.figures import interval_panels
from lossevo.report.stats import bootstrap_mean_ci
from lossevo.studies.promote import promotion_results
from lossevo.studies.replay_claims import loss_rows, quality_claim

HERE = Path(__file__).parent
BASELINE = "bce"
FOCUS = "ganetic"
PAIR = 100  # pooled pair key: digit * PAIR + seed
RIVAL = "least_squares"  # the family the search's winners belong to
ORDER = (BASELINE, FOCUS, RIVAL)  # then the search's functions, by formula


def promoted(out: Path) -> tuple[dict[int, dict[str, dict[int, dict]]], dict]:
    """Per normal digit, loss -> seed -> its stored training (fitness 1 - AUROC, metrics), and
    the stored plan."""
    plan = json.loads((out / "config.json").read_text())["plan"]
    stages = promotion_results(out)
    return {
        int(s["task_config"]["normal_label"]): stages.get(s["name"], {}) for s in plan["stages"]
    }, plan


def auroc_of(row: dict, score: str = "auroc_residual") -> float | None:
    """A training's AUROC by ``score``; None when it failed or diverged."""
    value = (row.get("metrics") or {}).get(score)
    return None if value is None or not math.isfinite(value) else float(value)


def ordered(names) -> list[str]:
    """The baselines in ``ORDER``, then the search's functions by formula."""
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def digit_rows(per_loss: dict[str, dict[int, dict]], seeds: list[int]) -> dict[str, dict]:
    """Per loss on one normal digit: mean AUROC with its bootstrap 95% CI, sd, D-score AUROC."""
    rows = {}
    for name in ordered(per_loss):
        by_seed = per_loss[name]
        values = [auroc_of(by_seed[s]) for s in seeds]
        finite = [v for v in values if v is not None]
        ci = bootstrap_mean_ci(finite)
        d_scores = [auroc_of(by_seed[s], "auroc_discriminator") for s in seeds]
        rows[name] = {
            "auroc": values,
            "mean": ci["mean"],
            "low": ci["low"],
            "high": ci["high"],
            "sd": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
            "failed": len(values) - len(finite),
            "worst": min(finite) if finite else None,
            "below_chance": sum(v < 0.5 for v in finite),
            "d_score_mean": float(np.mean([v for v in d_scores if v is not None] or [np.nan])),
            "seconds_mean": float(np.mean([by_seed[s]["seconds"] or np.nan for s in seeds])),
        }
    return rows


def pooled(
    results: dict[int, dict[str, dict[int, dict]]],
    seeds: dict[int, list[int]],
    baseline: str = BASELINE,
    losses: set[str] | None = None,
) -> dict:
    """Each loss (of ``losses``, default all) against ``baseline`` over every (digit, seed)
    pair: the ratio of 1 - AUROC with its CI and Holm p both ways (``loss_rows``), and the mean
    AUROC difference with a paired CI."""
    by_loss: dict[str, list[dict]] = {}
    for digit, per_loss in results.items():
        for name in ordered(n for n in per_loss if losses is None or n in losses | {baseline}):
            by_seed = per_loss[name]
            by_loss.setdefault(name, []).extend(
                {**by_seed[s], "seed": digit * PAIR + s} for s in seeds[digit]
            )
    rows = loss_rows(by_loss, baseline)
    base = {r["seed"]: auroc_of(r) for r in by_loss[baseline]}
    for name, rs in by_loss.items():
        diffs = [
            a - base[r["seed"]]
            for r in rs
            if (a := auroc_of(r)) is not None and base[r["seed"]] is not None
        ]
        ci = bootstrap_mean_ci(diffs)
        rows[name].update(
            auroc_diff=ci["mean"], auroc_diff_low=ci["low"], auroc_diff_high=ci["high"]
        )
    return rows


def _cell(mean: float | None, low: float | None, high: float | None, digits: int = 3) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def digit_section(digit: int, rows: dict[str, dict], methods: dict) -> list[str]:
    """Markdown for one normal digit: each loss's AUROC, then the published figures."""
    lines = [
        f"## Normal digit {digit}",
        "",
        "| loss | AUROC [95% CI] | sd | worst seed | below chance | AUROC of -D(x) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        sd, worst = ("n/a" if v is None else f"{v:.3f}" for v in (r["sd"], r["worst"]))
        lines.append(
            f"| `{name}` | {_cell(r['mean'], r['low'], r['high'])} | {sd} | {worst} | "
            f"{r['below_chance']} of {len(r['auroc'])} ({r['failed']} failed) | "
            f"{r['d_score_mean']:.3f} |"
        )
    for method, entry in methods.items():
        if (value := entry["auroc"].get(str(digit))) is not None:
            lines.append(f"| {method}, published [{entry['cite']}] | {value:.3f} | | | | |")
    return [*lines, ""]


def pooled_section(rows: dict[str, dict], n_pairs: int, baseline: str = BASELINE) -> list[str]:
    """Markdown for each loss against ``baseline`` over all (digit, seed) pairs."""
    lines = [
        f"## Each loss against {baseline}, pooled over {n_pairs} (digit, seed) pairs",
        "",
        f"Error ratio: the geometric mean over pairs of (1 - AUROC) / (1 - AUROC of {baseline}); "
        "below 1 is better. One-sided sign-flip tests, Holm-corrected over the losses. ΔAUROC: "
        f"the mean paired difference to {baseline}, with a bootstrap 95% CI.",
        "",
        "| loss | error ratio [95% CI] | Holm p better | Holm p worse | ΔAUROC [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        if name == baseline:
            continue
        p, worse = (f"{v:.3g}" if v is not None else "" for v in (r["p_better"], r["p_worse"]))
        ratio = _cell(r["ratio"], r["ratio_low"], r["ratio_high"], 2)
        diff = _cell(r["auroc_diff"], r["auroc_diff_low"], r["auroc_diff_high"], 3)
        lines.append(f"| `{name}` | {ratio} | {p} | {worse} | {diff} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "anomaly_mnist")
    parser.add_argument("--published", type=Path, default=HERE / "anomaly_published.json")
    args = parser.parse_args()
    results, plan = promoted(args.out)
    methods = json.loads(args.published.read_text())["methods"]
    seeds = {
        digit: sorted(set.intersection(*(set(v) for v in per_loss.values())))
        for digit, per_loss in results.items()
        if per_loss
    }
    results = {d: results[d] for d in seeds}
    done, total = sum(len(s) for s in seeds.values()), sum(s["seeds"] for s in plan["stages"])
    status = (
        ""
        if done >= total
        else f"\n\nIncomplete: {done} of {total} (digit, seed) pairs for every loss; resume the "
        "promotion (the same `lossevo promote` command) to finish, then run this again."
    )
    per_digit = {d: digit_rows(results[d], seeds[d]) for d in sorted(results)}
    rows = pooled(results, seeds)
    claim = quality_claim(rows, FOCUS, BASELINE).replace("Quality:", "Anomaly detection:", 1)
    lines = [
        "# Anomaly detection on real images: MNIST one-vs-rest, per loss" + status,
        "",
        "f-AnoGAN trained with each loss on the training images of one normal digit (offline "
        "MNIST: 400 per digit); AUROC of the izi_f residual on the 1,000 test digits (100 "
        "normal, 900 anomalies). Seeds per digit: "
        + ", ".join(f"{d}: {s[0]}-{s[-1]}" for d, s in seeds.items())
        + ". Mean over seeds with a bootstrap 95% CI.",
        "",
    ]
    for digit, drows in per_digit.items():
        lines += digit_section(digit, drows, methods)
    lines += pooled_section(rows, done)
    evolved = {n for n in rows if n not in ORDER}
    against_ls = pooled(results, seeds, baseline=RIVAL, losses=evolved)
    lines += pooled_section(against_ls, done, baseline=RIVAL)
    lines += [f"**GANetic's anomaly claim, the metric being 1 - AUROC:** {claim}", ""]
    lines += ["## Published figures", ""]
    lines += [f"- [{e['cite']}] {e['source']}. {e['note']}" for e in methods.values()]
    (args.out / "anomaly.md").write_text("\n".join(lines) + "\n")
    data = {
        "seeds": seeds,
        "per_digit": per_digit,
        "pooled": rows,
        "evolved_against_least_squares": against_ls,
        "ganetic_claim": claim,
    }
    (args.out / "anomaly.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    interval_panels(
        {f"normal digit {d}": {n: {**r, "values": r["auroc"]} for n, r in drows.items()}
         for d, drows in per_digit.items()},
        args.out / "fig_auroc.png",
        ylabel="AUROC (f-AnoGAN residual): seeds, mean, 95% CI",
        references={f"normal digit {d}": {f"{m} (published)": e["auroc"][str(d)]
                    for m, e in methods.items() if str(d) in e["auroc"]} for d in per_digit},
    )  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
