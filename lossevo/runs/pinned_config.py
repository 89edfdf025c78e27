"""A run's config.json, pinned: its canonical text and digest live in run.db's ``meta`` table, so
a hand edit is found, and named key by key, instead of silently changing the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lossevo.runs.rundir import StoreError
from lossevo.util.hashing import json_digest

CONFIG_NAME = "config.json"


def read_config(run_dir: Path) -> dict:
    """The run's config.json, which must be a JSON object."""
    path = run_dir / CONFIG_NAME
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StoreError(f"'{path}' is unreadable ({e}); restore it or start a new run") from None
    if not isinstance(config, dict):
        raise StoreError(
            f"'{path}' is not a JSON object (it holds a {type(config).__name__}); "
            f"restore it or start a new run"
        )
    return config


def digest_rows(config: dict) -> list[tuple[str, str]]:
    """The meta rows that pin a config: its canonical JSON and that text's SHA-256."""
    return [
        ("config", json.dumps(config, sort_keys=True)),
        ("config_digest", json_digest(config, length=64)),
    ]


_ABSENT = object()


def _at(config: Any, dotted: str) -> Any:
    """The value at a dotted path, or ``_ABSENT``."""
    for part in dotted.split("."):
        if not isinstance(config, dict) or part not in config:
            return _ABSENT
        config = config[part]
    return config


def _change(old: dict, new: dict, dotted: str) -> str:
    """``search.population 6 -> 12``, ``space removed``, ``extra added``."""
    before, after = _at(old, dotted), _at(new, dotted)
    if after is _ABSENT:
        return f"{dotted} removed"
    if before is _ABSENT:
        return f"{dotted} added"
    shown = [json.dumps(v) for v in (before, after)]
    if max(map(len, shown)) > 30:
        return f"{dotted} changed"
    return f"{dotted} {shown[0]} -> {shown[1]}"


def describe_edits(meta: dict[str, str], config: dict) -> str | None:
    """None if ``config`` is the one pinned in ``meta``, else its changes in a few words:
    ``search.full_steps 120 -> 200`` (the first three, and how many more)."""
    if json_digest(config, length=64) == meta.get("config_digest"):
        return None
    original = json.loads(meta["config"])
    keys = changed_keys(original, config)
    shown = ", ".join(_change(original, config, k) for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ: ``["search.population"]``."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(path)
            else:
                out.extend(changed_keys(old[key], new[key], path))
        return out
    return [] if old == new else [prefix or "(the whole file)"]
