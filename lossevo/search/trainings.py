"""The search's trainings: (function, seed) pairs as jobs, run on the executor, stored.

Each pair becomes a job whose payload is the function's spec as plain data and whose
destination is its store row; pairs already stored are skipped (training is deterministic),
so a resumed search trains only what it had not finished.
"""

from __future__ import annotations

from collections.abc import Callable

from lossevo.runs.pipeline import Destination, Work, pending, run_jobs
from lossevo.runs.store import RunStore
from lossevo.search.candidates import Candidates
from lossevo.search.racing import Then


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
    options: Callable[[str, int], dict] | None = None,
    then: Then | None = None,
) -> int:
    """Train (fingerprint, seed) pairs for ``steps`` at ``stage``, skipping stored ones;
    returns how many trainings ran. ``options(fp, seed)`` adds to a job's payload (its
    checkpoints and stop rule); ``then(fp)``, called once a result of ``fp`` is stored, returns
    the pairs it unlocks, trained in the same pass."""

    def work(fp: str, seed: int) -> Work:
        row, spec = candidates.by_fingerprint(fp)
        payload = {"loss": spec.to_dict(), "seed": seed, "steps": steps}
        payload.update(options(fp, seed) if options else {})
        name = row.get("name") or row["text"]
        return Work(payload, Destination(fp, row["key"], seed, steps, stage, row["role"], name))

    def unlocked(done: Work) -> list[Work]:
        return [work(fp, seed) for fp, seed in then(done.destination.fingerprint)]

    works = pending([work(fp, seed) for fp, seed in pairs], store)
    if not works:
        return 0
    return run_jobs(
        store,
        executor,
        works,
        label=label,
        progress=progress,
        then=unlocked if then else None,
    )
