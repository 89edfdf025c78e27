"""The search's trainings: (function, seed) pairs as jobs, run on the executor, stored.

Each pair becomes a job whose payload is the function's spec as plain data and whose
destination is its store row; pairs already stored are skipped (training is deterministic),
so a resumed search trains only what it had not finished.
"""

from __future__ import annotations

from lossevo.runs.pipeline import Destination, Work, pending, run_jobs
from lossevo.runs.store import RunStore
from lossevo.search.candidates import Candidates


def train(
    store: RunStore,
    executor,
    candidates: Candidates,
    pairs: list[tuple[str, int]],
    *,
    steps: int,
    stage: str,
    label: str,
    progress: bool = True,
) -> int:
    """Train (fingerprint, seed) pairs for ``steps`` at ``stage``, skipping stored ones;
    returns how many trainings ran."""
    works = []
    for fp, seed in pairs:
        row, spec = candidates.by_fingerprint(fp)
        payload = {"loss": spec.to_dict(), "seed": seed, "steps": steps}
        name = row.get("name") or row["text"]
        destination = Destination(fp, row["key"], seed, steps, stage, row["role"], name)
        works.append(Work(payload, destination))
    works = pending(works, store)
    if works:
        run_jobs(store, executor, works, label=label, progress=progress)
    return len(works)
