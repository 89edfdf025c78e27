"""Run the README's demonstration search and keep its report: ``experiments/demo_search.yaml``.

    python experiments/demo_search.py [--config experiments/demo_search.yaml] [--out DIR]

The run directory is ``--run-dir`` (default runs/demo_search; run the script again after a
crash and it resumes); the report ``DIR/report.txt`` is what ``lossevo show`` prints,
``DIR/report.json`` what ``--json`` prints, with ``wall_seconds`` (this invocation's wall time,
the search and its verdict; a resumed run counts only the resumed part) and the run's figures
beside them as ``fig_progress.png`` and ``fig_verdict.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import time
from pathlib import Path

import yaml

import lossevo
from lossevo.report.views import show_run

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HERE / "demo_search.yaml")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "demo_search")
    parser.add_argument("--run-dir", type=Path, default=Path("runs") / "demo_search")
    args = parser.parse_args()
    settings = yaml.safe_load(args.config.read_text())
    workers = settings.pop("workers", 1)
    run_dir = args.run_dir
    started = time.perf_counter()
    if (run_dir / "run.db").exists():
        run = lossevo.resume(run_dir, workers=workers)
    else:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        run = lossevo.evolve(run_dir, workers=workers, **settings)
    wall = time.perf_counter() - started
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        show_run(run.run_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.txt").write_text(text.getvalue())
    report = {**run.to_json(), "wall_seconds": round(wall, 1)}
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    for name in ("progress", "verdict"):
        if (run.run_dir / f"{name}.png").exists():
            shutil.copyfile(run.run_dir / f"{name}.png", args.out / f"fig_{name}.png")
    print(text.getvalue())
    print(f"wall time: {wall / 60:.1f} min")


if __name__ == "__main__":
    main()
