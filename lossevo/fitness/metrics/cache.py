"""On-disk cache helpers shared by the metrics: where the cache lives and pickle-free atomic writes.

Everything is written to a temporary file in the target folder and moved into place with
``os.replace``, so a reader never sees a half-written file even when workers race.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from lossevo.util.files import atomic_open

#: Environment variable that overrides the cache root (default ``~/.cache/lossevo``).
CACHE_ENV = "LOSSEVO_CACHE"

_SAFE_KEY = re.compile(r"^[A-Za-z0-9._-]{1,80}$")


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache root: ``cache_dir`` if given, else $LOSSEVO_CACHE, else ~/.cache/lossevo."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lossevo"


def safe_key(key: str) -> str:
    """A file-name-safe form of ``key``: kept as is when harmless, else replaced by its hash."""
    if _SAFE_KEY.match(key) and not key.startswith("."):
        return key
    return "h" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed .npz (numeric arrays only, no pickle)."""
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f"array {name!r} has dtype object and would need pickle")
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Read every array of an .npz written by :func:`atomic_savez` (``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as z:
        return {name: z[name] for name in z.files}
