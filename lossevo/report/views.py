"""What `lossevo show RUN` prints and draws, and `lossevo export RUN` writes, for a search run.

Everything here is derived from the run store; nothing is kept elsewhere, so the views of a
resumed or a crashed run are always consistent with its database.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from pathlib import Path

from lossevo.fitness.scores import Race, Status
from lossevo.loss.export import export_loss
from lossevo.report.run_report import run_json, run_verdict
from lossevo.report.verdict import verdict_text
from lossevo.runs.store import RunStore
from lossevo.search.config import PENALTY
from lossevo.search.generation_stats import stored_stats
from lossevo.search.leaderboard import (
    best_losses,
    hall_of_fame,
    leaderboard_text,
    pareto_front,
    search_config,
)
from lossevo.util.errors import LossevoError
from lossevo.util.files import write_bytes
from lossevo.util.terminal import for_terminal


def wasted_compute(store: RunStore) -> dict:
    """Seconds spent on evaluations that diverged or failed, against all evaluation seconds."""
    evaluations = store.evaluations()
    total = sum(e["seconds"] or 0.0 for e in evaluations)
    wasted = sum(e["seconds"] or 0.0 for e in evaluations if e["status"] != Status.OK)
    return {
        "total_seconds": total,
        "wasted_seconds": wasted,
        "wasted_share": wasted / total if total else 0.0,
        "evaluations": len(evaluations),
    }


def plot_generations(store: RunStore, path: Path) -> Path | None:
    """PNG of the best and median valid fitness per generation."""
    gens = stored_stats(store)
    if not gens:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [g for g, _ in gens]
    best = [st.best if st.best is not None and st.best < PENALTY else math.nan for _, st in gens]
    median = [st.median_valid or math.nan for _, st in gens]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(xs, best, "o-", label="best")
    ax.plot(xs, median, "s--", label="median of valid candidates")
    ax.set_xlabel("generation")
    ax.axhline(1.0, color="grey", linestyle=":", label="BCE (the reference control)")
    ax.set_ylabel("fitness, × BCE on shared seeds (lower is better)")
    ax.set_title(f"Search progress: {store.run_dir.name}")
    ax.set_xticks(xs)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save_png(fig, path)


def _save_png(fig, path: Path) -> Path:
    """Write a matplotlib figure as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path


def plot_verdict(result: dict, path: Path) -> Path:
    """PNG of each judged function's ratio to the reference with its 95% CI, and the line 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(n, r) for n, r in result["candidates"].items() if r["ratio"] is not None]
    rows.sort(key=lambda nr: nr[1]["ratio"])
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(rows) + 1.6), dpi=120)
    for i, (_, r) in enumerate(rows):
        color = "tab:green" if r["beats"] else "tab:blue"
        ax.errorbar(r["ratio"], i, xerr=[[r["ratio"] - r["low"]], [r["high"] - r["ratio"]]],
                    fmt="o", color=color, capsize=4)  # fmt: skip
    ax.set_yticks(range(len(rows)), [n if len(n) <= 40 else n[:39] + "…" for n, _ in rows])
    ax.axvline(1.0, color="grey", linestyle=":")
    ax.set_xlabel(f"× {result['control']['name']} on {len(result['seeds'])} fresh seeds, "
                  f"95% bootstrap CI (lower is better)")  # fmt: skip
    ax.set_title("Verdict", fontsize=10)
    return _save_png(fig, path)


def _say(text: str = "") -> None:
    print(for_terminal(text))


def generations_text(store: RunStore) -> str:
    """Per generation: new functions trained, how the race ended, variation attempts."""
    lines = [
        f"{'gen':>3} {'new':>4} {'survived':>8} {'elim.':>5} {'failed':>6} "
        f"{'attempts':>8}  rejected children"
    ]
    for generation, st in stored_stats(store):
        race, var = st.race, st.variation
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(var.rejected.items()))
        lines.append(
            f"{generation:>3} {st.new_functions:>4} {race.get(Race.SURVIVED, 0):>8} "
            f"{race.get(Race.ELIMINATED, 0):>5} {race.get(Race.FAILED, 0):>6} "
            f"{var.attempts:>8}  {rejected or '-'}"
        )
    return "\n".join(lines)


def show_run(run_dir: Path, top: int = 10, *, as_json: bool = False) -> None:
    """Print the leaderboard, generations, verdict, Pareto table and rejections; write the
    progress figure. ``as_json`` prints leaderboard, generations and verdict as one JSON object.

    Stored text (formulas, names) is printed with its control characters escaped.
    """
    if top < 0:
        raise LossevoError(f"--top must be 0 or more (got {top})")
    with RunStore.open(run_dir, kind="search", readonly=True) as store:
        if as_json:
            print(json.dumps(run_json(store), indent=2, default=str))
            return
        config = search_config(store)
        _say(
            f"run {run_dir}: space {config.space}, seed {config.seed}, "
            f"{len(store.generations())}/{config.generations} generations"
        )
        _say()
        _say(leaderboard_text(store, top))
        _say("\nGenerations (new functions raced; children drawn to find them):")
        _say(generations_text(store))
        result = run_verdict(store, config)
        if result is None:
            _say("\nVerdict: not yet (it runs when the generations or the budget are spent).")
        else:
            _say(
                f"\nVerdict on {len(result['seeds'])} fresh seeds "
                f"({result['seeds'][0]}-{result['seeds'][-1]}), {result['steps']} steps:"
            )
            _say(verdict_text(result))
        every = hall_of_fame(store, replace(config, hall_of_fame=0))
        _say("\nPareto front (complexity against fitness):")
        _say(f"{'cplx':>4} {'fitness':>10} {'score':>8}  formula")
        for row in pareto_front([r for r in every if r["fitness"] is not None]):
            _say(
                f"{row['complexity']:>4} {row['fitness']:>10.4g} {row['score']:>8.3g}  "
                f"{row['text']}"
            )
        counts = {"passed": len(store.candidates("passed")), **store.rejection_counts()}
        _say(
            "\nscreening verdicts: "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        )
        waste = wasted_compute(store)
        _say(
            f"evaluations: {waste['evaluations']}, {waste['total_seconds']:.0f} s; "
            f"diverged or failed: {100 * waste['wasted_share']:.1f}% of seconds"
        )
        try:
            figures = [plot_generations(store, Path(run_dir) / "progress.png")]
            if result is not None:
                figures.append(plot_verdict(result, Path(run_dir) / "verdict.png"))
        except OSError as e:  # a read-only run is still shown; only its figures are skipped
            _say(f"figure: not written ({e.strerror or e})")
        else:
            for figure in filter(None, figures):
                _say(f"figure: {figure}")


def export_run(run_dir: Path, top: int, out_dir: Path) -> list[Path]:
    """Export a run's ``top`` best losses as standalone modules."""
    if top < 1:
        raise LossevoError(f"--top must be at least 1 (got {top}); e.g. --top 3")
    with RunStore.open(run_dir, kind="search", readonly=True) as store:
        config = search_config(store)
        paths = []
        run_name = Path(run_dir).name
        for row, spec in best_losses(store, top, name=lambda r: f"{run_name} rank {r['rank']}"):
            provenance = {
                "run": str(Path(run_dir).resolve()),
                "rank": row["rank"],
                "fitness": row["fitness"],
                "fitness_is": f"geometric-mean ratio to {config.reference} on shared seeds",
                "score": row["score"],
                "seeds": row["seeds"],
                "race": row["race"],
                "steps": config.steps,
                "task": config.task,
            }
            paths.append(export_loss(spec, out_dir / f"rank{row['rank']}.py", provenance))
        return paths
