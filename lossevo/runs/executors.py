"""Where evaluations run: jobs go out as plain data, results come back as plain data.

An executor takes :class:`Job` s (a task job dict under an id) and yields ``(job, result)`` pairs
as they complete, so the caller can store each result at once and a crash loses at most the jobs
in flight. Given a ``deque``, it consumes it live: jobs the caller appends while handling a
result are run in the same pass, so a worker never waits for a batch to finish (a race
promotes each function to its next seed as soon as its own trainings are in).
Only JSON-able dicts cross process boundaries: never DEAP objects, lambdas or models.

One job never stops a search. An exception in the task, a worker that dies, or (Ray only) a job
that runs past ``timeout_s`` is retried ``max_retries`` more times, then yielded as a failed
result. Every result carries ``attempts``; a result the task produced also ``worker_pid``.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from lossevo.fitness import make_task
from lossevo.util.errors import LossevoError

Progress = Callable[["Job", dict], None]
_ERROR = "__executor_error__"  # key under which a worker reports an exception in the task


class ExecutorError(LossevoError):
    """A user-facing problem with how evaluations are run (bad address, bad worker count)."""


@dataclass(frozen=True)
class Job:
    """One evaluation: ``payload`` is the task's job dict (loss, seed, steps), plain data only."""

    job_id: str
    payload: dict


Jobs = list[Job] | deque[Job]


class Executor(Protocol):
    def run(self, jobs: Jobs, progress: Progress | None = None) -> Iterator[tuple[Job, dict]]: ...

    def close(self) -> None: ...


def failed_result(error: str, attempts: int, seconds: float) -> dict:
    """The result of a job that never produced one: no fitness, the last error kept."""
    return {
        "status": "failed",
        "fitness": None,
        "metrics": {},
        "curves": {},
        "seconds": seconds,
        "error": error,
        "attempts": attempts,
    }


def _describe(exc: BaseException) -> str:
    """A one-line reason, then the traceback text."""
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    trace = "".join(traceback.format_exception(exc))
    return f"{reason}\n{trace}"


class _EvalWorker:
    """Holds one task, built once, and evaluates jobs; exceptions come back as data."""

    def __init__(self, task_kind: str, task_config: dict, threads: int | None = None):
        self.build_error: str | None = None
        try:
            if threads is not None:
                import torch

                torch.set_num_threads(threads)
                import torch._dynamo  # noqa: F401  (the first optimizer imports it, for seconds)
            self.task = make_task(task_kind, task_config)
        except Exception as exc:  # reported by ready(): Ray's wrapping would bury the reason
            self.build_error = f"cannot build task {task_kind!r}: {_describe(exc).splitlines()[0]}"

    def ready(self) -> str | None:
        """None once the task is built, else why it could not be."""
        return self.build_error

    def evaluate(self, payload: dict) -> dict:
        try:
            result = dict(self.task.evaluate(payload))
        except Exception as exc:  # the task's failure, reported to the driver as data
            return {_ERROR: _describe(exc)}
        result["worker_pid"] = os.getpid()
        return result

    def pid(self) -> int:
        return os.getpid()


class _Base:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        pass


class SerialExecutor(_Base):
    """Runs jobs one after another in this process; the task is built on first use, with
    ``threads`` torch threads if given (the previous count comes back on :meth:`close`).

    Exceptions are retried like on Ray, but ``timeout_s`` cannot be enforced in-process.
    """

    def __init__(
        self,
        task_kind: str,
        task_config: dict,
        *,
        max_retries: int = 1,
        threads: int | None = None,
    ):
        self.task_kind, self.task_config, self.max_retries = task_kind, task_config, max_retries
        self.threads, self._threads_before = threads, None
        self._worker: _EvalWorker | None = None

    def close(self) -> None:
        """Give the process back the torch thread count it had before the first job."""
        if self._threads_before is not None:
            import torch

            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def run(self, jobs: Jobs, progress: Progress | None = None) -> Iterator[tuple[Job, dict]]:
        if self._worker is None:
            if self.threads is not None:
                import torch

                self._threads_before = torch.get_num_threads()
            worker = _EvalWorker(self.task_kind, self.task_config, self.threads)
            if worker.build_error is not None:
                raise ExecutorError(worker.build_error)
            self._worker = worker
        queue = jobs if isinstance(jobs, deque) else deque(jobs)
        while queue:
            job = queue.popleft()
            seconds = 0.0
            for attempt in range(1, self.max_retries + 2):
                start = time.perf_counter()
                result = self._worker.evaluate(job.payload)
                seconds += time.perf_counter() - start
                if _ERROR not in result:
                    result["attempts"] = attempt
                    break
                result = failed_result(result[_ERROR], attempt, seconds)
            yield from _emit(job, result, progress)


def _emit(job: Job, result: dict, progress: Progress | None) -> Iterator[tuple[Job, dict]]:
    if progress is not None:
        progress(job, result)
    yield job, result


def _root_cause(exc: BaseException) -> str:
    """The first line of the innermost cause: Ray wraps the useful reason several times."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail fast on a dead address: ``ray.init`` would otherwise retry for minutes."""
    if address == "auto":
        return
    host, _, port = address.split("://")[-1].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise ExecutorError(
            f"cannot reach a Ray cluster at {address}: {exc}; start one with "
            "'ray start --head' or drop --ray-address"
        ) from exc


@dataclass
class _Flight:
    """A job running on an actor: its attempt number, start time and time spent so far."""

    job: Job
    actor: Any
    attempt: int
    started: float
    spent: float


class RayExecutor(_Base):
    """Runs jobs on long-lived Ray actors, one job per actor at a time.

    Each actor builds the task once, so data and feature extractors load once per worker.
    Uses the Ray session already initialised in this process if there is one, else connects to
    ``address``, else starts a local cluster with ``workers`` CPUs (shut down again by
    :meth:`close`). A dead or timed-out actor is replaced. The cluster's workers must be able to
    import lossevo. The address check is a TCP probe; an open port that is not Ray can still hang.
    Ray >= 2.5x: ``ray start`` enables token auth but ``ray.init(address=...)`` sends no token
    unless ``RAY_AUTH_MODE=token`` is set.
    """

    def __init__(
        self,
        task_kind: str,
        task_config: dict,
        *,
        workers: int = 2,
        address: str | None = None,
        gpus_per_eval: float = 0.0,
        timeout_s: float | None = None,
        max_retries: int = 1,
    ):
        if workers < 1:
            raise ExecutorError(f"workers must be at least 1, got {workers}")
        if timeout_s is not None and timeout_s <= 0:
            raise ExecutorError(f"timeout_s must be positive, got {timeout_s}")
        if address is not None:
            _check_reachable(address)
        import ray

        self._idle: list = []
        self._starting: dict = {}  # ready() ref -> actor being built
        self._start_failures = 0
        self.task_kind, self.task_config, self.workers = task_kind, task_config, workers
        self.gpus_per_eval, self.timeout_s, self.max_retries = gpus_per_eval, timeout_s, max_retries
        self._started_ray = False
        if not ray.is_initialized():
            if address is not None:
                try:
                    ray.init(address=address, log_to_driver=False)
                except Exception as exc:
                    cause = _root_cause(exc)
                    hint = (
                        "set RAY_AUTH_MODE=token to send the token in ~/.ray/auth_token"
                        if "AuthenticationError" in cause
                        else "start one with 'ray start --head' or drop --ray-address"
                    )
                    raise ExecutorError(
                        f"cannot reach a Ray cluster at {address}: {cause}; {hint}"
                    ) from exc
            else:
                import torch

                # "local": a fresh cluster even where a stale /tmp/ray/ray_current_cluster exists
                ray.init(
                    address="local",
                    num_cpus=workers,
                    num_gpus=int(torch.cuda.is_available()),
                    include_dashboard=False,
                    log_to_driver=False,
                    ignore_reinit_error=True,
                )
            self._started_ray = True
        gpus = ray.cluster_resources().get("GPU", 0)
        if gpus_per_eval > gpus:
            self.close()
            raise ExecutorError(
                f"gpus_per_eval={gpus_per_eval} but the Ray cluster has {gpus:g} GPUs"
            )
        self._actor_cls = ray.remote(_EvalWorker).options(
            num_cpus=1, num_gpus=gpus_per_eval, max_restarts=0, max_task_retries=0
        )

    def _spawn(self) -> None:
        actor = self._actor_cls.remote(self.task_kind, self.task_config, 1)
        self._starting[actor.ready.remote()] = actor

    def _kill(self, actor) -> None:
        import ray

        ray.kill(actor, no_restart=True)

    def _started(self, ref) -> None:
        """An actor answered ready(): put it to work, or replace it if it died starting."""
        import ray

        actor = self._starting.pop(ref)
        try:
            build_error = ray.get(ref)
        except Exception as exc:  # died while starting (memory, node loss): try a few times
            self._start_failures += 1
            if self._start_failures > 3:
                raise ExecutorError(
                    f"Ray workers keep dying while starting: {_root_cause(exc)}"
                ) from exc
            self._spawn()
            return
        if build_error is not None:
            raise ExecutorError(build_error)
        self._start_failures = 0
        self._idle.append(actor)

    def _settle(
        self, flight: _Flight, result: dict | None, error: str | None, spent: float, queue: deque
    ) -> dict | None:
        """The result to yield, or None when the job went back to the queue for a retry."""
        if error is None:
            return {**result, "attempts": flight.attempt}
        if flight.attempt <= self.max_retries:
            queue.appendleft((flight.job, flight.attempt + 1, spent))
            return None
        return failed_result(error, flight.attempt, spent)

    def run(self, jobs: Jobs, progress: Progress | None = None) -> Iterator[tuple[Job, dict]]:
        import ray
        from ray.exceptions import RayActorError

        for _ in range(self.workers - len(self._idle) - len(self._starting)):
            self._spawn()
        fresh = jobs if isinstance(jobs, deque) else deque(jobs)
        queue: deque[tuple[Job, int, float]] = deque()  # retries, before any fresh job
        flights: dict = {}  # evaluate() ref -> _Flight
        try:
            while queue or fresh or flights:
                while (queue or fresh) and self._idle:
                    job, attempt, spent = queue.popleft() if queue else (fresh.popleft(), 1, 0.0)
                    actor = self._idle.pop()
                    ref = actor.evaluate.remote(job.payload)
                    flights[ref] = _Flight(job, actor, attempt, time.monotonic(), spent)
                wait = None
                if self.timeout_s is not None and flights:
                    first = min(f.started for f in flights.values())
                    wait = max(0.0, first + self.timeout_s - time.monotonic())
                done, _ = ray.wait([*flights, *self._starting], num_returns=1, timeout=wait)
                settled = []
                for ref in done:
                    if ref in self._starting:
                        self._started(ref)
                        continue
                    flight, result = flights.pop(ref), None
                    try:
                        result = ray.get(ref)
                        self._idle.append(flight.actor)
                        error = result.get(_ERROR)
                    except Exception as exc:  # the actor died or is unusable: replace it
                        error = (
                            f"worker died ({type(exc).__name__})\n{exc}"
                            if isinstance(exc, RayActorError)
                            else _describe(exc)
                        )
                        self._kill(flight.actor)
                        self._spawn()
                    spent = flight.spent + time.monotonic() - flight.started
                    settled.append((flight, self._settle(flight, result, error, spent, queue)))
                now = time.monotonic()
                for ref, flight in list(flights.items()):
                    if self.timeout_s is not None and now - flight.started >= self.timeout_s:
                        del flights[ref]
                        self._kill(flight.actor)
                        self._spawn()
                        error, spent = f"timed out after {self.timeout_s:g} s", now - flight.started
                        out = self._settle(flight, None, error, flight.spent + spent, queue)
                        settled.append((flight, out))
                for flight, out in settled:
                    if out is not None:
                        yield from _emit(flight.job, out, progress)
        finally:  # an abandoned run leaves busy actors: drop them so the next run starts clean
            for flight in flights.values():
                self._kill(flight.actor)

    def close(self) -> None:
        """Kill the actors, and shut Ray down if this executor started it."""
        import ray

        if ray.is_initialized():
            for actor in [*self._idle, *self._starting.values()]:
                self._kill(actor)
        self._idle, self._starting = [], {}
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False


#: Tasks cheap enough (seconds a job) that starting Ray would cost more than it saves: they run
#: in-process unless workers are asked for.
IN_PROCESS_TASKS = ("probe",)


def cores() -> int:
    """CPU cores this process may use (its affinity, which a container or ``taskset`` limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Execution:
    """How evaluations run, shared by search, resume, replay and promote; checked on creation.

    ``workers=None`` (the default) is one worker per core for a GAN task and in-process for the
    probe task; ``workers=1`` without an address is in-process. Why: on this 2-core CPU Ray
    takes 10 s to start and 14 s more to start two actors, which one round of 8x8 GAN
    trainings (20 s and more each, on one core) repays, while a smoke-size probe search
    (population 4, one generation) is done in-process before Ray is up. Every executor trains
    on one torch thread: an 8x8 target training took 22-25 s on one thread against 30-190 s
    on torch's default two whenever anything else ran, and one thread everywhere makes a seed
    score the same in-process and on Ray.
    """

    workers: int | None = None
    address: str | None = None
    gpus_per_eval: float = 0.0
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        w = self.workers
        if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 1):
            raise ExecutorError(f"--workers must be a whole number of at least 1, got {w!r}")
        if self.address is not None and (not isinstance(self.address, str) or not self.address):
            raise ExecutorError(f"--ray-address must be host:port or 'auto', got {self.address!r}")
        g = self.gpus_per_eval
        if isinstance(g, bool) or not isinstance(g, int | float) or not 0 <= g < float("inf"):
            raise ExecutorError(f"--gpus-per-eval must be 0 or more (e.g. 0.25), got {g!r}")
        t = self.timeout_s
        if t is not None and (
            isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t < float("inf")
        ):
            raise ExecutorError(f"--eval-timeout must be a positive number of seconds, got {t!r}")

    def workers_for(self, task_kind: str) -> int:
        """The worker count for ``task_kind``: as given, else one per core (1 for the probe)."""
        if self.workers is not None:
            return self.workers
        return 1 if task_kind in IN_PROCESS_TASKS and self.address is None else cores()


def make_executor(
    task_kind: str, task_config: dict, execution: Execution | None = None, **options
) -> Executor:
    """In-process for one local worker, else Ray (always Ray when a cluster address is given).

    ``execution`` says how; or give its fields as keywords (``workers=2, address=...``).
    """
    if execution is None:
        if "ray_address" in options:
            options["address"] = options.pop("ray_address")
        execution = Execution(**options)
    elif options:
        raise TypeError("make_executor takes an Execution or its fields, not both")
    workers = execution.workers_for(task_kind)
    if workers == 1 and execution.address is None:
        return SerialExecutor(task_kind, task_config, threads=1)
    return RayExecutor(
        task_kind,
        task_config,
        workers=workers,
        address=execution.address,
        gpus_per_eval=execution.gpus_per_eval,
        timeout_s=execution.timeout_s,
    )
