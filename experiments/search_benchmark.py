"""What racing at the target with early stopping costs per generation, against the format-3
search it replaced (racing at 200 steps), and whether the search now ranks as the verdict does.

    python experiments/search_benchmark.py [--before DIR] [--after DIR] [--margin 1.2]

Reads the two demonstration searches' results (``report.json``, and the after run's
``run.db``) and prints, per generation: the new functions raced, the trainings and training
steps spent, how many trainings stopped early, and the wall time (the after run's stored
timestamps; format 3 stored none per generation). Then the steps early stopping saved in the
run, the stopping rule's false-stop rate on the ladder's stored curves
(``experiments/early_stopping.py``), and the Kendall tau between search fitness and the verdict
ratio over the functions the verdict judged, before and after.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scipy.stats import kendalltau

from lossevo.runs.store import RunStore

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def per_generation_from_report(report: dict) -> list[dict]:
    """Trainings and steps per generation from the stored generation statistics alone: each
    entrant's racing seeds, and the growth of the cumulative ``spent_steps``."""
    rows, spent = [], 0
    for g in report["generations"]:
        trainings = sum(o["seeds"] for o in g["outcomes"].values())
        steps = g["spent_steps"] - spent
        spent = g["spent_steps"]
        stopped = g["race"].get("stopped", 0)
        rows.append(
            {
                "generation": g["generation"],
                "new": g["new_functions"],
                "trainings": trainings,
                "steps": steps,
                "stopped": stopped,
                "wall_s": None,
            }
        )
    return rows


def per_generation_from_store(run_dir: Path) -> list[dict]:
    """Per generation from the run database: the racing trainings stored while it ran (the
    controls' in generation 0), their steps, the early stops, and its wall time (from the
    previous generation's record, or the first training's start, to its own)."""
    with RunStore.open(run_dir, kind="search", readonly=True) as store:
        generations = store.generations()
        racing = store.evaluations(stage="search")
    start = min(e["created"] - (e["seconds"] or 0.0) for e in racing)  # the first training's
    rows = []
    for g in generations:
        mine = [e for e in racing if start <= e["created"] <= g["created"]]
        rows.append(
            {
                "generation": g["generation"],
                "new": g["stats"]["new_functions"],
                "trainings": len(mine),
                "steps": sum(e["steps"] or e["budget"] for e in mine),
                "stopped": sum((e["steps"] or e["budget"]) < e["budget"] for e in mine),
                "wall_s": g["created"] - start,
            }
        )
        start = g["created"]
    return rows


def savings(run_dir: Path) -> dict:
    """Racing trainings that stopped early and the share of racing steps that saved."""
    with RunStore.open(run_dir, kind="search", readonly=True) as store:
        racing = store.evaluations(stage="search")
    full = sum(e["budget"] for e in racing)
    ran = sum(e["steps"] or e["budget"] for e in racing)
    stopped = [e for e in racing if (e["steps"] or e["budget"]) < e["budget"]]
    reasons: dict[str, int] = {}
    for e in stopped:
        why = (e["metrics"] or {}).get("stop_reason", "?")
        reasons[why] = reasons.get(why, 0) + 1
    return {
        "trainings": len(racing),
        "stopped": len(stopped),
        "reasons": reasons,
        "saved_share": 1 - ran / full if full else 0.0,
    }


def fitness_vs_verdict(report: dict) -> tuple[float | None, int, list[tuple]]:
    """The Kendall tau between search fitness and verdict ratio over the judged functions,
    from the report's leaderboard and controls (a format-3 report has no such section)."""
    search = {r["text"]: r["fitness"] for r in report["leaderboard"] + report["controls"]}
    verdict = report["verdict"]
    ratios = {name: c["ratio"] for name, c in verdict["candidates"].items()}
    ratios[report["config"].get("reference", "bce")] = 1.0
    pairs = [
        (name, search[name], ratio)
        for name, ratio in ratios.items()
        if ratio is not None and search.get(name) is not None
    ]
    if len(pairs) < 3:
        return None, len(pairs), pairs
    tau = kendalltau([p[1] for p in pairs], [p[2] for p in pairs]).statistic
    return float(tau), len(pairs), pairs


def table(title: str, rows: list[dict], steps_per_training: str) -> None:
    print(f"\n## {title} ({steps_per_training})")
    print(f"{'gen':>3} {'new':>4} {'trainings':>9} {'steps':>9} {'stopped':>7} {'wall':>8}")
    for r in rows:
        wall = "-" if r["wall_s"] is None else f"{r['wall_s'] / 60:.1f} min"
        print(
            f"{r['generation']:>3} {r['new']:>4} {r['trainings']:>9} {r['steps']:>9} "
            f"{r['stopped']:>7} {wall:>8}"
        )
    total_steps = sum(r["steps"] for r in rows)
    new = sum(r["new"] for r in rows)
    print(
        f"all {new:>4} {sum(r['trainings'] for r in rows):>9} {total_steps:>9} "
        f"{sum(r['stopped'] for r in rows):>7}   ({total_steps / max(new, 1):.0f} steps per "
        f"new function)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, default=RESULTS / "demo_search_format3")
    parser.add_argument("--after", type=Path, default=RESULTS / "demo_search")
    parser.add_argument("--margin", type=float, default=1.2)
    args = parser.parse_args()
    before = json.loads((args.before / "report.json").read_text())
    after = json.loads((args.after / "report.json").read_text())
    b_steps, a_steps = before["config"]["steps"], after["config"]["steps"]
    run = args.after / "run"
    table(
        "before: format 3, racing at a short rung",
        per_generation_from_report(before),
        f"{b_steps} steps a training",
    )
    table(
        "after: racing toward the target, early stopping",
        per_generation_from_store(run),
        f"{a_steps} steps a training unless stopped",
    )
    if "wall_seconds" in after:
        print(f"after: search and verdict took {after['wall_seconds'] / 60:.1f} min wall")

    s = savings(run)
    print(
        f"\nearly stopping in the run: {s['stopped']} of {s['trainings']} racing trainings "
        f"stopped ({s['reasons']}); {100 * s['saved_share']:.0f}% of racing steps saved"
    )
    import early_stopping  # the rule replayed on the ladder's stored curves

    stops = n = 0
    for replay in early_stopping.REPLAYS:
        curves, metrics, budget = early_stopping.load(RESULTS / replay)
        r = early_stopping.simulate(curves, metrics, budget, args.margin)
        stops, n = stops + r["false_stops"], n + r["better_trainings"]
    print(
        f"false-stop rate on the stored replay curves at margin {args.margin}: {stops}/{n} = "
        f"{100 * stops / n:.1f}% (95% upper bound {100 * early_stopping.upper_95(stops, n):.1f}%)"
    )
    for label, report in (("before", before), ("after", after)):
        tau, k, pairs = fitness_vs_verdict(report)
        shown = ", ".join(f"{name[:28]} {f:.2f}->{v:.2f}" for name, f, v in pairs)
        tau_text = "undefined" if tau is None else f"{tau:.2f}"
        print(f"{label}: Kendall tau (search fitness vs verdict) {tau_text} over {k}: {shown}")


if __name__ == "__main__":
    main()
