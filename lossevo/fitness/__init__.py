"""What a fitness is: tasks that evaluate one loss under one seed and budget, as plain data.

A task is built once per worker from a JSON-able config (so Ray actors keep data and feature
extractors loaded) and then evaluates jobs. A job is ``{"loss": LossSpec.to_dict(), "seed": int,
"steps": int}``; a result is a dict with at least ``status`` ("ok" | "diverged" | "failed"),
``fitness`` (lower is better; None unless ok), ``metrics``, ``curves``, ``seconds``, ``error``.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from lossevo.util.errors import LossevoError


class Task(Protocol):
    def evaluate(self, job: dict) -> dict: ...


#: Task kinds and the module:class that implements each.
TASKS = {
    "gan": "lossevo.fitness.gan:GanFitness",
    "anomaly": "lossevo.fitness.anomaly:AnomalyTask",
    "probe": "lossevo.fitness.probe:ProbeTask",
}


class TaskError(LossevoError):
    """An unknown task, or task options it does not take."""


def _task_class(kind: str) -> type:
    if kind not in TASKS:
        raise TaskError(f"unknown task {kind!r}; known tasks: {', '.join(TASKS)}")
    module_name, class_name = TASKS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_task(kind: str, config: dict) -> Task:
    """Build the task ``kind`` from its plain-data config."""
    return _task_class(kind).from_config(config)


def validate_task(kind: str, config: dict) -> None:
    """Refuse a bad task config in one line before any work: with the task's own cheap
    ``check_config`` where it has one (data is not loaded), else by building it."""
    cls = _task_class(kind)
    check = getattr(cls, "check_config", None)
    try:
        check(config) if check is not None else cls.from_config(config)
    except TypeError as e:  # a dataclass given options it does not take
        raise TaskError(f"bad {kind} task options ({e}); see lossevo search --help") from None
