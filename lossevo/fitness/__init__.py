"""What a fitness is: tasks that evaluate one loss under one seed and budget, as plain data.

A task is built once per worker from a JSON-able config (so Ray actors keep data and feature
extractors loaded) and then evaluates jobs. A job is ``{"loss": LossSpec.to_dict(), "seed": int,
"steps": int}``; a result is a dict with at least ``status`` ("ok" | "diverged" | "failed"),
``fitness`` (lower is better; None unless ok), ``metrics``, ``curves``, ``seconds``, ``error``.

:data:`TASKS` is the one registry: executors build tasks from it, study files validate their
task options with each task's ``Config``, and the CLI offers its names.
"""

from __future__ import annotations

from typing import Any, Protocol

from lossevo.fitness.anomaly import AnomalyTask
from lossevo.fitness.checks import TaskConfigError
from lossevo.fitness.gan import GanTask
from lossevo.fitness.probe import ProbeTask


class Task(Protocol):
    """What every task provides; ``Config`` validates its options without loading any data."""

    Config: Any

    @classmethod
    def from_config(cls, config: dict) -> Task: ...

    def evaluate(self, job: dict) -> dict: ...

    def describe(self) -> dict: ...


#: Task names and the class that implements each.
TASKS: dict[str, type[Task]] = {"gan": GanTask, "anomaly": AnomalyTask, "probe": ProbeTask}


def task_class(kind: str) -> type[Task]:
    """The task class registered as ``kind``."""
    if kind not in TASKS:
        raise TaskConfigError(f"unknown task {kind!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[kind]


def check_task_config(kind: str, config: dict) -> None:
    """Validate ``config`` with the task's own Config class; no data is loaded."""
    task_class(kind).Config.from_config(config)


def make_task(kind: str, config: dict) -> Task:
    """Build the task ``kind`` from its plain-data config."""
    return task_class(kind).from_config(config)


def validate_task(kind: str, config: dict) -> None:
    """Refuse a bad task config in one line before any work: with the task's own cheap
    ``check_config`` where it has one (data is not loaded), else by building it."""
    cls = task_class(kind)
    check = getattr(cls, "check_config", None)
    try:
        check(config) if check is not None else cls.from_config(config)
    except TypeError as e:  # a dataclass given options it does not take
        raise TaskConfigError(f"bad {kind} task options ({e}); see lossevo search --help") from None
