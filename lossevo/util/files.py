"""Atomic file writes: a unique temp file beside the target, fsynced, then renamed onto it.

Every file lossevo writes goes through here, so a crash or a full disk leaves either the old
file whole or the new one complete, never a truncated mix, and two writers never share a temp.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lossevo.util.errors import LossevoError


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "w", *, newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a unique temp file next to ``path`` (``mode`` "w" or "wb"); on success fsync it and
    rename it onto ``path``; on any error remove it and leave ``path`` as it was."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode == "w":
            f = os.fdopen(fd, "w", encoding="utf-8", newline=newline)
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    """The process's umask (read by setting and restoring it), for modes of created files."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Refuse, before any work and without creating anything, a ``path`` that is a file or
    whose nearest existing folder cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise LossevoError(f"{flag} {path} is a file, not a folder; choose a folder")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise LossevoError(f"{flag} {path}: cannot write in {existing}; choose a writable folder")
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
