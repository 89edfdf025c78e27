"""Does the demonstration's ranking on the 8x8 CPU target carry over to MNIST 28x28?

    lossevo promote experiments/results/demo_search/run --top 3 \\
        --stages experiments/transfer_mnist28.yaml --out experiments/results/transfer_mnist28
    python experiments/transfer_report.py [--out experiments/results/transfer_mnist28]

Per loss: its ratio to BCE on the demonstration's verdict (8x8 digits, seeds 1000-1009) beside
its ratio to BCE at the 28x28 target (the promotion, seeds 0-7), each the geometric mean over
paired seeds with a bootstrap 95% CI and a one-sided sign-flip p, Holm-corrected over the losses
(the search's verdict statistics); then the Kendall tau between the two rankings, and the
evolved functions against least squares, the family they belong to. Writes
``transfer.md`` and ``transfer.json`` beside the promotion's report. A promotion still running,
or stopped, is reported on the seeds every loss has, and says so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scipy.stats import kendalltau

from lossevo.fitness.scores import finite_or_none
from lossevo.report.verdict import verdict
from lossevo.studies.promote import promotion_results

HERE = Path(__file__).parent
STAGE = "mnist28-target"
BASELINE = "bce"
RIVAL = "least_squares"  # the family the search found: do its evolved members beat it?


def promoted(out: Path) -> dict[str, dict[int, float | None]]:
    """Each promoted loss's FID per seed at the 28x28 stage (None: failed or diverged)."""
    stage = promotion_results(out).get(STAGE, {})
    return {name: {s: finite_or_none(e) for s, e in rows.items()} for name, rows in stage.items()}


def demo_ratios(report: dict) -> dict[str, float]:
    """Each judged function's ratio to BCE in the demonstration's verdict (BCE itself 1)."""
    ratios = {name: c["ratio"] for name, c in report["verdict"]["candidates"].items()}
    return {**ratios, BASELINE: 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "transfer_mnist28")
    parser.add_argument("--demo", type=Path, default=HERE / "results" / "demo_search")
    args = parser.parse_args()
    values = promoted(args.out)
    common = set.intersection(*(set(v) for v in values.values()))
    values = {name: {s: v[s] for s in sorted(common)} for name, v in values.items()}
    others = {name: v for name, v in values.items() if name != BASELINE}
    mnist = verdict(others, values[BASELINE], control_name=BASELINE)
    evolved = {n: v for n, v in others.items() if n not in (RIVAL, "ganetic")}
    against_ls = verdict(evolved, values[RIVAL], control_name=RIVAL)
    digits = demo_ratios(json.loads((args.demo / "report.json").read_text()))
    rows = []
    for name in sorted(values, key=lambda n: digits.get(n, float("inf"))):
        judged = mnist["candidates"].get(name, {})
        rows.append(
            {
                "loss": name,
                "digits8_ratio": digits.get(name),
                "mnist28_ratio": 1.0 if name == BASELINE else judged.get("ratio"),
                "mnist28_ci": [judged["low"], judged["high"]] if judged.get("low") else None,
                "mnist28_p_holm": judged.get("p_corrected"),
                "mnist28_p_worse_holm": judged.get("p_worse_corrected"),
            }
        )
    paired = [r for r in rows if r["digits8_ratio"] is not None and r["mnist28_ratio"] is not None]
    tau = kendalltau([r["digits8_ratio"] for r in paired], [r["mnist28_ratio"] for r in paired])
    planned = json.loads((args.out / "config.json").read_text())["plan"]["stages"][0]["seeds"]
    status = (
        ""
        if len(common) >= planned
        else f"\n\nIncomplete: {len(common)} of {planned} seeds for every loss; resume the "
        "promotion (the same `lossevo promote` command) to finish, then run this again."
    )
    lines = [
        f"# Transfer: 8x8 digits -> MNIST 28x28 ({len(common)} seeds at 28x28: {sorted(common)})"
        + status,
        "",
        "| loss | × BCE, 8x8 (10 seeds) | × BCE, 28x28 [95% CI] | Holm p better | Holm p worse |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ci = r["mnist28_ci"]
        ci_text = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
        p, worse = (
            "" if v is None else f"{v:.3g}"
            for v in (r["mnist28_p_holm"], r["mnist28_p_worse_holm"])
        )
        lines.append(
            f"| `{r['loss']}` | {r['digits8_ratio']:.2f} | {r['mnist28_ratio']:.2f}{ci_text} | "
            f"{p} | {worse} |"
        )
    lines += ["", f"Kendall tau between the two rankings over {len(paired)} losses: "
              f"{tau.statistic:.2f} (p = {tau.pvalue:.2f})", "", mnist["sentence"], "",
              "Against least squares, the evolved functions at 28x28:", ""]  # fmt: skip
    for name, r in against_ls["candidates"].items():
        lines.append(
            f"- `{name}`: {r['ratio']:.2f} x least squares "
            f"(95% CI {r['low']:.2f}-{r['high']:.2f}), Holm p {r['p_corrected']:.3g} better, "
            f"{r['p_worse_corrected']:.3g} worse"
        )
    lines += ["", against_ls["sentence"]]
    text = "\n".join(lines) + "\n"
    (args.out / "transfer.md").write_text(text)
    data = {
        "seeds": sorted(common),
        "rows": rows,
        "kendall_tau": tau.statistic,
        "verdict": mnist,
        "against_least_squares": against_ls,
    }
    (args.out / "transfer.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(text)


if __name__ == "__main__":
    main()
