"""Evaluate one loss as a researcher would check it: train and score a DCGAN over seeds.

The driver behind ``lossevo evaluate`` and ``lossevo.evaluate``: it returns every number as
plain data (and, given ``out``, writes ``samples.png`` and ``evaluation.json`` there); callers
decide what to print, with :func:`results_table` and :func:`summary_line`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from lossevo.fitness.data import load_dataset
from lossevo.fitness.gan import GanConfig, GanTask
from lossevo.fitness.seeds import aggregate
from lossevo.loss.reference import LossSpec
from lossevo.loss.screen import require_passing
from lossevo.util.errors import LossevoError
from lossevo.util.files import check_writable_dir, write_bytes, write_text
from lossevo.util.fmt import fmt_number


class EvaluateError(LossevoError):
    """Bad settings for an evaluation (steps, seeds)."""


def check_budget(steps: int, seeds: int) -> None:
    """Refuse a budget that trains nothing, before any data is loaded."""
    if steps < 1:
        raise EvaluateError(f"--steps must be at least 1 (got {steps}); try --steps 300")
    if seeds < 1:
        raise EvaluateError(f"--seeds must be at least 1 (got {seeds})")


def evaluate_loss(
    spec: LossSpec,
    config: GanConfig,
    *,
    steps: int = 300,
    seeds: int = 3,
    how: str = "mean",
    out: str | Path | None = None,
    download: bool = False,
    progress: bool = True,
    screen: bool = True,
    echo: Callable[[str], None] = print,
) -> dict:
    """Train ``spec`` for ``steps`` steps under seeds 0..seeds-1 and score each run.

    A loss that screening rejects is refused in one line unless ``screen`` is False.

    Returns ``{"loss", "protocol", "steps", "summary", "runs"}`` (the summary aggregates the
    seeds by ``how``: mean, median or worst). With ``out``, also writes the PNG grid of seed 0's
    samples and the record as JSON there; their paths are in ``record["files"]``.
    """
    check_budget(steps, seeds)
    if screen:
        require_passing(spec)
    aggregate([], how)  # an unknown aggregate fails here, before any training
    if out is not None:
        out = check_writable_dir(out)
    if download:
        load_dataset(config.dataset, root=config.data_root, download=True, limit=1)
    task = GanTask(config)
    info = task.describe()
    echo(f"loss      {spec.expr.text}   ({spec.transform}, {spec.generator})")
    echo(
        f"protocol  {info['dataset']}: {info['train_images']} training images, "
        f"{steps} steps, width {config.width}, batch {config.batch_size}; "
        f"{task.metric} on {info['reference_images']} samples, device {task.device}"
    )
    results = []
    for seed in tqdm(range(seeds), desc="seeds", unit="run", disable=not progress):
        job = {"loss": spec.to_dict(), "seed": seed, "steps": steps, "grid": seed == 0}
        results.append(task.evaluate(job))
    record = {
        "loss": spec.to_dict(),
        "protocol": info,
        "steps": steps,
        "summary": {**aggregate(results, how), "aggregate": how, "metric": task.metric},
        "runs": [{k: v for k, v in r.items() if k != "grid_png"} for r in results],
    }
    if out is not None:
        record["files"] = _write(Path(out), results, record)
    return record


def _write(out: Path, results: list[dict], record: dict) -> dict:
    files = {}
    grid = next((r.get("grid_png") for r in results if r.get("grid_png")), None)
    if grid:
        files["samples"] = str(write_bytes(out / "samples.png", base64.b64decode(grid)))
    files["numbers"] = str(out / "evaluation.json")
    text = json.dumps({**record, "files": files}, indent=2, default=str)
    write_text(out / "evaluation.json", text)
    return files


def slug(name: str) -> str:
    """A file-name-safe form of a loss name (default output folders)."""
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")[:60] or "loss"


def results_table(record: dict) -> str:
    """The metrics of each seed as a text table."""
    runs, metric = record["runs"], record["summary"]["metric"]
    keys = [metric, "kid", "classes_covered", "kl_to_data"]
    keys = [k for k in keys if any(k in r["metrics"] for r in runs)]
    lines = [f"{'seed':>4}  {'status':<9}" + "".join(f"{k:>16}" for k in keys) + f"{'seconds':>9}"]
    for seed, r in enumerate(runs):
        cells = "".join(f"{fmt_number(r['metrics'].get(k)):>16}" for k in keys)
        lines.append(f"{seed:>4}  {r['status']:<9}{cells}{r['seconds']:>9.1f}")
    return "\n".join(lines)


def summary_line(record: dict) -> str:
    """``mean domain_fid over 3 ok seed(s): 123 ± 4 (diverged 0, failed 0)``."""
    s = record["summary"]
    return (
        f"{s['aggregate']} {s['metric']} over {s['n']} ok seed(s): "
        f"{fmt_number(s['fitness'])} ± {fmt_number(s['std'])}  "
        f"(diverged {s['diverged']}, failed {s['failed']})"
    )
