"""Views of a search run: hall of fame, Pareto table, leaderboard text, figures and exports.

Everything here is derived from the run store; nothing is kept elsewhere, so the views of a
resumed or a crashed run are always consistent with its database.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from lossevo.store import RunStore, write_table

HOF_COLUMNS = ["rank", "text", "fitness", "std", "seeds", "budget", "complexity", "diverged",
               "fingerprint", "formula", "key"]
PARETO_COLUMNS = ["complexity", "fitness", "score", "text", "formula"]


def _search_config(store: RunStore):
    from lossevo.search import SearchConfig

    return SearchConfig.from_dict(store.config.get("search", {}))


def hall_of_fame(store: RunStore, config=None) -> list[dict]:
    """Passed candidates with results at the full budget, best mean first, one per function.

    For each fingerprint the simplest formula represents it (ties broken by key).
    """
    config = config or _search_config(store)
    best: dict[str, dict] = {}
    for cand in store.candidates("passed"):
        fp = cand["fingerprint"]
        if fp in best and (best[fp]["complexity"], best[fp]["key"]) <= \
                (cand["complexity"], cand["key"]):
            continue
        best[fp] = cand
    rows = []
    for fp, cand in best.items():
        summary = store.fitness_summary(fp)
        if summary.get("budget") != config.full_steps or not summary.get("n"):
            continue
        rows.append({"text": cand["text"], "fitness": summary["mean"], "std": summary["std"],
                     "seeds": summary["n"], "budget": summary["budget"],
                     "complexity": cand["complexity"], "diverged": summary["diverged"],
                     "fingerprint": fp, "formula": cand["formula"], "key": cand["key"]})
    rows.sort(key=lambda r: (r["fitness"], r["complexity"], r["key"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows[: config.hall_of_fame] if config.hall_of_fame else rows


def baselines(store: RunStore) -> list[dict]:
    rows = []
    for cand in store.candidates("baseline"):
        summary = store.fitness_summary(cand["fingerprint"])
        rows.append({"text": cand["key"].split(":", 1)[1], "fitness": summary.get("mean"),
                     "std": summary.get("std"), "seeds": summary.get("n"),
                     "complexity": cand["complexity"], "diverged": summary.get("diverged")})
    return rows


def pareto_front(rows: list[dict]) -> list[dict]:
    """Candidates that no simpler candidate beats, with PySR's score -d log(fitness)/d complexity
    (a plain difference when fitness is not positive)."""
    front: list[dict] = []
    for row in sorted(rows, key=lambda r: (r["complexity"], r["fitness"])):
        if front and row["fitness"] >= front[-1]["fitness"]:
            continue
        score = 0.0
        if front:
            prev = front[-1]
            if row["fitness"] > 0 and prev["fitness"] > 0:
                gain = math.log(prev["fitness"]) - math.log(row["fitness"])
            else:
                gain = prev["fitness"] - row["fitness"]
            score = gain / max(row["complexity"] - prev["complexity"], 1)
        front.append({**row, "score": score})
    return front


def write_views(store: RunStore) -> None:
    """hall_of_fame.csv and pareto.csv in the run directory, regenerated from the database."""
    config = _search_config(store)
    every = hall_of_fame(store, replace(config, hall_of_fame=0))
    write_table(store.run_dir / "hall_of_fame.csv", every[: config.hall_of_fame], HOF_COLUMNS)
    write_table(store.run_dir / "pareto.csv", pareto_front(every), PARETO_COLUMNS)


def _fmt(value, spec=".4g") -> str:
    return "-" if value is None else format(value, spec)


def leaderboard_text(store: RunStore, top: int = 10) -> str:
    """Rank, formula, fitness +- std over seeds, complexity; baselines at the same budget."""
    config = _search_config(store)
    rows = hall_of_fame(store, config)[:top]
    width = min(max([len(r["text"]) for r in rows] + [20]), 70)
    lines = [f"{'rank':>4}  {'formula':<{width}}  {'fitness':>10} {'± std':>9} {'seeds':>5} "
             f"{'cplx':>4}"]
    for r in rows:
        text = r["text"] if len(r["text"]) <= width else r["text"][: width - 1] + "…"
        lines.append(f"{r['rank']:>4}  {text:<{width}}  {_fmt(r['fitness']):>10} "
                     f"{_fmt(r['std']):>9} {r['seeds']:>5} {r['complexity']:>4}")
    base = baselines(store)
    if base:
        lines.append(f"{'':>4}  {'baselines, same budget and seeds:':<{width}}")
        for r in base:
            lines.append(f"{'':>4}  {r['text']:<{width}}  {_fmt(r['fitness']):>10} "
                         f"{_fmt(r['std']):>9} {_fmt(r['seeds'], 'd'):>5} {r['complexity']:>4}")
    lines.append(f"(fitness: {config.task} task, lower is better; "
                 f"{config.full_steps} steps per evaluation)")
    return "\n".join(lines)


def wasted_compute(store: RunStore) -> dict:
    """Seconds spent on evaluations that diverged or failed, against all evaluation seconds."""
    evaluations = store.evaluations()
    total = sum(e["seconds"] or 0.0 for e in evaluations)
    wasted = sum(e["seconds"] or 0.0 for e in evaluations if e["status"] != "ok")
    return {"total_seconds": total, "wasted_seconds": wasted,
            "wasted_share": wasted / total if total else 0.0, "evaluations": len(evaluations)}


def plot_generations(store: RunStore, path: Path) -> Path | None:
    """PNG of the best and median valid fitness per generation."""
    gens = store.generations()
    if not gens:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lossevo.search import PENALTY

    xs = [g["generation"] for g in gens]
    best = [g["stats"]["best"] if g["stats"]["best"] < PENALTY else math.nan for g in gens]
    median = [g["stats"].get("median_valid") or math.nan for g in gens]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(xs, best, "o-", label="best")
    ax.plot(xs, median, "s--", label="median of valid candidates")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (lower is better)")
    ax.set_title(f"Search progress: {store.run_dir.name}")
    ax.set_xticks(xs)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def show_run(run_dir: Path, top: int = 10) -> None:
    """Print the leaderboard, Pareto table and rejections; write the progress figure."""
    with RunStore.open(run_dir, kind="search") as store:
        config = _search_config(store)
        print(f"run {run_dir}: space {config.space}, seed {config.seed}, "
              f"{len(store.generations())}/{config.generations} generations")
        print()
        print(leaderboard_text(store, top))
        every = hall_of_fame(store, replace(config, hall_of_fame=0))
        print("\nPareto front (complexity against fitness):")
        print(f"{'cplx':>4} {'fitness':>10} {'score':>8}  formula")
        for row in pareto_front(every):
            print(f"{row['complexity']:>4} {row['fitness']:>10.4g} {row['score']:>8.3g}  "
                  f"{row['text']}")
        counts = {"passed": len(store.candidates("passed")), **store.rejection_counts()}
        counts.pop("baseline", None)
        print("\nscreening verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(
            counts.items(), key=lambda kv: -kv[1])))
        waste = wasted_compute(store)
        print(f"evaluations: {waste['evaluations']}, {waste['total_seconds']:.0f} s; "
              f"diverged or failed: {100 * waste['wasted_share']:.1f}% of seconds")
        figure = plot_generations(store, Path(run_dir) / "progress.png")
        if figure:
            print(f"figure: {figure}")


def export_run(run_dir: Path, top: int, out_dir: Path) -> list[Path]:
    """Export a run's ``top`` best losses as standalone modules."""
    from lossevo.export import export_loss
    from lossevo.losses import LossSpec
    from lossevo.space import load_space

    with RunStore.open(run_dir, kind="search") as store:
        config = _search_config(store)
        space = load_space(config.space)
        paths = []
        for row in hall_of_fame(store, config)[:top]:
            spec = LossSpec.from_formula(row["formula"], name=f"{Path(run_dir).name} rank "
                                         f"{row['rank']}", transform=space.transform,
                                         generator=space.generator)
            provenance = {"run": str(Path(run_dir).resolve()), "rank": row["rank"],
                          "fitness": row["fitness"], "std": row["std"], "seeds": row["seeds"],
                          "budget": row["budget"], "task": config.task}
            paths.append(export_loss(spec, out_dir / f"rank{row['rank']}.py", provenance))
        return paths
