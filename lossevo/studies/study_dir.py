"""A study directory (replay or promotion): what it holds, the task it measures, its jobs.

A study directory holds one protocol, named by its digest: the same protocol resumes it, any
other is refused before anything is written or trained.
"""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path

from lossevo.fitness import make_task
from lossevo.runs.store import CONFIG_NAME, DB_NAME
from lossevo.studies.protocol import ProtocolError
from lossevo.util.files import file_sha256


def stored_config(out: str | os.PathLike) -> dict | None:
    """The config.json of a run directory, read without touching its database; None if no run."""
    out = Path(out)
    if not (out / DB_NAME).exists():
        return None
    try:
        return json.loads((out / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ProtocolError(
            f"'{out}' holds a run without a readable {CONFIG_NAME}; use another --out"
        ) from None


def check_out_dir(out: str | os.PathLike, kind: str, name: str, digest: str) -> bool:
    """True if ``out`` holds this very replay/promotion (resume), False if it holds none.

    Any other content raises before anything is written or trained.
    """
    config = stored_config(out)
    if config is None:
        return False
    if config.get("kind") != kind:
        raise ProtocolError(f"'{out}' holds a lossevo run that is not a {kind}; use another --out")
    if config.get("digest") != digest:
        raise ProtocolError(
            f"'{out}' holds a {kind} of protocol {config.get('name')!r} "
            f"(digest {config.get('digest')}), not {name!r} (digest {digest}); "
            f"use another --out"
        )
    return True


def describe_task(task_kind: str, task_config: dict) -> dict:
    """Build the task once in this process, so bad data or missing Inception weights fail
    before any training, the domain classifier is trained (and cached) once, and the report
    knows the feature extractor. Returns the task's describe() plus the weights' sha256."""
    task = make_task(task_kind, task_config)
    info = task.describe()
    weights = info.get("extractor", {}).get("weights")
    if weights:
        info["extractor"]["sha256"] = file_sha256(weights)
    del task
    gc.collect()
    return json.loads(json.dumps(info, default=str))
