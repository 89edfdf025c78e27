"""One job pipeline for search, replay and promotion: run jobs, store each result as it arrives.

A job is two things kept apart: what the task needs (the payload: loss, seed, steps, options
such as ``grid``) and where its result goes (a :class:`Destination`). The executor only ever
sees payloads; the destination stays in this process and names the store row, so nothing is
packed into an id and parsed back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tqdm import tqdm

from lossevo.runs.executors import Executor, Job
from lossevo.runs.store import RunStore
from lossevo.util.fmt import fmt_number


@dataclass(frozen=True)
class Destination:
    """Where one result is stored: the loss (fingerprint, key), seed, budget, stage, role."""

    fingerprint: str
    key: str
    seed: int
    budget: int
    stage: str = "search"
    role: str = "candidate"
    name: str = field(
        default="", compare=False
    )  # what progress bars show (a formula's text); not part of the row

    @property
    def job_id(self) -> str:
        """A unique label for the executor; never parsed back."""
        return f"{self.stage}|{self.fingerprint}|{self.seed}|{self.budget}"

    def is_stored(self, store: RunStore) -> bool:
        """True if this result is already in ``store`` (training is deterministic: skip it)."""
        found = store.get_evaluation(self.fingerprint, self.seed, self.budget, stage=self.stage)
        return found is not None


@dataclass(frozen=True)
class Work:
    """A job: the task's payload and where its result goes."""

    payload: dict
    destination: Destination


OnResult = Callable[[Work, dict], None]
#: After a result is stored: the works it unlocks (a race's next seed), run in the same pass.
Then = Callable[[Work], list[Work]]


def pending(works: list[Work], store: RunStore) -> list[Work]:
    """``works`` without those already stored or listed twice, in order."""
    seen, out = set(), []
    for work in works:
        dest = work.destination
        if dest in seen or dest.is_stored(store):
            continue
        seen.add(dest)
        out.append(work)
    return out


def _store_result(store: RunStore, work: Work, result: dict) -> bool:
    dest = work.destination
    stored = store.put_evaluation(
        dest.fingerprint, dest.key, dest.seed, dest.budget, result, stage=dest.stage
    )
    if result["status"] == "failed":
        reason = next(iter((result.get("error") or "").splitlines()), "")
        store.log("failed", f"{dest.role} {dest.key} seed {dest.seed}: {reason}")
    return stored


def run_jobs(
    store: RunStore,
    executor: Executor,
    works: list[Work],
    *,
    label: str,
    progress: bool = True,
    on_result: OnResult | None = None,
    then: Then | None = None,
) -> int:
    """Run ``works`` on ``executor`` and store each result as it arrives; ``on_result(work,
    result)`` runs first (a replay writes its sample grid there); ``then(work)`` runs after the
    result is stored and returns more works, which join the executor's queue at once (those
    stored or queued already are skipped). Returns the count stored."""
    by_id = {work.destination.job_id: work for work in works}
    if len(by_id) != len(works):
        raise ValueError("two jobs share a destination; pass them through pending() first")
    bar = tqdm(total=len(works), desc=label, unit="run", disable=not progress, leave=False)
    stored = 0
    try:
        jobs = deque(Job(job_id, work.payload) for job_id, work in by_id.items())
        for job, result in executor.run(jobs):
            work = by_id[job.job_id]
            if on_result is not None:
                on_result(work, result)
            stored += _store_result(store, work, result)
            for new in pending(then(work) if then else [], store):
                if new.destination.job_id not in by_id:
                    by_id[new.destination.job_id] = new
                    jobs.append(Job(new.destination.job_id, new.payload))
                    bar.total += 1
            bar.update(1)
            dest = work.destination
            bar.set_postfix_str(
                f"{dest.name or dest.key} seed {dest.seed}: {result['status']} "
                f"{fmt_number(result.get('fitness'), empty='')}"
            )
    finally:
        bar.close()
    return stored
