"""The job pipeline: real probe training on a real serial executor into a real run store."""

from __future__ import annotations

import pytest

from lossevo.loss.reference import reference_loss
from lossevo.runs.executors import SerialExecutor
from lossevo.runs.pipeline import Destination, Work, pending, run_jobs
from lossevo.runs.store import RunStore


def works(stage: str, seeds=(0, 1)) -> list[Work]:
    payload = {"loss": reference_loss("bce").to_dict(), "steps": 5}
    return [
        Work({**payload, "seed": seed}, Destination("fpB", "bce", seed, 5, stage, "baseline"))
        for seed in seeds
    ]


def test_results_land_where_the_destination_says(tmp_path):
    with RunStore.create(tmp_path / "run", {}, kind="promote") as store:
        executor = SerialExecutor("probe", {})
        todo = pending(works("a") + works("a") + works("b", seeds=(0,)), store)
        assert len(todo) == 3  # the repeated destinations are dropped
        seen = []
        stored = run_jobs(
            store,
            executor,
            todo,
            label="t",
            progress=False,
            on_result=lambda w, r: seen.append(w.destination),
        )
        assert stored == 3 and seen == [w.destination for w in todo]
        rows = store.evaluations()
        assert [(r["stage"], r["fingerprint"], r["key"], r["seed"], r["budget"]) for r in rows] == [
            ("a", "fpB", "bce", 0, 5),
            ("a", "fpB", "bce", 1, 5),
            ("b", "fpB", "bce", 0, 5),
        ]
        # the same loss and seed trains to the same result in either stage: deterministic
        assert rows[0]["fitness"] == rows[2]["fitness"] and rows[0]["status"] == "ok"
        assert pending(works("a") + works("b", seeds=(0, 1)), store) == works("b", seeds=(1,))


def test_two_jobs_for_one_destination_are_refused(tmp_path):
    with RunStore.create(tmp_path / "run", {}, kind="promote") as store:
        with pytest.raises(ValueError, match="share a destination"):
            run_jobs(store, SerialExecutor("probe", {}), works("a") * 2, label="t", progress=False)


def test_a_failed_job_is_stored_and_logged_with_its_destination(tmp_path):
    with RunStore.create(tmp_path / "run", {}, kind="search") as store:
        broken = Work(
            {"loss": {"formula": "frob(y_pred)"}, "seed": 0, "steps": 5},
            Destination("fpX", "kX", 0, 5),
        )
        assert (
            run_jobs(store, SerialExecutor("probe", {}), [broken], label="t", progress=False) == 1
        )
        (row,) = store.evaluations()
        assert (row["stage"], row["status"], row["attempts"]) == ("search", "failed", 2)
        (event,) = [e for e in store.events() if e["kind"] == "failed"]
        assert event["message"].startswith("candidate kX seed 0: ") and "\n" not in event["message"]
