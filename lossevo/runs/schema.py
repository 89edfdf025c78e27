"""The run database's tables, their version, and the in-place upgrade from older versions.

Version 2 gives roles and stages their own columns: ``candidates.role`` says what a loss is in
the run (``candidate``, ``baseline``, ``replay-loss``) and ``verdict`` holds only screening
outcomes (NULL for a loss that was never screened); ``evaluations.stage`` says which measurement
a result belongs to (``search``, ``replay`` or a promotion stage's name) instead of a
``stage/fingerprint`` packed into the fingerprint. A version-1 database is rewritten into
version 2 inside one transaction, so it is either upgraded whole or left as it was.

Version 3 makes a candidate its full spec: ``candidates`` gains ``name``, ``transform`` and
``generator``, and a search's candidates are keyed by the spec's digest, so one formula under
two transforms is two candidates. ``evaluations`` gains ``checkpoints`` (the scores of one
training at several steps) and ``steps`` (the steps it trained, when it stopped early).

Version 4 records where a search's candidate came from: ``origin`` (``seed``, ``control``,
``random`` or ``offspring``) and ``parents`` (a JSON list of the parents' candidate keys). A
version-3 database gains the columns; its controls are marked ``control`` and every other row's
origin stays NULL (unknown: it was never recorded).
"""

from __future__ import annotations

import sqlite3

from lossevo.loss.reference import reference_loss, reference_names, resolve_loss, spec_key

SCHEMA_VERSION = 4
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
#: Version 3: a candidate is its full LossSpec (name, transform and generator convention beside
#: the formula), and an evaluation keeps its checkpoint scores and the steps it trained.
_ADDED_IN_V3 = (
    "ALTER TABLE candidates ADD COLUMN name TEXT",
    "ALTER TABLE candidates ADD COLUMN transform TEXT NOT NULL DEFAULT 'sigmoid'",
    "ALTER TABLE candidates ADD COLUMN generator TEXT NOT NULL DEFAULT 'non_saturating'",
    "ALTER TABLE evaluations ADD COLUMN checkpoints TEXT",
    "ALTER TABLE evaluations ADD COLUMN steps INTEGER",
)
#: Version 4: where a candidate came from (``search/provenance.py`` names the origins).
_ADDED_IN_V4 = (
    "ALTER TABLE candidates ADD COLUMN origin TEXT",
    "ALTER TABLE candidates ADD COLUMN parents TEXT",
)
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
    + "".join(f"{statement};\n" for statement in (*_ADDED_IN_V3, *_ADDED_IN_V4))
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


def upgrade_v1(conn: sqlite3.Connection, kind: str, config: dict) -> None:
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


def _spec_columns_v2(kind: str, key: str, role: str, config: dict) -> tuple[str, str, str | None]:
    """(transform, generator, name) of a version-2 candidate, which kept only its formula: a
    search's candidates took the stored space's conventions and its baselines (keyed
    ``baseline:NAME``) their built-in ones; a promotion kept each loss whole in its config; a
    replay's losses are built-in names or formulas, with the defaults."""
    if kind == "promote":
        loss = (config.get("losses") or {}).get(key) or {}
        return loss.get("transform", "sigmoid"), loss.get("generator", "non_saturating"), key
    if kind == "replay":
        spec = resolve_loss(key) if key in reference_names() else None
        return (spec.transform, spec.generator, key) if spec else ("sigmoid", "non_saturating", key)
    if role == "baseline":
        name = key.split(":", 1)[-1]
        spec = reference_loss(name)
        return spec.transform, spec.generator, name
    space = config.get("space") or {}
    return space.get("transform", "sigmoid"), space.get("generator", "non_saturating"), None


def upgrade_v2(conn: sqlite3.Connection, kind: str, config: dict) -> None:
    """Rewrite a version-2 database as version 3, in the caller's transaction: every candidate
    gets its transform, generator and name; a search's candidates, keyed by their canonical
    expression (``LossExpr.key``) until now, are keyed by their spec's digest
    (``LossSpec.key``), in ``evaluations.key`` too. No formula is parsed again."""
    for statement in _ADDED_IN_V3:
        conn.execute(statement)
    rows = conn.execute("SELECT key, role FROM candidates ORDER BY rowid").fetchall()
    for key, role in rows:
        transform, generator, name = _spec_columns_v2(kind, key, role, config)
        new_key = key
        if kind == "search":
            expr_key = reference_loss(name).expr.key if role == "baseline" else key
            new_key = spec_key(expr_key, transform, generator)
        conn.execute(
            "UPDATE candidates SET key = ?, name = ?, transform = ?, generator = ? WHERE key = ?",
            (new_key, name, transform, generator, key),
        )
        if new_key != key:
            conn.execute("UPDATE evaluations SET key = ? WHERE key = ?", (new_key, key))
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def upgrade_v3(conn: sqlite3.Connection, kind: str, config: dict) -> None:
    """Rewrite a version-3 database as version 4, in the caller's transaction: the provenance
    columns are added; a search's controls are marked ``control``, and the origin of any
    other candidate stays unknown (NULL)."""
    for statement in _ADDED_IN_V4:
        conn.execute(statement)
    if kind == "search":
        conn.execute("UPDATE candidates SET origin = 'control' WHERE role = 'baseline'")
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


#: Upgrades by the version they start from; each leaves the database one version newer.
UPGRADES = {1: upgrade_v1, 2: upgrade_v2, 3: upgrade_v3}


def upgrade(conn: sqlite3.Connection, version: int, kind: str, config: dict) -> None:
    """Bring a database of ``version`` to SCHEMA_VERSION in one transaction (all or nothing);
    ``config`` is the run's config.json, where older versions kept what rows now hold."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in range(version, SCHEMA_VERSION):
            UPGRADES[step](conn, kind, config)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
