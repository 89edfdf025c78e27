"""Replay a published loss comparison under one protocol: several losses, many seeds each.

A protocol (YAML) fixes everything that defines the measurement: the losses, how many
independent runs each gets (seeds 0..runs-1), the training budget (steps, or epochs of the
training set) and the task configuration (dataset, model width, batch, metric, sample count).
Its digest names it: a replay directory holds one protocol, resumes it when the same protocol is
given again, and refuses any other before training anything.

Every evaluation lands in a RunStore (kind "replay") as soon as it arrives, keyed by the loss's
fingerprint, the seed and the steps; the seed-0 run of each loss also brings back a sample grid
(``grids/<fingerprint>.png``, written before its evaluation is stored). The report
(``replay_report.write_report``: report.md, table.csv, figures) is derived from the store alone.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from tqdm import tqdm

from lossevo.losses import GANETIC_TABLE_LOSSES, LossSpec, resolve_loss
from lossevo.store import CONFIG_NAME, DB_NAME, RunStore

KIND = "replay"
PROTOCOL_KEYS = ("name", "description", "losses", "runs", "steps", "epochs", "task",
                 "task_config", "baseline")


class ProtocolError(ValueError):
    """A protocol or stage file, or a replay directory, is unusable; one line says why."""


def load_yaml_mapping(path: str | os.PathLike, keys: tuple[str, ...] | set[str],
                      what: str) -> dict:
    """A YAML file as a dict whose top-level keys are all in ``keys`` (else ProtocolError)."""
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"no {what} file {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ProtocolError(f"{path}: malformed YAML{where}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}: a {what} must be a YAML mapping")
    check_keys(data, keys, str(path))
    return data


def check_keys(data: dict, keys, where: str) -> None:
    """Refuse the first unknown key, naming it and where it was found."""
    for key in data:
        if key not in keys:
            raise ProtocolError(f"{where}: unknown key {key!r} (known: {', '.join(keys)})")


def check_task_config(config_cls, task_config: dict, where: str) -> dict:
    """A task's options, validated by its config class (unknown keys, bad values)."""
    if not isinstance(task_config, dict):
        raise ProtocolError(f"{where}: task_config must be a mapping")
    try:
        config_cls.from_config(task_config)
    except (TypeError, ValueError) as err:
        raise ProtocolError(f"{where}: task_config: {err}") from None
    return dict(task_config)


def check_gan_config(task_config: dict, where: str) -> dict:
    """The gan task's options, validated by FitnessConfig."""
    from lossevo.tasks.gan import FitnessConfig

    return check_task_config(FitnessConfig, task_config, where)


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
    description: str = ""
    source: str = field(default="<memory>", compare=False)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("source")
        data["losses"] = list(self.losses)
        return data

    def digest(self) -> str:
        """Hash of everything but the free-text description."""
        data = {k: v for k, v in self.to_dict().items() if k != "description"}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def resolve_steps(self, train_images: int) -> int:
        """``steps``, or ceil(epochs x training images / batch size)."""
        if self.steps is not None:
            return self.steps
        batch = int(self.task_config.get("batch_size", 64))
        return math.ceil(self.epochs * train_images / batch)

    def specs(self) -> dict[str, LossSpec]:
        """The losses by name, resolved from built-in names or formulas."""
        return {name: resolve_loss(name) for name in self.losses}


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
        raise ProtocolError(f"{source}: task must be gan (a replay compares generators), "
                            f"got {task!r}")
    baseline = data.get("baseline", "bce")
    if baseline not in losses:
        raise ProtocolError(f"{source}: baseline {baseline!r} is not among the losses")
    return Protocol(name=str(data["name"]), runs=runs, losses=tuple(losses), steps=steps,
                    epochs=epochs, task=task, baseline=baseline,
                    task_config=check_gan_config(data["task_config"], source),
                    description=str(data.get("description", "")).strip(), source=source)


def load_protocol(path: str | os.PathLike) -> Protocol:
    """Read and validate a protocol YAML file."""
    return protocol_from_dict(load_yaml_mapping(path, PROTOCOL_KEYS, "protocol"), str(path))


def stored_config(out: str | os.PathLike) -> dict | None:
    """The config.json of a run directory, read without touching its database; None if no run."""
    out = Path(out)
    if not (out / DB_NAME).exists():
        return None
    try:
        return json.loads((out / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ProtocolError(f"'{out}' holds a run without a readable {CONFIG_NAME}; "
                            f"use another --out") from None


def check_out_dir(out: str | os.PathLike, kind: str, name: str, digest: str) -> bool:
    """True if ``out`` holds this very replay/promotion (resume), False if it holds none.

    Any other content raises before anything is written or trained.
    """
    config = stored_config(out)
    if config is None:
        return False
    if config.get("kind") != kind:
        raise ProtocolError(f"'{out}' holds a lossevo run that is not a {kind}; "
                            f"use another --out")
    if config.get("digest") != digest:
        raise ProtocolError(f"'{out}' holds a {kind} of protocol {config.get('name')!r} "
                            f"(digest {config.get('digest')}), not {name!r} (digest {digest}); "
                            f"use another --out")
    return True


def describe_task(task_config: dict) -> dict:
    """Build the gan task once in this process, so bad data or missing Inception weights fail
    before any training, the domain classifier is trained (and cached) once, and the report
    knows the feature extractor. Returns GanFitness.describe() plus the weights' sha256."""
    from lossevo.tasks.gan import GanFitness

    task = GanFitness.from_config(task_config)
    info = task.describe()
    weights = info["extractor"].get("weights")
    if weights:
        digest = hashlib.sha256()
        with open(weights, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                digest.update(chunk)
        info["extractor"]["sha256"] = digest.hexdigest()
    del task
    gc.collect()
    return json.loads(json.dumps(info, default=str))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename: never a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run_jobs(store: RunStore, executor, jobs: list, *, label: str, progress: bool,
             on_result=None) -> int:
    """Run ``jobs`` (payload["fingerprint"], ["key"], ["seed"], ["steps"]) and store each
    result as it arrives; ``on_result(job, result)`` runs first. Returns the count stored."""
    bar = tqdm(total=len(jobs), desc=label, unit="run", disable=not progress, leave=False)
    stored = 0
    for job, result in executor.run(jobs):
        p = job.payload
        if on_result is not None:
            on_result(job, result)
        stored += store.put_evaluation(p["fingerprint"], p["key"], int(p["seed"]),
                                       int(p["steps"]), result)
        if result["status"] == "failed":
            store.log("failed", f"{p['key']} seed {p['seed']}: "
                                f"{(result.get('error') or '').splitlines()[0]}")
        bar.update(1)
        fitness = result.get("fitness")
        bar.set_postfix_str(f"{p['key']} seed {p['seed']}: {result['status']} "
                            f"{'' if fitness is None else format(fitness, '.4g')}")
    bar.close()
    return stored


def run_replay(protocol: Protocol | str | os.PathLike, out: str | os.PathLike, *,
               workers: int = 1, ray_address: str | None = None, progress: bool = True,
               echo=print) -> Path:
    """Run (or resume) a replay in ``out``, then write its report. Returns the report path."""
    from lossevo.executors import Job, make_executor
    from lossevo.screen import fingerprint

    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    out, digest = Path(out), protocol.digest()
    resuming = check_out_dir(out, KIND, protocol.name, digest)
    specs = protocol.specs()
    prints = {name: fingerprint(spec) for name, spec in specs.items()}
    if len(set(prints.values())) < len(prints):
        raise ProtocolError(f"{protocol.source}: two losses are the same function "
                            f"(equal fingerprints); list each once")
    info = None
    if not resuming:
        info = describe_task(protocol.task_config)
        steps = protocol.resolve_steps(info["train_images"])
        config = {"kind": KIND, "name": protocol.name, "digest": digest,
                  "protocol": protocol.to_dict(), "steps": steps, "source": protocol.source}
        store = RunStore.create(out, config, kind=KIND)
    else:
        store = RunStore.open(out, kind=KIND)
        steps = store.config["steps"]
    with store:
        jobs = [Job(f"{name}:{seed}", {"loss": spec.to_dict(), "seed": seed, "steps": steps,
                                       "grid": seed == 0, "key": name,
                                       "fingerprint": prints[name]})
                for seed in range(protocol.runs) for name, spec in specs.items()
                if store.get_evaluation(prints[name], seed, steps) is None]
        if jobs and info is None:
            info = describe_task(protocol.task_config)  # validate again: files may have moved
        if info is not None:
            store.log("protocol", json.dumps(info))
        for name, spec in specs.items():
            store.put_candidate(key=name, verdict=KIND, formula=spec.expr.formula,
                                text=spec.expr.text, latex=spec.expr.latex,
                                complexity=spec.expr.complexity, detail=spec.note,
                                fingerprint=prints[name], first_generation=-1)
        total = protocol.runs * len(specs)
        echo(f"replay {protocol.name!r} in {out}: {total - len(jobs)}/{total} runs stored, "
             f"{len(jobs)} to train ({steps} steps each)")

        def save_grid(job, result) -> None:
            if result.get("grid_png"):
                path = out / "grids" / f"{job.payload['fingerprint']}.png"
                write_bytes_atomic(path, base64.b64decode(result["grid_png"]))

        try:
            if jobs:
                store.log("start", f"{len(jobs)} runs to train")
                with make_executor(protocol.task, protocol.task_config, workers=workers,
                                   address=ray_address) as executor:
                    run_jobs(store, executor, jobs, label=protocol.name, progress=progress,
                             on_result=save_grid)
        finally:  # also after an interruption: the report shows what is stored so far
            report = _write_report(store)
        return report


def report_only(out: str | os.PathLike) -> Path:
    """Rewrite the report of an existing replay directory without training."""
    if not (Path(out) / DB_NAME).is_file():
        raise ProtocolError(f"'{out}' holds no replay; run 'lossevo replay ganetic --config "
                            f"PROTOCOL.yaml --out {out}' first")
    with RunStore.open(out, kind=KIND) as store:
        return _write_report(store)


def _write_report(store: RunStore) -> Path:
    from lossevo.replay_report import write_report

    return write_report(store)
