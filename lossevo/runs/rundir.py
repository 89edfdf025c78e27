"""A run directory's life on disk: created atomically and exclusively, locked while written.

A new run is built in a temp folder beside its target and renamed into place, so a crash or a
full disk leaves either nothing or a complete run, never a half-made one, and a user's folder is
never written into. A writer holds an ``flock`` on ``run.lock`` (its PID inside): a second
process is refused in one line naming the holder, and the kernel drops the lock when the holder
dies, kill -9 included, so a crashed run resumes at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from lossevo.util.errors import LossevoError
from lossevo.util.files import current_umask

LOCK_NAME = "run.lock"


class StoreError(LossevoError):
    """A user-facing problem with a run directory; the message is one line saying what to do."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_new_run_dir(run_dir: Path, marker: str) -> None:
    """Refuse a target that is a file, holds a run (``marker`` exists) or holds anything else,
    or a symlink to nowhere (a symlink to a folder is that folder)."""
    if run_dir.is_symlink() and not run_dir.exists():
        raise StoreError(
            f"'{run_dir}' is a symlink to '{os.readlink(run_dir)}', which does not exist; "
            f"create that folder or choose another --run-dir"
        )
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise StoreError(f"'{run_dir}' exists and is not a directory; choose another --run-dir")
    if (run_dir / marker).exists():
        raise StoreError(
            f"'{run_dir}' already holds a run ({marker}); resume it or choose another --run-dir"
        )
    if any(run_dir.iterdir()):
        raise StoreError(
            f"'{run_dir}' exists, is not empty and is not a lossevo run; lossevo never writes "
            f"into a folder of yours: choose a new --run-dir or empty this one"
        )


def create_exclusive(run_dir: Path, marker: str, build: Callable[[Path], None]) -> RunLock:
    """Build a run in a temp folder beside ``run_dir`` and rename it into place; returns the
    lock, taken in the temp folder and so held from the moment the run exists.

    ``build(folder)`` writes the run's files. An existing empty ``run_dir`` is replaced (rename
    onto an empty directory); a run made by another process in the meantime wins, and this one
    is refused. On any failure the temp folder is removed and ``run_dir`` is as it was.
    """
    check_new_run_dir(run_dir, marker)
    if run_dir.is_symlink():  # build beside the folder it points to, and rename onto that
        run_dir = run_dir.resolve()
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=run_dir.parent, prefix=f".{run_dir.name}.creating-"))
    except OSError as e:
        raise StoreError(
            f"cannot create '{run_dir}' ({e.strerror or e}); choose a writable --run-dir"
        ) from None
    lock = None
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        lock = RunLock(tmp).acquire()
        build(tmp)
        _fsync_dir(tmp)
        os.rename(tmp, run_dir)
        _fsync_dir(run_dir.parent)
    except BaseException as exc:
        if lock is not None:
            lock.release()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise StoreError(
                f"'{run_dir}' was created by another process meanwhile; resume it or choose "
                f"another --run-dir"
            ) from None
        if isinstance(exc, OSError | sqlite3.Error):
            raise StoreError(
                f"cannot create the run '{run_dir}' ({_reason(exc)}); nothing was "
                f"left behind: fix that and run again"
            ) from None
        raise
    lock.run_dir = run_dir
    return lock


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class RunLock:
    """An exclusive ``flock`` on ``run_dir/run.lock``, whose text is the holder's PID."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock now or raise StoreError naming the process that holds it."""
        path = self.run_dir / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(
                f"cannot write to the run '{self.run_dir}' ({e.strerror}); "
                f"make it writable, or copy it and resume the copy"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"'{self.run_dir}' is in use by another lossevo process (PID "
                f"{holder}); wait for it to finish, or stop it and resume"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (idempotent); the PID stays in the file, harmless once unlocked."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
