"""A replay protocol: the losses, runs, budget and task config that define one measurement.

Also the validation every study file shares (strict keys, task configs checked by the task's own
config class), so a bad protocol or stage file fails in one line before anything is trained.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lossevo.fitness import TASKS, task_class
from lossevo.loss.reference import GANETIC_TABLE_LOSSES, LossSpec, resolve_loss
from lossevo.studies.published import PUBLISHED
from lossevo.util.errors import LossevoError
from lossevo.util.hashing import json_digest
from lossevo.util.yaml_io import load_yaml

PROTOCOL_KEYS = (
    "name",
    "description",
    "losses",
    "runs",
    "steps",
    "epochs",
    "task",
    "task_config",
    "baseline",
    "published",
    "checkpoints",
)


class ProtocolError(LossevoError):
    """A protocol or stage file, or a replay directory, is unusable; one line says why."""


def load_yaml_mapping(path: str | os.PathLike, keys: tuple[str, ...] | set[str], what: str) -> dict:
    """A YAML file as a dict whose top-level keys are all in ``keys`` (else ProtocolError)."""
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"no {what} file {path}")
    data = load_yaml(path, ProtocolError)
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}: a {what} must be a YAML mapping")
    check_keys(data, keys, str(path))
    return data


def check_keys(data: dict, keys, where: str) -> None:
    """Refuse the first unknown key, naming it and where it was found."""
    for key in data:
        if key not in keys:
            raise ProtocolError(f"{where}: unknown key {key!r} (known: {', '.join(keys)})")


def check_task_config(task: str, task_config: dict, where: str) -> dict:
    """A task's options, validated by the registered task's Config (unknown keys, bad values)."""
    if task not in TASKS:
        raise ProtocolError(f"{where}: unknown task {task!r}; use one of {', '.join(TASKS)}")
    if not isinstance(task_config, dict):
        raise ProtocolError(f"{where}: task_config must be a mapping")
    try:
        task_class(task).Config.from_config(task_config)
    except (TypeError, ValueError) as err:
        raise ProtocolError(f"{where}: task_config: {err}") from None
    return dict(task_config)


@dataclass(frozen=True)
class Protocol:
    """One replay protocol; ``digest()`` identifies it in a replay directory."""

    name: str
    runs: int
    task_config: dict
    losses: tuple[str, ...] = GANETIC_TABLE_LOSSES
    steps: int | None = None
    epochs: float | None = None
    task: str = "gan"
    baseline: str = "bce"
    published: str | None = None
    description: str = ""
    #: Steps below the budget at which each training is also scored (its learning curve).
    checkpoints: tuple[int, ...] = ()
    source: str = field(default="<memory>", compare=False)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("source")
        data["losses"] = list(self.losses)
        data["checkpoints"] = list(self.checkpoints)
        if not self.checkpoints:  # a protocol without a curve keeps its digest from before
            data.pop("checkpoints")
        return data

    def digest(self) -> str:
        """Hash of what defines the measurement: not the description, nor ``published`` (which
        only sets the report beside a published table): neither changes what is measured."""
        data = {k: v for k, v in self.to_dict().items() if k not in ("description", "published")}
        return json_digest(data)

    def resolve_steps(self, train_images: int) -> int:
        """``steps``, or ceil(epochs x training images / batch size)."""
        if self.steps is not None:
            return self.steps
        batch = int(self.task_config.get("batch_size", 64))
        return math.ceil(self.epochs * train_images / batch)

    def specs(self) -> dict[str, LossSpec]:
        """The losses by name, resolved from built-in names or formulas."""
        return {name: resolve_loss(name) for name in self.losses}


def _check_published(name, losses: list[str], source: str) -> str | None:
    """The published comparison a protocol names (None: none); its focus loss must be run."""
    if name is None:
        return None
    if name not in PUBLISHED:
        raise ProtocolError(
            f"{source}: published must be one of {', '.join(PUBLISHED)}, got {name!r}"
        )
    if PUBLISHED[name].focus not in losses:
        raise ProtocolError(
            f"{source}: published {name} is about {PUBLISHED[name].focus!r}; add it to the losses"
        )
    return name


def protocol_from_dict(data: dict, source: str = "<memory>") -> Protocol:
    """Validate a parsed protocol mapping (strict keys, types, one budget, known baseline)."""
    check_keys(data, PROTOCOL_KEYS, source)
    for key in ("name", "runs", "task_config"):
        if key not in data:
            raise ProtocolError(f"{source}: missing key {key!r}")
    losses = data.get("losses", list(GANETIC_TABLE_LOSSES))
    if not isinstance(losses, list) or not losses or not all(isinstance(x, str) for x in losses):
        raise ProtocolError(f"{source}: losses must be a non-empty list of loss names/formulas")
    for loss in losses:
        try:
            resolve_loss(loss)
        except ValueError as err:
            raise ProtocolError(f"{source}: losses: {err}") from None
    if len(set(losses)) != len(losses):
        raise ProtocolError(f"{source}: losses lists a loss twice")
    runs = data["runs"]
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise ProtocolError(f"{source}: runs must be a positive integer, got {runs!r}")
    steps, epochs = data.get("steps"), data.get("epochs")
    if (steps is None) == (epochs is None):
        raise ProtocolError(f"{source}: give exactly one of steps and epochs")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ProtocolError(f"{source}: steps must be a positive integer, got {steps!r}")
    if epochs is not None and (not isinstance(epochs, int | float) or epochs <= 0):
        raise ProtocolError(f"{source}: epochs must be a positive number, got {epochs!r}")
    task = data.get("task", "gan")
    if task != "gan":
        raise ProtocolError(
            f"{source}: task must be gan (a replay compares generators), got {task!r}"
        )
    baseline = data.get("baseline", "bce")
    if baseline not in losses:
        raise ProtocolError(f"{source}: baseline {baseline!r} is not among the losses")
    published = _check_published(data.get("published"), losses, source)
    checkpoints = _check_checkpoints(data.get("checkpoints", []), steps, source)
    return Protocol(
        name=str(data["name"]),
        runs=runs,
        losses=tuple(losses),
        steps=steps,
        epochs=epochs,
        task=task,
        baseline=baseline,
        published=published,
        task_config=check_task_config(task, data["task_config"], source),
        description=str(data.get("description", "")).strip(),
        checkpoints=checkpoints,
        source=source,
    )


def _check_checkpoints(checkpoints, steps: int | None, source: str) -> tuple[int, ...]:
    """Increasing positive step counts, each below the budget (when it is given in steps)."""
    if not isinstance(checkpoints, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in checkpoints
    ):
        raise ProtocolError(f"{source}: checkpoints must be a list of positive step counts")
    if sorted(set(checkpoints)) != checkpoints:
        raise ProtocolError(f"{source}: checkpoints must increase, each listed once")
    if checkpoints and steps is not None and checkpoints[-1] >= steps:
        raise ProtocolError(
            f"{source}: checkpoint {checkpoints[-1]} is not below the budget of {steps} steps; "
            "the budget itself is always scored"
        )
    return tuple(checkpoints)


def load_protocol(path: str | os.PathLike) -> Protocol:
    """Read and validate a protocol YAML file."""
    return protocol_from_dict(load_yaml_mapping(path, PROTOCOL_KEYS, "protocol"), str(path))
