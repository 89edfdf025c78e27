"""What a fitness is: tasks that evaluate one loss under one seed and budget, as plain data.

A task is built once per worker from a JSON-able config (so Ray actors keep data and feature
extractors loaded) and then evaluates jobs. A job is ``{"loss": LossSpec.to_dict(), "seed": int,
"steps": int}``; a result is a dict with at least ``status`` ("ok" | "diverged" | "failed"),
``fitness`` (lower is better; None unless ok), ``metrics``, ``curves``, ``seconds``, ``error``.
"""

from __future__ import annotations

import importlib
from typing import Protocol


class Task(Protocol):
    def evaluate(self, job: dict) -> dict: ...


#: Task kinds and the module:class that implements each.
TASKS = {
    "gan": "lossevo.fitness.gan:GanFitness",
    "anomaly": "lossevo.fitness.anomaly:AnomalyTask",
    "probe": "lossevo.fitness.probe:ProbeTask",
}


def make_task(kind: str, config: dict) -> Task:
    """Build the task ``kind`` from its plain-data config."""
    if kind not in TASKS:
        raise ValueError(f"unknown task {kind!r}; known tasks: {', '.join(TASKS)}")
    module_name, class_name = TASKS[kind].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_config(config)
