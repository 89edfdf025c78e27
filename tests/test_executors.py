"""Executors on a real Ray cluster with the real probe task: results, crashes, failures, timeouts.

The cluster and one two-actor executor are shared by the module: starting Ray and importing torch
in each actor take most of the time here. The cluster has 2 CPUs, so an executor with its own
actors (the timeout test) must finish before the shared one is created.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

ray = pytest.importorskip("ray")

from lossevo.loss.reference import reference_loss  # noqa: E402
from lossevo.runs.executors import (  # noqa: E402
    ExecutorError,
    Job,
    RayExecutor,
    SerialExecutor,
    make_executor,
)

BAD_LOSS = {
    "name": "bad",
    "formula": "y_pred +* (",
    "transform": "sigmoid",
    "generator": "non_saturating",
}


def job(job_id: str, loss: str | dict = "bce", seed: int = 0, steps: int = 50) -> Job:
    spec = reference_loss(loss).to_dict() if isinstance(loss, str) else loss
    return Job(job_id, {"loss": spec, "seed": seed, "steps": steps})


def small_batch() -> list[Job]:
    names = ["bce", "hinge", "least_squares", "wasserstein", "bce", "hinge"]
    return [job(f"j{i}", name, seed=i) for i, name in enumerate(names)]


@pytest.fixture(scope="module")
def cluster():
    started = not ray.is_initialized()  # another module may have left one running
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def shared(cluster):
    with RayExecutor("probe", {}, workers=2) as executor:
        yield executor


@pytest.fixture(scope="module")
def serial():
    with SerialExecutor("probe", {}) as executor:
        yield executor


def test_unreachable_address_fails_fast_before_touching_ray():
    initialized, start = ray.is_initialized(), time.monotonic()
    with pytest.raises(ExecutorError, match="cannot reach a Ray cluster at 127.0.0.1:1"):
        make_executor("probe", {}, address="127.0.0.1:1")
    assert time.monotonic() - start < 10 and ray.is_initialized() == initialized
    with pytest.raises(ExecutorError, match="workers"):
        make_executor("probe", {}, workers=0)
    assert isinstance(make_executor("probe", {}), SerialExecutor)
    with pytest.raises(
        ExecutorError,
        match=r"cannot build task 'probe': TaskConfigError: unknown probe task option\(s\): bogus",
    ):
        list(make_executor("probe", {"bogus": 1}).run([job("a")]))


@pytest.mark.slow  # a local Ray cluster
def test_timeout_kills_and_reports_the_slow_job(cluster):
    jobs = [job("slow", steps=1_000_000)] + [job(f"quick{i}", seed=i) for i in range(3)]
    with RayExecutor("probe", {}, workers=2, timeout_s=3.0) as executor:
        results = {j.job_id: r for j, r in executor.run(jobs)}
    slow = results.pop("slow")
    assert slow["status"] == "failed" and slow["attempts"] == 2
    assert slow["error"].startswith("timed out after 3 s") and slow["seconds"] >= 6
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in results.values())


@pytest.mark.slow  # a local Ray cluster
def test_serial_and_ray_agree(serial, shared):
    jobs = small_batch()
    progressed = []
    expected = {j.job_id: r for j, r in serial.run(jobs)}
    got = {j.job_id: r for j, r in shared.run(jobs, lambda j, r: progressed.append(j))}
    assert sorted(got) == sorted(expected) == sorted(j.job_id for j in jobs)
    assert len(progressed) == len(jobs)
    for job_id, result in got.items():
        assert result["status"] == "ok" and result["attempts"] == 1
        assert result["fitness"] == expected[job_id]["fitness"]
        json.dumps(result)  # plain data only
    pids = {r["worker_pid"] for r in got.values()}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids  # two long-lived actors
    again = {r["worker_pid"] for _, r in shared.run(small_batch()[:2])}
    assert again <= pids or len(pids) == 1  # the same actors serve the next batch


@pytest.mark.slow  # a local Ray cluster
def test_failing_job_is_reported_after_a_retry(serial, shared):
    jobs = [job("bad", BAD_LOSS), job("good1", seed=1), job("good2", "hinge")]
    serial_results = {j.job_id: r for j, r in serial.run(jobs)}
    ray_results = {j.job_id: r for j, r in shared.run(jobs)}
    for results in (serial_results, ray_results):
        bad = results["bad"]
        assert bad["status"] == "failed" and bad["fitness"] is None and bad["attempts"] == 2
        assert bad["error"].startswith("FormulaError: formula does not parse")
        assert "Traceback" in bad["error"]
        assert results["good1"]["status"] == results["good2"]["status"] == "ok"
        json.dumps(results)


@pytest.mark.slow  # a local Ray cluster
def test_killed_actor_job_is_retried_on_a_replacement(shared):
    # identical payloads: equal fitness; 8,000 probe steps take 1.2 s alone, so a kill 0.3 s
    # after dispatch lands mid-evaluation (1,500 steps took 0.25 s: the job could finish first)
    jobs = [job(f"long{i}", steps=8000) for i in range(3)]
    results, killed = {}, []
    for j, result in shared.run(jobs):
        assert j.job_id not in results
        results[j.job_id] = result
        if not killed:  # that actor takes the queued job at once: kill it mid-evaluation
            killed.append(result["worker_pid"])
            threading.Timer(0.3, os.kill, (killed[0], signal.SIGKILL)).start()
    assert sorted(results) == sorted(j.job_id for j in jobs)
    assert all(r["status"] == "ok" for r in results.values())
    retried = [r for r in results.values() if r["attempts"] == 2]
    assert len(retried) == 1 and retried[0]["worker_pid"] != killed[0]
    assert len({r["fitness"] for r in results.values()}) == 1
    [(_, after)] = shared.run(small_batch()[:1])  # the pool is whole again
    assert after["status"] == "ok"


def _descends_from_us(pid: int) -> bool:
    """True if ``pid`` is a descendant of this test process (the test's own Ray cluster), so
    another Ray job on the machine is never killed."""
    while pid > 1:
        if pid == os.getpid():
            return True
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def _busy_actor_pids() -> list[int]:
    """This test's processes whose title says a Ray actor is inside ``evaluate`` right now."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if b"_EvalWorker.evaluate" in fh.read() and _descends_from_us(int(entry)):
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


@pytest.mark.slow  # a local Ray cluster
def test_search_through_ray_survives_a_killed_actor_and_equals_serial(shared, tmp_path):
    from test_search import snapshot, tiny

    from lossevo.search.run import create_run, run_on, start_search

    config = tiny(steps=600, verdict_steps=600, generations=1)  # a kill lands in generation 0
    killed: list[int] = []

    def killer():
        deadline = time.time() + 120
        while not killed and time.time() < deadline:
            for pid in _busy_actor_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.005)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    with create_run(tmp_path / "ray", config) as store:
        run_on(store, config, shared, echo=lambda s: None, progress=False)
        retried = [e for e in store.evaluations() if e["attempts"] and e["attempts"] > 1]
    thread.join()
    serial = start_search(tmp_path / "serial", config, echo=lambda s: None, progress=False)
    assert killed, "no evaluation was caught in flight"
    assert retried, "the killed evaluation was not retried"
    assert snapshot(tmp_path / "ray") == snapshot(serial)
