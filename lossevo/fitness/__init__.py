"""What a fitness is: tasks that evaluate one loss under one seed and budget, as plain data.

A task is built once per worker from a JSON-able config (so Ray actors keep data and feature
extractors loaded) and then evaluates jobs. A job is ``{"loss": LossSpec.to_dict(), "seed": int,
"steps": int}``; a result is a dict with at least ``status`` ("ok" | "diverged" | "failed"),
``fitness`` (lower is better; None unless ok), ``metrics``, ``curves``, ``seconds``, ``error``.

:data:`TASKS` is the one registry: executors build tasks from it, study files validate their
task options with each task's ``Config``, and the CLI offers its names. Its classes are
imported on first use, so that importing this package (for the names, or for a light module
such as :mod:`lossevo.fitness.scores`) does not import torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Protocol


class Task(Protocol):
    """What every task provides; ``Config`` validates its options without loading any data."""

    Config: Any

    @classmethod
    def from_config(cls, config: dict) -> Task: ...

    def evaluate(self, job: dict) -> dict: ...

    def describe(self) -> dict: ...


class _TaskRegistry(Mapping):
    """Task name -> task class, each class imported the first time it is looked up."""

    def __init__(self, where: dict[str, str]) -> None:
        self._where = where  # name -> "module:Class"

    def __getitem__(self, kind: str) -> type[Task]:
        module, _, name = self._where[kind].partition(":")
        return getattr(importlib.import_module(module), name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __repr__(self) -> str:
        return f"TASKS({self._where!r})"


#: Task names and the class that implements each.
TASKS: Mapping[str, type[Task]] = _TaskRegistry(
    {
        "gan": "lossevo.fitness.gan:GanTask",
        "anomaly": "lossevo.fitness.anomaly:AnomalyTask",
        "probe": "lossevo.fitness.probe:ProbeTask",
    }
)


def task_class(kind: str) -> type[Task]:
    """The task class registered as ``kind``."""
    if kind not in TASKS:
        from lossevo.fitness.checks import TaskConfigError

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
        from lossevo.fitness.checks import TaskConfigError

        raise TaskConfigError(f"bad {kind} task options ({e}); see lossevo search --help") from None
