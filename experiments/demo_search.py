"""Run the README's demonstration search and keep its report: ``experiments/demo_search.yaml``.

    python experiments/demo_search.py [--config experiments/demo_search.yaml] [--out DIR]

The run directory is ``--run-dir`` (default runs/demo_search; run the script again after a
crash and it resumes); the report
``DIR/report.txt`` is what ``lossevo show`` prints, ``DIR/report.json`` what ``--json`` prints.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
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
    if (run_dir / "run.db").exists():
        run = lossevo.resume(run_dir, workers=workers)
    else:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        run = lossevo.evolve(run_dir, workers=workers, **settings)
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        show_run(run.run_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.txt").write_text(text.getvalue())
    (args.out / "report.json").write_text(json.dumps(run.to_json(), indent=2, default=str) + "\n")
    print(text.getvalue())


if __name__ == "__main__":
    main()
