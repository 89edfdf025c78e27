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

from lossevo.loss.screen import fingerprint
from lossevo.runs.executors import Job, make_executor
from lossevo.runs.store import DB_NAME, RunStore
from lossevo.studies.protocol import Protocol, ProtocolError, load_protocol
from lossevo.studies.replay_report import write_report
from lossevo.studies.study_dir import check_out_dir, describe_task, run_jobs
from lossevo.util.files import write_bytes

KIND = "replay"


def run_replay(
    protocol: Protocol | str | os.PathLike,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
    echo=print,
) -> Path:
    """Run (or resume) a replay in ``out``, then write its report. Returns the report path."""
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    out, digest = Path(out), protocol.digest()
    resuming = check_out_dir(out, KIND, protocol.name, digest)
    specs = protocol.specs()
    prints = {name: fingerprint(spec) for name, spec in specs.items()}
    if len(set(prints.values())) < len(prints):
        raise ProtocolError(
            f"{protocol.source}: two losses are the same function "
            f"(equal fingerprints); list each once"
        )
    info = None
    if not resuming:
        info = describe_task(protocol.task_config)
        steps = protocol.resolve_steps(info["train_images"])
        config = {
            "kind": KIND,
            "name": protocol.name,
            "digest": digest,
            "protocol": protocol.to_dict(),
            "steps": steps,
            "source": protocol.source,
        }
        store = RunStore.create(out, config, kind=KIND)
    else:
        store = RunStore.open(out, kind=KIND)
        steps = store.config["steps"]
    with store:
        jobs = [
            Job(
                f"{name}:{seed}",
                {
                    "loss": spec.to_dict(),
                    "seed": seed,
                    "steps": steps,
                    "grid": seed == 0,
                    "key": name,
                    "fingerprint": prints[name],
                },
            )
            for seed in range(protocol.runs)
            for name, spec in specs.items()
            if store.get_evaluation(prints[name], seed, steps) is None
        ]
        if jobs and info is None:
            info = describe_task(protocol.task_config)  # validate again: files may have moved
        if info is not None:
            store.log("protocol", json.dumps(info))
        for name, spec in specs.items():
            store.put_candidate(
                key=name,
                verdict=KIND,
                formula=spec.expr.formula,
                text=spec.expr.text,
                latex=spec.expr.latex,
                complexity=spec.expr.complexity,
                detail=spec.note,
                fingerprint=prints[name],
                first_generation=-1,
            )
        total = protocol.runs * len(specs)
        echo(
            f"replay {protocol.name!r} in {out}: {total - len(jobs)}/{total} runs stored, "
            f"{len(jobs)} to train ({steps} steps each)"
        )

        def save_grid(job, result) -> None:
            if result.get("grid_png"):
                path = out / "grids" / f"{job.payload['fingerprint']}.png"
                write_bytes(path, base64.b64decode(result["grid_png"]))

        try:
            if jobs:
                store.log("start", f"{len(jobs)} runs to train")
                with make_executor(
                    protocol.task, protocol.task_config, workers=workers, address=ray_address
                ) as executor:
                    run_jobs(
                        store,
                        executor,
                        jobs,
                        label=protocol.name,
                        progress=progress,
                        on_result=save_grid,
                    )
        finally:  # also after an interruption: the report shows what is stored so far
            report = write_report(store)
        return report


def report_only(out: str | os.PathLike) -> Path:
    """Rewrite the report of an existing replay directory without training."""
    if not (Path(out) / DB_NAME).is_file():
        raise ProtocolError(
            f"'{out}' holds no replay; run 'lossevo replay ganetic --config "
            f"PROTOCOL.yaml --out {out}' first"
        )
    with RunStore.open(out, kind=KIND) as store:
        return write_report(store)


def _write_report(store: RunStore) -> Path:
    from lossevo.report.replay_report import write_report

    return write_report(store)
