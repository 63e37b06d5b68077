"""The job index schema, as numbered migrations applied in order (PRAGMA user_version)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .errors import ParaschutError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]


# Column fields other than BatchID, JobIndex and state are declared without a type: SQLite then
# keeps each value exactly as given (no affinity turning 7 into '7' or 2.0 into 2).


def _run(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the surrounding transaction: run statement by statement.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    _run(
        conn,
        """
        CREATE TABLE batches (
            BatchID INTEGER PRIMARY KEY,
            name TEXT,
            job_dir TEXT,
            created REAL
        );
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            BatchID INTEGER NOT NULL REFERENCES batches(BatchID),
            JobIndex INTEGER NOT NULL,
            state TEXT NOT NULL,
            priority NOT NULL,
            name,
            data_type,
            executor,
            ClusterID,
            submit_time,
            hostname,
            updated,
            exit_code,
            version INTEGER NOT NULL DEFAULT 0,
            submitter TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            UNIQUE (BatchID, JobIndex)
        );
        CREATE INDEX jobs_state_batch_priority ON jobs (state, BatchID, priority);
        CREATE INDEX jobs_batch_priority ON jobs (BatchID, priority);
        CREATE INDEX jobs_priority ON jobs (priority);
        CREATE INDEX jobs_executor_state ON jobs (executor, state);
        CREATE TABLE spawns (
            BatchID INTEGER NOT NULL,
            JobIndex INTEGER NOT NULL,
            SpawnID INTEGER NOT NULL,
            count INTEGER NOT NULL,
            state TEXT NOT NULL,
            executor TEXT,
            ClusterID TEXT,
            hostname TEXT,
            exit_code INTEGER,
            updated REAL,
            PRIMARY KEY (BatchID, JobIndex, SpawnID)
        );
        CREATE INDEX spawns_state ON spawns (state);
        CREATE TABLE log_history (
            id INTEGER PRIMARY KEY,
            BatchID INTEGER NOT NULL,
            JobIndex INTEGER NOT NULL,
            SpawnID INTEGER,
            run INTEGER NOT NULL,
            executor TEXT,
            ClusterID TEXT,
            stdout TEXT,
            stderr TEXT,
            submit_time REAL
        );
        CREATE INDEX log_history_job ON log_history (BatchID, JobIndex);
        CREATE TABLE status_snapshots (
            executor TEXT PRIMARY KEY,
            taken REAL NOT NULL,
            payload TEXT NOT NULL
        );
        """
    )


def _v2(conn: sqlite3.Connection) -> None:
    # pending claims (submitter set until the scheduler's id is recorded): normally none, so a
    # partial index keeps the dead-claim check of every submit_jobs call free
    conn.execute("CREATE INDEX jobs_pending_claims ON jobs (submitter) WHERE submitter IS NOT NULL")


def _v3(conn: sqlite3.Connection) -> None:
    # a lease: while one process polls an executor, the others reuse the last snapshot
    conn.execute("ALTER TABLE status_snapshots ADD COLUMN polling_until REAL")


#: the time a state change is recorded at: the row's ``updated`` (every writer sets it), else now
_EVENT_TIME = (
    "CASE WHEN typeof(new.updated) IN ('real', 'integer') THEN new.updated "
    "ELSE (julianday('now') - 2440587.5) * 86400.0 END"
)


def _v4(conn: sqlite3.Connection) -> None:
    # every state change of a job, for the timeline: a trigger sees every code path (submission,
    # polling, local workers, set_complete, user resets) without any of them knowing about it.
    # A poll that sees a job running while its state is still 'submit' adds a 'run' event
    # itself (source 'scheduler'), with the scheduler's own start time when it reports one.
    _run(
        conn,
        """
        CREATE TABLE job_events (
            id INTEGER PRIMARY KEY,
            BatchID INTEGER NOT NULL,
            JobIndex INTEGER NOT NULL,
            state TEXT NOT NULL,
            time REAL NOT NULL,
            ClusterID,
            hostname,
            source TEXT NOT NULL DEFAULT 'index'
        );
        CREATE INDEX job_events_job ON job_events (BatchID, JobIndex)
        """,
    )
    conn.execute(
        "CREATE TRIGGER jobs_state_events AFTER UPDATE OF state ON jobs WHEN old.state IS NOT new.state "
        "BEGIN INSERT INTO job_events (BatchID, JobIndex, state, time, ClusterID, hostname) "
        f"VALUES (new.BatchID, new.JobIndex, new.state, {_EVENT_TIME}, new.ClusterID, new.hostname); END"
    )
    # an index from before keeps what it knows: when each job was last submitted, and its state since
    conn.execute(
        "INSERT INTO job_events (BatchID, JobIndex, state, time, ClusterID, hostname) "
        "SELECT BatchID, JobIndex, 'submit', submit_time, ClusterID, NULL FROM jobs "
        "WHERE typeof(submit_time) IN ('real', 'integer') ORDER BY BatchID, JobIndex"
    )
    conn.execute(
        "INSERT INTO job_events (BatchID, JobIndex, state, time, ClusterID, hostname) "
        "SELECT BatchID, JobIndex, state, updated, ClusterID, hostname FROM jobs "
        "WHERE state NOT IN ('init', 'submit') AND typeof(submit_time) IN ('real', 'integer') "
        "AND typeof(updated) IN ('real', 'integer') ORDER BY BatchID, JobIndex"
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to date inside one exclusive transaction (safe under concurrency)."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN EXCLUSIVE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise ParaschutError(
                f"the job index has schema version {version}, newer than this paraschut "
                f"({SCHEMA_VERSION}): upgrade paraschut-core"
            )
        for number in range(version, SCHEMA_VERSION):
            MIGRATIONS[number](conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
