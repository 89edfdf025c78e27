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
import json
import os
from pathlib import Path

from lossevo.loss.reference import LossSpec
from lossevo.loss.screen import fingerprint
from lossevo.runs.executors import Execution, make_executor
from lossevo.runs.pipeline import Destination, Work, pending, run_jobs
from lossevo.runs.store import DB_NAME, RunStore
from lossevo.studies.protocol import Protocol, ProtocolError, load_protocol
from lossevo.studies.replay_report import write_report
from lossevo.studies.study_dir import check_out_dir, describe_task
from lossevo.util.files import write_bytes

KIND = "replay"
#: Every evaluation of a replay is one measurement: stage "replay"; each loss has one role.
STAGE, ROLE = "replay", "replay-loss"


def _fingerprints(protocol: Protocol, specs: dict[str, LossSpec]) -> dict[str, str]:
    """Each loss's fingerprint; two losses that are one function are refused."""
    prints = {name: fingerprint(spec) for name, spec in specs.items()}
    if len(set(prints.values())) < len(prints):
        raise ProtocolError(
            f"{protocol.source}: two losses are the same function "
            f"(equal fingerprints); list each once"
        )
    return prints


def _open_store(out: Path, protocol: Protocol, resuming: bool) -> tuple[RunStore, int, dict]:
    """The replay's store, its steps, and the task's description (None when resuming: the
    task is described again only if there is something left to train)."""
    if resuming:
        store = RunStore.open(out, kind=KIND)
        return store, store.config["steps"], None
    info = describe_task(protocol.task, protocol.task_config)
    steps = protocol.resolve_steps(info["train_images"])
    config = {
        "kind": KIND,
        "name": protocol.name,
        "digest": protocol.digest(),
        "protocol": protocol.to_dict(),
        "steps": steps,
        "source": protocol.source,
    }
    return RunStore.create(out, config, kind=KIND), steps, info


def _record_losses(store: RunStore, specs: dict[str, LossSpec], prints: dict[str, str]) -> None:
    for name, spec in specs.items():
        store.put_candidate(
            spec,
            key=name,
            name=name,
            role=ROLE,
            detail=spec.note,
            fingerprint=prints[name],
            first_generation=-1,
        )


def _works(protocol: Protocol, specs: dict, prints: dict, steps: int) -> list[Work]:
    """Every (loss, run) as a job; the seed-0 run of each loss also brings back a grid, and
    every run is also scored at the protocol's checkpoints."""
    curve = [c for c in protocol.checkpoints if c < steps]  # epochs: known only now
    return [
        Work(
            {"loss": spec.to_dict(), "seed": seed, "steps": steps, "grid": seed == 0}
            | ({"checkpoints": curve} if curve else {}),
            Destination(prints[name], name, seed, steps, STAGE, ROLE),
        )
        for seed in range(protocol.runs)
        for name, spec in specs.items()
    ]


def _grid_writer(out: Path):
    """The on_result hook: a returned sample grid lands in grids/ before its result is stored."""

    def save_grid(work: Work, result: dict) -> None:
        if result.get("grid_png"):
            path = out / "grids" / f"{work.destination.fingerprint}.png"
            write_bytes(path, base64.b64decode(result["grid_png"]))

    return save_grid


def run_replay(
    protocol: Protocol | str | os.PathLike,
    out: str | os.PathLike,
    execution: Execution | None = None,
    *,
    progress: bool = True,
    echo=print,
) -> Path:
    """Run (or resume) a replay in ``out``, then write its report. Returns the report path."""
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    out = Path(out)
    resuming = check_out_dir(out, KIND, protocol.name, protocol.digest())
    specs = protocol.specs()
    prints = _fingerprints(protocol, specs)
    store, steps, info = _open_store(out, protocol, resuming)
    with store:
        works = pending(_works(protocol, specs, prints, steps), store)
        if works and info is None:  # validate again: files may have moved since
            info = describe_task(protocol.task, protocol.task_config)
        if info is not None:
            store.log("protocol", json.dumps(info))
        _record_losses(store, specs, prints)
        total = protocol.runs * len(specs)
        echo(
            f"replay {protocol.name!r} in {out}: {total - len(works)}/{total} runs stored, "
            f"{len(works)} to train ({steps} steps each)"
        )
        try:
            if works:
                store.log("start", f"{len(works)} runs to train")
                with make_executor(
                    protocol.task, protocol.task_config, execution or Execution()
                ) as executor:
                    run_jobs(
                        store,
                        executor,
                        works,
                        label=protocol.name,
                        progress=progress,
                        on_result=_grid_writer(out),
                    )
        finally:  # also after an interruption: the report shows what is stored so far
            report = write_report(store)
        return report


def report_only(out: str | os.PathLike) -> Path:
    """Rewrite the report of an existing replay directory without training."""
    if not (Path(out) / DB_NAME).is_file():
        raise ProtocolError(
            f"'{out}' holds no replay; run 'lossevo replay --config "
            f"PROTOCOL.yaml --out {out}' first"
        )
    with RunStore.open(out, kind=KIND) as store:
        return write_report(store)
