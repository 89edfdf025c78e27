"""Which cheap fitness predicts the target? Rank agreement of each rung with the target.

    python experiments/fidelity_ladder.py --workers 2            # ~25 min on the 2-core CPU
    python experiments/fidelity_ladder.py --analyse-only         # the table from runs.jsonl

The target is where losses are judged. On this CPU it is scikit-learn's 8x8 digits, DCGAN
width 32, batch 64, Adam lr 2e-3, 1,500 generator steps, domain FID on 500 samples: there BCE
covers all 10 classes at FID 62-65 (two seeds, ~48 s a run on one core). The 28x28 target
(offline MNIST, width 32, 1,500 steps: BCE FID 186 and 199, 10 and 9 classes) costs ~570 s a
run on one core here, 7.6 core-hours for this experiment: it is the GPU target, measured only
for calibration (mnist28_calibration.jsonl). One training per
(loss, seed) is scored at checkpoints, which gives the step rungs, the mean over the last
checkpoints and classes covered for free; smaller images and a smaller width are separate
trainings. For each rung: Kendall tau and Spearman between the losses' geometric-mean scores at
the rung and at the target, the CV over seeds, and seconds per evaluation. Every run is appended
to runs.jsonl as it finishes, so a killed experiment continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from scipy import stats
from tqdm import tqdm

from lossevo.loss.reference import resolve_loss
from lossevo.runs.executors import Job, make_executor
from lossevo.search.config import CPU_TARGET, CPU_TARGET_STEPS

LOSSES = (
    "bce",
    "ganetic",
    "hinge",
    "least_squares",
    "wasserstein",
    "adversarial",
    "abs(y_pred - y_real)",
    "y_pred**2 - 2*y_real*y_pred",
)
TARGET = dict(CPU_TARGET)
TARGET_STEPS = CPU_TARGET_STEPS
CHECKPOINTS = (100, 200, 400, 700, 1000, 1250)
#: Rungs trained separately: name -> (task config, steps).
SEPARATE = {"width 16, 1000 steps": ({**TARGET, "width": 16}, 1000)}
OUT = Path(__file__).parent / "results" / "fidelity_ladder"


def _key(rung: str, loss: str, seed: int) -> str:
    return f"{rung}|{loss}|{seed}"


def _done(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {_key(r["rung"], r["loss"], r["seed"]): r for r in rows}


def run(losses, seeds: int, workers: int, out: Path) -> None:
    """Train every (rung set, loss, seed) not yet in runs.jsonl; append each as it finishes."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "runs.jsonl"
    plan = [("target", TARGET, TARGET_STEPS, list(CHECKPOINTS))]
    plan += [(name, cfg, steps, []) for name, (cfg, steps) in SEPARATE.items()]
    for rung, config, steps, checkpoints in plan:
        done = _done(path)
        jobs = [
            Job(
                _key(rung, loss, seed),
                {
                    "loss": resolve_loss(loss).to_dict(),
                    "seed": seed,
                    "steps": steps,
                    "checkpoints": checkpoints,
                },
            )
            for loss in losses
            for seed in range(seeds)
            if _key(rung, loss, seed) not in done
        ]
        if not jobs:
            continue
        executor = make_executor("gan", {**config, "device": "cpu"}, workers=workers)
        with executor, tqdm(total=len(jobs), desc=rung, unit="run") as bar:
            for job, result in executor.run(jobs):
                _, loss, seed = job.job_id.split("|")
                row = {
                    "rung": rung,
                    "loss": loss,
                    "seed": int(seed),
                    "steps": steps,
                    "status": result["status"],
                    "fitness": result.get("fitness"),
                    "classes": (result.get("metrics") or {}).get("classes_covered"),
                    "checkpoints": result.get("checkpoints", {}),
                    "seconds": result.get("seconds"),
                    "train_seconds": result.get("train_seconds"),
                }
                with path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                bar.update(1)


# ---------------------------------------------------------------------------------- analysis
def _log_mean(values: list[float | None]) -> float:
    """Geometric mean; a diverged or failed seed counts as the worst score seen (FID 2,000)."""
    return statistics.fmean(math.log(v if v is not None else 2000.0) for v in values)


def _cv(values: list[float | None]) -> float:
    finite = [v for v in values if v is not None]
    return statistics.stdev(finite) / statistics.fmean(finite) if len(finite) > 1 else math.nan


def rung_scores(rows: list[dict]) -> dict[str, dict[str, list]]:
    """rung -> loss -> per-seed scores (lower is better), in seed order."""
    out: dict[str, dict[str, list]] = {}
    by_seed = sorted(rows, key=lambda r: (r["rung"], r["loss"], r["seed"]))
    for r in by_seed:
        ok = r["status"] == "ok"
        if r["rung"] == "target":
            out.setdefault(f"target: {TARGET_STEPS} steps", {}).setdefault(r["loss"], [])
            out[f"target: {TARGET_STEPS} steps"][r["loss"]].append(r["fitness"] if ok else None)
            cps = r["checkpoints"]
            for step in CHECKPOINTS:
                fid = cps.get(str(step), {}).get("domain_fid")
                out.setdefault(f"{step} steps", {}).setdefault(r["loss"], []).append(fid)
            last = [cps.get(str(s), {}).get("domain_fid") for s in CHECKPOINTS[-2:]]
            last.append(r["fitness"] if ok else None)
            mean_last = math.exp(_log_mean(last)) if ok else None
            out.setdefault("mean of last 3 checkpoints", {}).setdefault(r["loss"], [])
            out["mean of last 3 checkpoints"][r["loss"]].append(mean_last)
            for step in (400, 700):
                classes = cps.get(str(step), {}).get("classes_covered")
                name = f"classes covered at {step} steps"
                # fewer classes is worse: score = 11 - classes so that lower is better
                out.setdefault(name, {}).setdefault(r["loss"], [])
                out[name][r["loss"]].append(None if classes is None else 11.0 - classes)
        else:
            out.setdefault(r["rung"], {}).setdefault(r["loss"], []).append(
                r["fitness"] if ok else None
            )
    return out


def _cost(rows: list[dict], rung: str) -> float:
    """Seconds of one evaluation at ``rung`` (checkpoint rungs: the share of the training)."""
    target = [r for r in rows if r["rung"] == "target" and r["train_seconds"]]
    if rung in SEPARATE:
        return statistics.fmean(r["seconds"] for r in rows if r["rung"] == rung)
    train = statistics.fmean(r["train_seconds"] for r in target)
    score = statistics.fmean(
        (r["seconds"] - r["train_seconds"]) / (len(CHECKPOINTS) + 1) for r in target
    )
    step = TARGET_STEPS
    if rung.split(" ")[0].isdigit():
        step = int(rung.split(" ")[0])
    elif rung.startswith("classes covered at"):
        step = int(rung.split(" ")[3])
    n_scores = 3 if rung.startswith("mean of last") else 1
    return train * step / TARGET_STEPS + score * n_scores


def analyse(out: Path) -> dict:
    """The ladder table: per rung tau, Spearman, CV over seeds, seconds; also the target's
    own split-half agreement (seeds 0-2 against 3-5), the ceiling for any rung."""
    rows = list(_done(out / "runs.jsonl").values())
    scores = rung_scores(rows)
    target_name = f"target: {TARGET_STEPS} steps"
    target = scores[target_name]
    losses = sorted(target)
    t_means = [_log_mean(target[name]) for name in losses]
    collapse = {
        n: statistics.fmean(
            (r["classes"] or 0) <= 5
            for r in rows
            if r["rung"] == "target" and r["loss"] == n and r["status"] == "ok"
        )
        for n in losses
    }
    working = [i for i, n in enumerate(losses) if collapse[n] == 0]
    table = []
    for rung, per_loss in scores.items():
        if set(per_loss) != set(losses):
            continue
        means = [_log_mean(per_loss[name]) for name in losses]
        tau = stats.kendalltau(means, t_means).statistic
        rho = stats.spearmanr(means, t_means).statistic
        cvs = [_cv(per_loss[name]) for name in losses]
        tau_working = stats.kendalltau(
            [means[i] for i in working], [t_means[i] for i in working]
        ).statistic
        table.append(
            {
                "rung": rung,
                "kendall_tau": float(tau),
                "spearman": float(rho),
                "kendall_tau_working": float(tau_working),
                "cv_over_seeds": float(statistics.fmean(c for c in cvs if not math.isnan(c))),
                "seconds": _cost(rows, rung),
                "seeds": min(len(v) for v in per_loss.values()),
            }
        )
    half = len(next(iter(target.values()))) // 2
    a = [_log_mean(target[n][:half]) for n in losses]
    b = [_log_mean(target[n][half:]) for n in losses]
    ranking = sorted(losses, key=lambda n: _log_mean(target[n]))
    return {
        "target": {**TARGET, "steps": TARGET_STEPS, "metric": "domain_fid"},
        "losses": losses,
        "target_ranking": ranking,
        "target_geomean_fid": {n: math.exp(_log_mean(target[n])) for n in losses},
        "target_collapse_rate": collapse,
        "target_split_half_tau": float(stats.kendalltau(a, b).statistic),
        "rungs": table,
    }


def table_text(result: dict) -> str:
    lines = [
        "| rung | Kendall tau | Spearman | tau, losses that never collapse | CV over seeds "
        "| s / eval | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sorted(result["rungs"], key=lambda r: r["seconds"]):
        lines.append(
            f"| {row['rung']} | {row['kendall_tau']:.2f} | {row['spearman']:.2f} | "
            f"{row['kendall_tau_working']:.2f} | "
            f"{row['cv_over_seeds']:.2f} | {row['seconds']:.0f} | {row['seeds']} |"
        )
    lines.append("")
    lines.append(
        f"Target's own split-half agreement (seeds 0-2 against 3-5): Kendall tau "
        f"{result['target_split_half_tau']:.2f}."
    )
    ranking = ", ".join(
        f"{n} {result['target_geomean_fid'][n]:.0f} "
        f"(collapse {result['target_collapse_rate'][n]:.0%})"
        for n in result["target_ranking"]
    )
    lines.append(f"Target ranking (geometric-mean domain FID): {ranking}.")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    """Rank agreement against cost per rung, with the 0.6 line the search selects by."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for row in result["rungs"]:
        ax.scatter(row["seconds"], row["kendall_tau"], color="tab:blue")
        ax.annotate(row["rung"], (row["seconds"], row["kendall_tau"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")  # fmt: skip
    ax.axhline(0.6, color="tab:red", linestyle="--", label="selection threshold 0.6")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per evaluation (one core)")
    ax.set_ylabel("Kendall tau with the target")
    ax.set_title("Fidelity ladder: 8 losses x 6 seeds, 8x8 digits target")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--analyse-only", action="store_true")
    args = parser.parse_args()
    if not args.analyse_only:
        run(LOSSES, args.seeds, args.workers, args.out)
    result = analyse(args.out)
    (args.out / "ladder.json").write_text(json.dumps(result, indent=2) + "\n")
    text = table_text(result)
    (args.out / "ladder.md").write_text(text + "\n")
    plot(result, args.out / "fig_ladder.png")
    print(text)


if __name__ == "__main__":
    main()
