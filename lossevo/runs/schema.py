"""The run database's tables, their version, and the in-place upgrade from older versions.

Version 2 gives roles and stages their own columns: ``candidates.role`` says what a loss is in
the run (``candidate``, ``baseline``, ``replay-loss``) and ``verdict`` holds only screening
outcomes (NULL for a loss that was never screened); ``evaluations.stage`` says which measurement
a result belongs to (``search``, ``replay`` or a promotion stage's name) instead of a
``stage/fingerprint`` packed into the fingerprint. A version-1 database is rewritten into
version 2 inside one transaction, so it is either upgraded whole or left as it was.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2
ROLES = ("candidate", "baseline", "replay-loss")
#: The stage of every evaluation of a search or a replay (a promotion names its stages).
STAGE_OF_KIND = {"search": "search", "replay": "replay"}

_CANDIDATES = """
CREATE TABLE candidates (
    key TEXT PRIMARY KEY, formula TEXT, text TEXT, latex TEXT, complexity INTEGER,
    verdict TEXT, detail TEXT, fingerprint TEXT, first_generation INTEGER,
    created REAL NOT NULL,
    role TEXT NOT NULL DEFAULT 'candidate'
        CHECK (role IN ('candidate', 'baseline', 'replay-loss')));
CREATE INDEX candidates_verdict ON candidates (verdict);
CREATE INDEX candidates_fingerprint ON candidates (fingerprint);
CREATE INDEX candidates_role ON candidates (role);
"""
_EVALUATIONS = """
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, key TEXT, seed INTEGER NOT NULL,
    budget INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed')),
    fitness REAL, metrics TEXT, curves TEXT, seconds REAL, error TEXT, attempts INTEGER,
    created REAL NOT NULL, stage TEXT NOT NULL,
    UNIQUE (stage, fingerprint, seed, budget));
CREATE INDEX evaluations_key ON evaluations (key);
CREATE INDEX evaluations_fingerprint ON evaluations (fingerprint);
"""
SCHEMA = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
    + _CANDIDATES
    + _EVALUATIONS
    + """
CREATE TABLE generations (
    generation INTEGER PRIMARY KEY, population TEXT NOT NULL, rng_state TEXT, stats TEXT,
    created REAL NOT NULL);
CREATE TABLE events (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
"""
)

_CANDIDATE_COLUMNS = (
    "key, formula, text, latex, complexity, verdict, detail, fingerprint, first_generation, created"
)
_EVALUATION_COLUMNS = (
    "id, fingerprint, key, seed, budget, status, fitness, metrics, curves, seconds, error, "
    "attempts, created"
)


def _roles_v1(kind: str) -> str:
    """SQL for a version-1 candidate's role, which its verdict held (a search's baselines, a
    replay's losses, a promotion's candidates and baselines)."""
    if kind == "replay":
        return "'replay-loss'"
    return "CASE verdict WHEN 'baseline' THEN 'baseline' ELSE 'candidate' END"


def _verdict_v1(kind: str) -> str:
    """SQL for a version-1 candidate's verdict: screening outcomes only, else NULL."""
    if kind in ("promote", "replay"):
        return "NULL"
    return "CASE verdict WHEN 'baseline' THEN NULL ELSE verdict END"


def _split_promotion_stages(conn: sqlite3.Connection) -> None:
    """A version-1 promotion packed ``stage/fingerprint`` into the fingerprint column; split it
    at the last '/' (fingerprints are hex digests; stage names may hold a '/')."""
    rows = conn.execute("SELECT id, fingerprint FROM evaluations").fetchall()
    if any("/" not in packed for _, packed in rows):
        raise sqlite3.DatabaseError("a promotion evaluation names no stage")
    conn.executemany(
        "UPDATE evaluations SET stage = ?, fingerprint = ? WHERE id = ?",
        [(*packed.rsplit("/", 1), row_id) for row_id, packed in rows],
    )


def upgrade_v1(conn: sqlite3.Connection, kind: str) -> None:
    """Rewrite a version-1 database as version 2, in the caller's transaction."""
    if kind not in (*STAGE_OF_KIND, "promote"):
        raise sqlite3.DatabaseError(f"unknown run kind {kind!r}")
    stage = STAGE_OF_KIND.get(kind, "")  # a promotion's stages are split out below
    conn.execute("ALTER TABLE candidates RENAME TO candidates_v1")
    conn.execute("ALTER TABLE evaluations RENAME TO evaluations_v1")
    for index in ("candidates_verdict", "candidates_fingerprint", "evaluations_key"):
        conn.execute(f"DROP INDEX IF EXISTS {index}")
    for statement in (_CANDIDATES + _EVALUATIONS).split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        f"INSERT INTO candidates ({_CANDIDATE_COLUMNS}, role) SELECT "
        f"{_CANDIDATE_COLUMNS.replace('verdict', _verdict_v1(kind))}, {_roles_v1(kind)} "
        f"FROM candidates_v1 ORDER BY rowid"
    )
    conn.execute(
        f"INSERT INTO evaluations ({_EVALUATION_COLUMNS}, stage) SELECT "
        f"{_EVALUATION_COLUMNS}, ? FROM evaluations_v1",
        (stage,),
    )
    if kind == "promote":
        _split_promotion_stages(conn)
    conn.execute("DROP TABLE candidates_v1")
    conn.execute("DROP TABLE evaluations_v1")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


#: Upgrades by the version they start from; each leaves the database one version newer.
UPGRADES = {1: upgrade_v1}


def upgrade(conn: sqlite3.Connection, version: int, kind: str) -> None:
    """Bring a database of ``version`` to SCHEMA_VERSION in one transaction (all or nothing)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in range(version, SCHEMA_VERSION):
            UPGRADES[step](conn, kind)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
