"""Confirm the demonstration search's answer on fresh seeds: ``experiments/confirm_demo.yaml``.

    python experiments/confirm_demo.py [--run DIR] [--out DIR] [--workers 2]

Promotes the demonstration run's top 2 with least squares and BCE through one stage at the CPU
target on seeds 2000-2009 (``lossevo promote``: resumable, its report.md beside), then tests
each function against least squares and against BCE with the search's own verdict statistics:
the geometric-mean ratio over paired seeds, a bootstrap 95% CI, and a one-sided sign-flip p,
Holm-corrected over the functions. Writes ``confirm.txt`` and ``confirm.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lossevo
from lossevo.fitness.scores import finite_or_none
from lossevo.report.verdict import verdict, verdict_text
from lossevo.runs.store import RunStore

HERE = Path(__file__).parent
STAGE = "digits8-fresh"


def scores(out: Path) -> tuple[dict[str, dict[int, float | None]], dict[str, str]]:
    """Each promoted loss's FID per seed at the stage, and its formula text by name."""
    with RunStore.open(out, kind="promote", readonly=True) as store:
        texts = {c["key"]: c["text"] for c in store.candidates()}
        values: dict[str, dict[int, float | None]] = {}
        for e in store.evaluations(stage=STAGE):
            values.setdefault(e["key"], {})[e["seed"]] = finite_or_none(e)
    return values, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=HERE / "results" / "demo_search" / "run")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "demo_confirm")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    lossevo.promote(args.run, HERE / "confirm_demo.yaml", args.out, top=2, workers=args.workers)
    values, texts = scores(args.out)
    found = {texts.get(k, k): v for k, v in values.items() if k.startswith("rank")}
    lines, results = [], {}
    for control in ("least_squares", "bce"):
        others = {
            **found,
            **({"least_squares": values["least_squares"]} if control == "bce" else {}),
        }
        result = verdict(others, values[control], control_name=control)
        results[control] = result
        lines += [f"Against {control}, seeds 2000-2009, 1,500 steps:", verdict_text(result), ""]
    text = "\n".join(lines)
    (args.out / "confirm.txt").write_text(text)
    (args.out / "confirm.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(text)


if __name__ == "__main__":
    main()
