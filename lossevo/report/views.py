"""What `lossevo show RUN` prints and draws, and `lossevo export RUN` writes, for a search run.

Everything here is derived from the run store; nothing is kept elsewhere, so the views of a
resumed or a crashed run are always consistent with its database.
"""

from __future__ import annotations

import io
import json
import math
import shlex
from dataclasses import replace
from pathlib import Path

from lossevo.fitness.scores import Race, Status
from lossevo.loss.export import ExportError, export_loss
from lossevo.report.run_report import run_json, run_verdict, search_vs_verdict
from lossevo.report.verdict import control_label, verdict_text
from lossevo.runs.store import DB_NAME, RunStore, StoreError
from lossevo.search.config import STOPPED_FITNESS
from lossevo.search.generation_stats import stored_stats
from lossevo.search.leaderboard import (
    best_losses,
    hall_of_fame,
    leaderboard_text,
    pareto_front,
    search_config,
)
from lossevo.search.standing import standing
from lossevo.util.errors import LossevoError
from lossevo.util.files import write_bytes
from lossevo.util.fmt import shorten
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


def _stat(store: RunStore, generation: dict, key: str, *, required: bool) -> float:
    """A number from a generation's stats; a damaged one is a StoreError naming run.db."""
    value = generation["stats"].get(key)
    if value is None and not required:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StoreError(
            f"'{store.run_dir / DB_NAME}' is damaged (generation {generation['generation']}: "
            f"stats {key} is {value!r}, not a number); restore it from a backup or start a "
            f"new run"
        )
    return float(value)


def plot_generations(store: RunStore, path: Path) -> Path | None:
    """PNG of :func:`progress_figure` (None before the first generation)."""
    fig = progress_figure(store)
    return None if fig is None else _save_png(fig, path)


def progress_figure(store: RunStore):
    """Every function raced, at the generation it was new in: its fitness (× the run's
    reference control, log scale) if it finished the race, the count that stopped early at the
    top; the best of each generation as a line, the other controls as dotted lines. A
    matplotlib figure, or None before the first generation."""
    config = search_config(store)
    gens = store.generations()
    if not gens:
        return None
    xs = [g["generation"] for g in gens]
    best = [_stat(store, g, "best", required=True) for g in gens]
    best = [b if b < STOPPED_FITNESS else math.nan for b in best]
    rows = standing(store, config, every=True)
    raced = [r for r in rows if r["role"] != "baseline" and r["first_generation"] in xs]
    finished = [r for r in raced if r["race"] in (Race.SURVIVED, Race.ELIMINATED)]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    label = control_label(config.reference)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for race, marker in ((Race.ELIMINATED, "x"), (Race.SURVIVED, "o")):
        points = [(r["first_generation"], r["fitness"]) for r in finished if r["race"] == race]
        if points:
            ax.scatter(*zip(*points, strict=True), marker=marker, alpha=0.6, label=str(race))
    ax.plot(xs, best, "-", color="black", label="best in the population")
    ax.axhline(1.0, color="grey", linestyle=":", label=f"{label} (the reference control)")
    others = [r for r in rows if r["role"] == "baseline" and r["text"] != config.reference]
    for i, r in enumerate(others):
        if r["fitness"] is not None and 0 < r["fitness"] < STOPPED_FITNESS:
            ax.axhline(r["fitness"], color=f"C{i + 2}", linestyle=":", label=r["text"])
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    stopped = {x: sum(r["first_generation"] == x and r["race"] == Race.STOPPED for r in raced)
               for x in xs}  # fmt: skip
    counted = any(stopped.values())
    if counted:
        for x, n in stopped.items():
            ax.annotate(str(n), (x, 1.0), xycoords=("data", "axes fraction"), ha="center",
                        va="bottom", fontsize=8)  # fmt: skip
    note = " (above: functions stopped early)" * counted
    title = f"Search progress: {for_terminal(store.run_dir.name)}{note}"  # no raw ESC glyphs
    ax.set_title(title, pad=14 if counted else None)
    ax.set_xlabel("generation a function was new in")
    ax.set_ylabel(f"fitness, × {label} on shared seeds (lower is better)")
    ax.set_xticks(xs)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _save_png(fig, path: Path) -> Path:
    """Write a matplotlib figure as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path


def plot_verdict(result: dict, path: Path) -> Path | None:
    """PNG of each judged function's ratio to the reference with its 95% CI, and the line 1;
    None when no function has a ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(n, r) for n, r in result["candidates"].items() if r["ratio"] is not None]
    if not rows:
        return None
    rows.sort(key=lambda nr: nr[1]["ratio"])
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(rows) + 1.6), dpi=120)
    for i, (_, r) in enumerate(rows):
        color = "tab:green" if r["beats"] else "tab:blue"
        ax.errorbar(r["ratio"], i, xerr=[[r["ratio"] - r["low"]], [r["high"] - r["ratio"]]],
                    fmt="o", color=color, capsize=4)  # fmt: skip
    ax.set_yticks(range(len(rows)), [shorten(n, 40) for n, _ in rows])
    ax.axvline(1.0, color="grey", linestyle=":")
    label = control_label(result["control"]["name"])
    ax.set_xlabel(f"× {label} on {len(result['seeds'])} fresh seeds, "
                  f"95% bootstrap CI (lower is better)")  # fmt: skip
    ax.set_title("Verdict", fontsize=10)
    return _save_png(fig, path)


def _say(text: str = "") -> None:
    print(for_terminal(text))


def generations_text(store: RunStore) -> str:
    """Per generation: new functions trained, how the race ended, variation attempts."""
    lines = [
        f"{'gen':>3} {'new':>4} {'survived':>8} {'elim.':>5} {'stopped':>7} {'failed':>6} "
        f"{'attempts':>8}  rejected children"
    ]
    for generation, st in stored_stats(store):
        race, var = st.race, st.variation
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(var.rejected.items()))
        lines.append(
            f"{generation:>3} {st.new_functions:>4} {race.get(Race.SURVIVED, 0):>8} "
            f"{race.get(Race.ELIMINATED, 0):>5} {race.get(Race.STOPPED, 0):>7} "
            f"{race.get(Race.FAILED, 0):>6} "
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
        _say()
        _say(verdict_section(result))
        if result is not None:
            _say()
            _say(search_vs_verdict_text(search_vs_verdict(store, config, result), config))
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


def search_vs_verdict_text(data: dict, config) -> str:
    """The functions the verdict judged: fitness in the search beside the ratio on fresh seeds,
    how much each shrank, and the rank agreement (Kendall tau) between the two."""
    label = control_label(config.reference)
    lines = [
        f"Search fitness beside the verdict (× {label}; shrinkage = verdict / search):",
        f"{'search':>8} {'verdict':>8} {'shrink':>7}  function  (provenance)",
    ]
    for r in data["functions"]:
        cells = (r["search_fitness"], r["verdict_ratio"], r["shrinkage"])
        numbers = " ".join(f"{'-' if v is None else format(v, '.3f'):>8}" for v in cells)
        lines.append(f"{numbers}  {r['name']}  ({r['provenance']})")
    tau = data["kendall_tau"]
    lines.append(
        f"Kendall tau between search fitness and verdict over {data['n']} functions: "
        + ("not defined (fewer than 3 functions, or all tied)" if tau is None else f"{tau:.2f}")
    )
    return "\n".join(lines)


def verdict_section(result: dict | None) -> str:
    """The verdict as ``show`` prints it and a search ends with: heading, table, sentence."""
    if result is None:
        return "Verdict: not yet (it runs when the generations or the budget are spent)."
    return f"{_verdict_heading(result)}:\n{verdict_text(result)}"


def run_verdict_section(run_dir: Path) -> str:
    """The verdict section of a run, read without locking it (what a finished search prints)."""
    with RunStore.open(run_dir, kind="search", readonly=True) as store:
        return verdict_section(run_verdict(store, search_config(store)))


def _verdict_heading(result: dict) -> str:
    """``Verdict on 6 fresh seeds (1000-1005), 1500 steps``, saying when it is incomplete."""
    seeds = result["seeds"]
    span = f" ({seeds[0]}-{seeds[-1]})" if seeds else ""
    heading = f"Verdict on {len(seeds)} fresh seed{'' if len(seeds) == 1 else 's'}{span}"
    if not result.get("complete", True):
        heading += f" (incomplete: {result['seeds_done']} of {result['seeds_expected']} seeds)"
    return f"{heading}, {result['steps']} steps"


def export_run(run_dir: Path, top: int, out_dir: Path, *, force: bool = False) -> list[Path]:
    """Export a run's ``top`` best losses as standalone modules ``rank<N>.py`` in ``out_dir``.

    All or nothing: an existing module is refused before any is written, unless ``force``.
    A run with no ranked candidate is an error (exit 2), not an empty success: a script that
    exports and then imports ``rank1.py`` must stop at the export, which says why.
    """
    if top < 1:
        raise LossevoError(f"--top must be at least 1 (got {top}); e.g. --top 3")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"'{out_dir}' is a file, not a folder; name a folder for the modules")
    with RunStore.open(run_dir, kind="search", readonly=True) as store:
        config = search_config(store)
        paths = []
        run_name = Path(run_dir).name
        chosen = best_losses(store, top, name=lambda r: f"{run_name} rank {r['rank']}")
        if not chosen:
            raise ExportError(
                f"'{run_dir}' has no ranked candidate to export (none trained successfully "
                f"yet); nothing was written: see lossevo show {shlex.quote(str(run_dir))}"
            )
        targets = [out_dir / f"rank{row['rank']}.py" for row, _ in chosen]
        existing = [p for p in targets if p.exists()]
        if existing and not force:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise ExportError(
                f"'{existing[0]}'{more} already exist; nothing was written: choose another "
                f"-o, or overwrite with --force (force=True in Python)"
            )
        for (row, spec), target in zip(chosen, targets, strict=True):
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
            paths.append(export_loss(spec, target, provenance))
        return paths
