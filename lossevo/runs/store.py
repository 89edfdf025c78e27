"""The run store: the crash-safe home of a search run (cf. Optuna's storage, PySR's run dir).

A run directory holds ``config.json`` (written once, atomically) and ``run.db``, an SQLite
database in WAL mode where every write is its own committed transaction, so a killed search
resumes from what it had committed. No pickle: dicts and lists are stored as JSON text.
CSV/JSON views (hall of fame, Pareto front, exports) are written from the database, atomically.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import json
import math
import os
import platform
import random
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lossevo.fitness.scores import Status, failure_counts
from lossevo.fitness.seeds import summarize
from lossevo.loss.reference import LossSpec
from lossevo.runs.pinned_config import CONFIG_NAME, describe_edits, digest_rows, read_config
from lossevo.runs.rundir import RunLock, StoreError, create_exclusive
from lossevo.runs.schema import ROLES, SCHEMA, SCHEMA_VERSION, upgrade
from lossevo.util.errors import LossevoError
from lossevo.util.files import atomic_open, current_umask
from lossevo.util.fmt import shorten

__all__ = [
    "DamagedValue",
    "RunStore",
    "StoreError",
    "spec_of",
    "write_table",
    "rng_state_to_json",
    "rng_state_from_json",
]

DB_NAME = "run.db"
_LIBRARIES = ("lossevo", "torch", "deap", "sympy", "numpy", "ray")

#: JSON columns and the type each must decode to.
_JSON_COLUMNS = {
    "metrics": dict,
    "curves": dict,
    "population": list,
    "stats": dict,
    "checkpoints": dict,
    "parents": list,
}
#: Columns that hold a number (None allowed), and those that hold an integer.
_NUMBER_COLUMNS = ("fitness", "seconds")
_INT_COLUMNS = ("seed", "budget", "generation", "attempts", "steps")
_TABLES = {"meta", "candidates", "evaluations", "generations", "events"}


class DamagedValue(ValueError):
    """A stored value a reader cannot use (an edited or corrupted cell); the text names it."""


def _shown(value: Any) -> str:
    """A stored value for a one-line message: its repr (control characters escaped), cut."""
    text = repr(value)
    return shorten(text, 40)


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (TypeError, ValueError):
        return False


def _is_seconds(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and float(text) >= 0
    except (TypeError, ValueError):
        return False


#: ``meta`` values with a format (search/leaderboard.py and search/spend.py write the first
#: two), checked when a run is opened: a damaged one is refused in one line naming run.db.
META_FORMATS = {
    "extensions": (_is_json_object, "a JSON object"),
    "spent_seconds": (_is_seconds, "a number of seconds"),
    "config": (_is_json_object, "a JSON object"),
}


def _readonly_uri(db: Path) -> str:
    """A URI that reads ``db`` without writing anything: ``immutable=1`` when there is no WAL
    (a mode=ro open would leave -wal/-shm files behind), plain ``mode=ro`` when the WAL may hold
    commits (after a crash, or while a writer runs)."""
    wal = Path(f"{db}-wal")
    has_wal = wal.exists() and wal.stat().st_size > 0
    return db.resolve().as_uri() + ("?mode=ro" if has_wal else "?mode=ro&immutable=1")


def _db_error(db: Path, err: Exception) -> StoreError:
    """An SQLite failure as one line: a full disk, a read-only run, or a damaged database."""
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, DamagedValue):
        pass  # its text quotes a stored value: never read it as a disk or permission problem
    elif "full" in reason:
        return StoreError(f"'{db}': {reason}; free some space and resume the run")
    elif "readonly" in reason or "read-only" in reason:
        return StoreError(
            f"'{db}' is read-only ({reason}); make the run writable, or copy it and resume the copy"
        )
    return StoreError(f"'{db}' is damaged ({reason}); restore it from a backup or start a new run")


def rng_state_to_json(state: tuple) -> str:
    """``random.getstate()`` as JSON text; floats are written with repr, so it round-trips."""
    version, internal, gauss_next = state
    return json.dumps([version, list(internal), gauss_next])


def rng_state_from_json(text: str) -> tuple:
    """Inverse of :func:`rng_state_to_json`: a tuple that ``random.setstate`` accepts
    (checked on a throwaway generator; anything else is a :class:`DamagedValue`)."""
    try:
        version, internal, gauss_next = json.loads(text)
        state = (version, tuple(internal), gauss_next)
        random.Random().setstate(state)
    except (TypeError, ValueError, OverflowError):
        raise DamagedValue(f"rng_state {_shown(text)} is not a random generator state") from None
    return state


def library_versions() -> dict[str, str | None]:
    """Versions of python and the libraries that shape results; None for one not installed."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def spec_of(row: dict) -> LossSpec:
    """The loss a stored candidate row is: the one definition that screening, training,
    export, promotion and the verdict use (its display name: ``name`` or the formula's text)."""
    return LossSpec.from_formula(
        row["formula"],
        name=row.get("name") or row["text"],
        transform=row["transform"],
        generator=row["generator"],
        note=(row.get("detail") or "") if row.get("role") == "baseline" else "",
    )


def _cell(value: Any) -> Any:
    """A CSV cell: JSON for containers, empty for None, the value itself otherwise."""
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value)
    return value


def write_table(path: str | os.PathLike, rows: list[dict], columns: list[str]) -> None:
    """Write ``rows`` as CSV with the given columns (extra keys ignored), atomically."""
    with atomic_open(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])


def _where(row: dict) -> str:
    """Which row: ``evaluation 12``, ``generation 3``, ``candidate 'k'``."""
    if "generation" in row and "population" in row:
        return f"generation {row['generation']}"
    if "fingerprint" in row and "status" in row:
        return f"evaluation {row.get('id')}"
    return f"candidate {_shown(row.get('key'))}" if "key" in row else "a row"


def _decode(row: sqlite3.Row) -> dict:
    """A row as a dict with its JSON columns decoded, every typed cell checked: an edited or
    corrupted value raises :class:`DamagedValue` naming the row, the column and the value."""
    out = dict(row)
    for col, kind in _JSON_COLUMNS.items():
        if out.get(col) is not None:
            try:
                out[col] = json.loads(out[col])
            except (TypeError, ValueError):
                out[col] = None  # reported just below
            if not isinstance(out[col], kind):
                what = "a JSON object" if kind is dict else "a JSON list"
                raise DamagedValue(f"{_where(out)}: {col} {_shown(row[col])} is not {what}")
    for col in _NUMBER_COLUMNS:
        value = out.get(col)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise DamagedValue(f"{_where(out)}: {col} {_shown(value)} is not a number")
    for col in _INT_COLUMNS:
        value = out.get(col)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise DamagedValue(f"{_where(out)}: {col} {_shown(value)} is not an integer")
    if out.get("rng_state") is not None:
        try:
            out["rng_state"] = rng_state_from_json(out["rng_state"])
        except DamagedValue as e:
            raise DamagedValue(f"{_where(out)}: {e}") from None
    return out


class RunStore:
    """One run directory. Single writer (the search driver); use from the thread that opened it.

    The connection is in autocommit mode (``isolation_level=None``) and each write is one
    explicit ``BEGIN IMMEDIATE ... COMMIT`` (see ``_write``), so nothing is left uncommitted.
    """

    write_table = staticmethod(write_table)

    def __init__(
        self,
        run_dir: Path,
        conn: sqlite3.Connection,
        config: dict,
        meta: dict,
        lock: RunLock | None = None,
    ):
        self.run_dir = run_dir
        self._conn = conn
        self._config = config
        self.meta = meta
        self._lock = lock

    @classmethod
    def create(cls, run_dir: str | os.PathLike, config: dict, *, kind: str = "search") -> RunStore:
        """Start a new run in ``run_dir``, made atomically and exclusively (see runs/rundir.py):
        an existing folder must be empty; a failure leaves nothing behind."""
        run_dir = Path(run_dir)
        stored = dict(config, library_versions=library_versions(), created=time.time())

        def build(folder: Path) -> None:
            with atomic_open(folder / CONFIG_NAME) as f:
                json.dump(stored, f, indent=2, sort_keys=True)
                f.write("\n")
            conn = sqlite3.connect(folder / DB_NAME, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript("BEGIN;" + SCHEMA + "COMMIT;")
                rows = [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("kind", kind),
                    *digest_rows(read_config(folder)),
                ]
                conn.executemany("INSERT INTO meta VALUES (?, ?)", rows)
            finally:
                conn.close()  # the last connection checkpoints and removes the -wal file
            os.chmod(folder / DB_NAME, 0o644 & ~current_umask())

        lock = create_exclusive(run_dir, DB_NAME, build)
        try:
            return cls._connect(run_dir, kind=kind, lock=lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def open(
        cls, run_dir: str | os.PathLike, *, kind: str | None = None, readonly: bool = False
    ) -> RunStore:
        """Open an existing run, checking it read-only first so a refusal changes nothing.

        A writer (the default) takes the run's lock and upgrades an older schema in place. A
        reader (``readonly``: show, export, the API's ``open_run``) never touches ``run.lock``,
        writes nothing (no -wal, -shm or lock file on a finished run) and so works on a live run,
        beside a writer, and on a read-only folder; an older schema is upgraded in a copy in
        memory, the files left as they are.
        """
        run_dir = Path(run_dir)
        meta = cls._check(run_dir, kind)
        if int(meta["schema_version"]) < SCHEMA_VERSION and not readonly:
            cls._upgrade(run_dir, kind)
        lock = None if readonly else RunLock(run_dir)
        if lock is not None:
            lock.acquire()
        try:
            return cls._connect(run_dir, kind=kind, lock=lock)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @classmethod
    def _upgrade(cls, run_dir: Path, kind: str | None) -> None:
        """Upgrade an older database in place under the run's lock, all or nothing (see
        runs/schema.py); refuse in one line if it cannot be, changing nothing."""
        db = run_dir / DB_NAME
        lock = RunLock(run_dir).acquire()
        try:
            meta = cls._check(run_dir, kind)
            version = int(meta["schema_version"])
            if version >= SCHEMA_VERSION:
                return  # another process upgraded it meanwhile
            try:
                conn = sqlite3.connect(db, timeout=30, isolation_level=None)
                try:
                    upgrade(conn, version, meta.get("kind", ""), read_config(run_dir))
                finally:
                    conn.close()
            except (sqlite3.Error, LossevoError, KeyError, TypeError) as e:
                raise StoreError(
                    f"'{db}' has schema {version} and cannot be upgraded to {SCHEMA_VERSION} "
                    f"({e}); nothing was changed: open it with the lossevo that wrote it, or "
                    f"start a new run"
                ) from None
        finally:
            lock.release()

    @classmethod
    def _check(cls, run_dir: Path, kind: str | None) -> dict[str, str]:
        """Refuse, changing nothing, what is not a readable run of ``kind``; returns meta."""
        db = run_dir / DB_NAME
        start = f"start one with 'lossevo search --run-dir {run_dir}'"
        if not run_dir.exists():
            raise StoreError(f"'{run_dir}' does not exist; {start}")
        for name in (DB_NAME, CONFIG_NAME):
            if not (run_dir / name).is_file():
                raise StoreError(f"'{run_dir}' is not a lossevo run directory (no {name}); {start}")
        meta, tables, verdict = cls._read_meta(db)
        version = int(v) if (v := meta.get("schema_version", "0")).isdigit() else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"'{run_dir}' was created by a newer lossevo (schema {version} > "
                f"{SCHEMA_VERSION}); upgrade lossevo to open it"
            )
        if version < 1:
            raise StoreError(
                f"'{db}' is not a lossevo run database (no schema_version); use another --run-dir"
            )
        if kind is not None and meta.get("kind") != kind:
            raise StoreError(
                f"'{run_dir}' holds a {meta.get('kind')} run, not a {kind} run; "
                f"use another --run-dir"
            )
        if missing := sorted(_TABLES - tables):
            raise StoreError(
                f"'{db}' is damaged (no table {', '.join(missing)}); restore it "
                f"from a backup or start a new run"
            )
        if verdict != "ok":
            raise _db_error(db, sqlite3.DatabaseError(f"integrity check: {verdict}"))
        for key, (valid, what) in META_FORMATS.items():
            if key in meta and not valid(meta[key]):
                raise _db_error(db, DamagedValue(f"meta {key} {_shown(meta[key])} is not {what}"))
        return meta

    @classmethod
    def _connect(cls, run_dir: Path, *, kind: str | None, lock: RunLock | None) -> RunStore:
        """Check the run (again, now under the lock), its tables and its config's digest."""
        meta = cls._check(run_dir, kind)
        db = run_dir / DB_NAME
        config = read_config(run_dir)
        try:
            if lock is None:
                conn = sqlite3.connect(
                    _readonly_uri(db), uri=True, timeout=30, isolation_level=None
                )
                if int(meta["schema_version"]) < SCHEMA_VERSION:
                    conn, meta = cls._upgraded_in_memory(db, conn, meta)
            else:
                conn = sqlite3.connect(db, timeout=30, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                # WAL + synchronous=NORMAL: a commit is in the WAL file (OS page cache) when
                # COMMIT returns, so it survives a kill -9 of this process; only an OS crash or
                # power loss can lose the last commits (never corrupting the database). FULL
                # would fsync every commit.
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.row_factory = sqlite3.Row
        except sqlite3.Error as e:
            raise _db_error(db, e) from None
        store = cls(run_dir, conn, config, meta, lock)
        try:
            store._check_digest(upgrade=lock is not None)
        except BaseException:
            store.close()
            raise
        return store

    @staticmethod
    def _upgraded_in_memory(
        db: Path, conn: sqlite3.Connection, meta: dict[str, str]
    ) -> tuple[sqlite3.Connection, dict[str, str]]:
        """A reader's view of an older database: copied into memory and upgraded there (see
        runs/schema.py), so reading an old run writes nothing; returns the copy and its meta."""
        version = int(meta["schema_version"])
        memory = sqlite3.connect(":memory:", isolation_level=None)
        try:
            conn.backup(memory)
            upgrade(memory, version, meta.get("kind", ""), read_config(db.parent))
            upgraded = dict(memory.execute("SELECT key, value FROM meta").fetchall())
        except (sqlite3.Error, LossevoError, KeyError, TypeError) as e:
            memory.close()
            raise StoreError(
                f"'{db}' has schema {version} and cannot be read as {SCHEMA_VERSION} ({e}); "
                f"open it with the lossevo that wrote it"
            ) from None
        finally:
            conn.close()
        return memory, upgraded

    def _check_digest(self, *, upgrade: bool) -> None:
        """Refuse a config.json edited since the run started, naming the keys that changed; a
        run made before digests were kept gets one now (when opened for writing)."""
        stored = self.meta.get("config")
        if stored is None:
            if upgrade:
                for key, value in digest_rows(self._config):
                    self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
                    self.meta[key] = value
            return
        edits = describe_edits(self.meta, self._config)
        if edits:
            raise StoreError(
                f"'{self.run_dir / CONFIG_NAME}' was edited since the run started "
                f"({edits}); undo the edit (the original is kept in run.db's meta "
                f"table) or start a new run"
            )

    @staticmethod
    def _read_meta(db: Path) -> tuple[dict[str, str], set[str], str]:
        """Read ``meta``, the table names and SQLite's quick_check verdict (one pass over every
        page, so damage is found before a writer takes the lock), writing nothing (see
        :func:`_readonly_uri`)."""
        try:
            with contextlib.closing(
                sqlite3.connect(_readonly_uri(db), uri=True, timeout=30)
            ) as conn:
                tables = {
                    r[0]
                    for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                lines = [x for r in conn.execute("PRAGMA quick_check(1)") for x in r[0].split("\n")]
                verdict = next((x for x in lines if not x.startswith("***")), "ok")
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"'{db}' is not a readable lossevo run database ({e}); use another --run-dir"
            ) from None
        return meta, tables, verdict

    def close(self) -> None:
        """Close the connection and release the lock (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        """Run one statement as its own committed transaction."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(sql, params)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as e:
            raise _db_error(self.run_dir / DB_NAME, e) from None
        return cursor

    def _query(self, sql: str, params: tuple = ()) -> list[dict]:
        try:
            rows = self._conn.execute(sql, params).fetchall()
            return [_decode(r) for r in rows]
        except (sqlite3.Error, ValueError) as e:  # ValueError: a damaged value (DamagedValue)
            raise _db_error(self.run_dir / DB_NAME, e) from None

    @property
    def config(self) -> dict:
        """The stored config.json: the caller's config plus library_versions and created."""
        return self._config

    def check_config(self, new_config: dict, keys: list[str], section: str | None = None) -> None:
        """Refuse a resume whose options contradict the stored run; None means 'not given'.
        ``section`` compares with ``config[section]`` (a search run keeps its settings under
        "search"), so a setting repeated with its stored value is accepted."""
        base = self._config if section is None else self._config.get(section)
        if not isinstance(base, dict):
            raise StoreError(
                f"'{self.run_dir / CONFIG_NAME}' has no {section!r} settings; "
                f"restore it or start a new run"
            )
        for key in keys:
            value = new_config.get(key)
            if value is None:
                continue
            stored = base.get(key)
            if json.loads(json.dumps(value)) != stored:
                flag = "--" + key.replace("_", "-")
                shown, was = (v if isinstance(v, str) else json.dumps(v) for v in (value, stored))
                raise StoreError(
                    f"{flag} {shown} contradicts the stored run ({key}={was}); "
                    f"resume without it or start a new run"
                )

    def set_meta(self, key: str, value: str) -> None:
        """Set one run-level fact (a resume's extension, the search time spent) in ``meta``."""
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))
        self.meta[key] = str(value)

    def put_candidate(
        self,
        spec: LossSpec,
        *,
        key: str | None = None,
        role: str = "candidate",
        name: str | None = None,
        verdict: str | None = None,
        detail: str | None = None,
        fingerprint: str | None = None,
        first_generation: int | None = None,
        origin: str | None = None,
        parents: Sequence[str] = (),
    ) -> bool:
        """Record a loss of the run as its full spec, keyed by ``spec.key`` unless ``key``
        is given (a study keys its losses by their names): its ``role``, a ``name`` that a
        control or a study's loss goes by, its screening ``verdict`` (None if never
        screened), and in a search its ``origin`` and ``parents``' keys. The first record of a
        key wins. True if inserted."""
        if role not in ROLES:
            raise ValueError(f"candidate role must be one of {ROLES}, not {role!r}")
        expr = spec.expr
        cursor = self._write(
            "INSERT OR IGNORE INTO candidates (key, formula, text, latex, complexity, verdict, "
            "detail, fingerprint, first_generation, created, role, name, transform, generator, "
            "origin, parents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key or spec.key,
                expr.formula,
                expr.text,
                expr.latex,
                expr.complexity,
                verdict,
                detail,
                fingerprint,
                first_generation,
                time.time(),
                role,
                name,
                spec.transform,
                spec.generator,
                origin,
                json.dumps(list(parents)) if origin is not None else None,
            ),
        )
        return cursor.rowcount == 1

    def get_candidate(self, key: str) -> dict | None:
        rows = self._query("SELECT * FROM candidates WHERE key = ?", (key,))
        return rows[0] if rows else None

    def candidates(self, verdict: str | None = None, *, role: str | None = None) -> list[dict]:
        """All candidates in insertion order, or those with the given verdict and/or role."""
        where = [(c, v) for c, v in (("verdict", verdict), ("role", role)) if v is not None]
        sql = " AND ".join(f"{c} = ?" for c, _ in where) or "1"
        return self._query(
            f"SELECT * FROM candidates WHERE {sql} ORDER BY rowid", tuple(v for _, v in where)
        )

    def rejection_counts(self) -> dict[str, int]:
        """How many candidates each screening reason rejected (passed ones excluded)."""
        rows = self._conn.execute(
            "SELECT verdict, COUNT(*) FROM candidates WHERE verdict != "
            "'passed' GROUP BY verdict ORDER BY verdict"
        ).fetchall()
        # (a loss never screened has verdict NULL, which `!=` leaves out)
        return {verdict: n for verdict, n in rows}

    def put_evaluation(
        self,
        fingerprint: str,
        key: str,
        seed: int,
        budget: int,
        result: dict,
        *,
        stage: str = "search",
    ) -> bool:
        """Record a training result of ``stage``. Ignored if (stage, fingerprint, seed, budget)
        is already stored: training is deterministic, so the first result wins. True if
        inserted."""
        status = result["status"]
        if status not in set(Status):
            raise ValueError(
                f"evaluation status must be one of {', '.join(Status)}, not {status!r}"
            )
        cursor = self._write(
            "INSERT OR IGNORE INTO evaluations (fingerprint, key, seed, budget, status, fitness, "
            "metrics, curves, seconds, error, attempts, created, stage, checkpoints, steps) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fingerprint,
                key,
                seed,
                budget,
                status,
                result.get("fitness"),
                json.dumps(result.get("metrics") or {}),
                json.dumps(result.get("curves") or {}),
                result.get("seconds"),
                result.get("error"),
                result.get("attempts", 1),
                time.time(),
                stage,
                json.dumps(result["checkpoints"]) if result.get("checkpoints") else None,
                result.get("steps"),
            ),
        )
        return cursor.rowcount == 1

    def get_evaluation(
        self, fingerprint: str, seed: int, budget: int, *, stage: str = "search"
    ) -> dict | None:
        rows = self._query(
            "SELECT * FROM evaluations WHERE stage = ? AND fingerprint = ? AND "
            "seed = ? AND budget = ?",
            (stage, fingerprint, seed, budget),
        )
        return rows[0] if rows else None

    def evaluations(
        self, fingerprint: str | None = None, *, stage: str | None = None
    ) -> list[dict]:
        """All evaluations in insertion order, or one fingerprint's and/or one stage's, JSON
        columns decoded."""
        where = [
            (c, v) for c, v in (("fingerprint", fingerprint), ("stage", stage)) if v is not None
        ]
        sql = " AND ".join(f"{c} = ?" for c, _ in where) or "1"
        return self._query(
            f"SELECT * FROM evaluations WHERE {sql} ORDER BY id", tuple(v for _, v in where)
        )

    def fitness_summary(self, fingerprint: str) -> dict:
        """Fitness over seeds at the highest budget with ok results (else the highest budget
        tried): n, mean, std (sample std, ddof=1, when n > 1; 0.0 for one seed; None for none),
        the ok seeds, and the diverged/failed counts at that budget."""
        rows = self.evaluations(fingerprint)
        ok_budgets = [r["budget"] for r in rows if r["status"] == Status.OK]
        budget = max(ok_budgets or [r["budget"] for r in rows] or [None])
        at = [r for r in rows if r["budget"] == budget]
        ok = [r for r in at if r["status"] == Status.OK and r["fitness"] is not None]
        summary = summarize([r["fitness"] for r in ok])
        return {
            "budget": budget,
            "n": len(ok),
            "mean": summary["mean"],
            "std": summary["std"],
            "seeds": sorted(r["seed"] for r in ok),
            **failure_counts(at),
        }

    def put_generation(
        self, generation: int, population: list, rng_state: tuple | None, stats: dict
    ) -> None:
        """Record a completed generation: its members (formula text, or mappings, as the search
        writes them); ``rng_state`` is ``random.getstate()`` at the start of the next one. A
        generation is written once: a second write is a bug (StoreError)."""
        state = None if rng_state is None else rng_state_to_json(rng_state)
        try:
            self._write(
                "INSERT INTO generations VALUES (?, ?, ?, ?, ?)",
                (generation, json.dumps(list(population)), state, json.dumps(stats), time.time()),
            )
        except sqlite3.IntegrityError:
            raise StoreError(
                f"generation {generation} is already stored in '{self.run_dir}'; "
                f"resume from the last generation instead"
            ) from None

    def last_generation(self) -> dict | None:
        """The latest completed generation (rng_state ready for random.setstate), or None."""
        rows = self._query("SELECT * FROM generations ORDER BY generation DESC LIMIT 1")
        return rows[0] if rows else None

    def generations(self) -> list[dict]:
        return self._query("SELECT * FROM generations ORDER BY generation")

    def log(self, kind: str, message: str) -> None:
        """Append a human-readable event (start, resume, failure, ...)."""
        self._write(
            "INSERT INTO events (time, kind, message) VALUES (?, ?, ?)",
            (time.time(), kind, message),
        )

    def events(self) -> list[dict]:
        return self._query("SELECT * FROM events ORDER BY id")

    def export_json(self, path: str | os.PathLike) -> None:
        """Dump meta, config, candidates, evaluations, generations and events as JSON."""
        data = {
            "meta": self.meta,
            "config": self._config,
            "candidates": self.candidates(),
            "evaluations": self.evaluations(),
            "generations": self.generations(),
            "events": self.events(),
        }
        with atomic_open(path) as f:
            json.dump(data, f, indent=1)
            f.write("\n")
