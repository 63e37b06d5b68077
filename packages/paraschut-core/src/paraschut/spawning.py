"""Spawns: a running job multiplying itself into N submissions, and completing when the last one ends."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

from .errors import InvalidJobError
from .models import COMPLETE, FAILED, INIT, RUN, SPAWN, SUBMIT, Executor
from .session import Session
from .submission import build_spec

__all__ = ["MAX_SPAWNS", "finish_spawn", "spawn_rows", "start_spawn", "submit_spawns"]

Key = tuple[int, int]
#: At most this many spawns per job: each is a row and a scheduler submission.
MAX_SPAWNS = 100_000


def spawn_rows(session: Session, key: Key) -> dict[int, dict[str, Any]]:
    """The spawns of a job by SpawnID."""
    rows = session.index.query("SELECT * FROM spawns WHERE BatchID=? AND JobIndex=? ORDER BY SpawnID", key)
    return {r["SpawnID"]: dict(r) for r in rows}


def start_spawn(session: Session, key: Key, count: int, executor: Executor) -> None:
    """Record ``count`` new spawns of a job and put the job in the spawn state (one transaction)."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_SPAWNS:
        raise InvalidJobError(f"the number of spawns must be a whole number in 1..{MAX_SPAWNS}, not {count!r}", "N")
    now = time.time()
    with session.index.write() as conn:
        row = conn.execute("SELECT state FROM jobs WHERE BatchID=? AND JobIndex=?", key).fetchone()
        conn.execute("DELETE FROM spawns WHERE BatchID=? AND JobIndex=?", key)
        conn.executemany(
            "INSERT INTO spawns (BatchID, JobIndex, SpawnID, count, state, executor, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*key, i, count, INIT, executor.name, now) for i in range(count)],
        )
        conn.execute(
            "UPDATE jobs SET state=?, updated=?, version=version+1 WHERE BatchID=? AND JobIndex=?",
            (SPAWN, now, *key),
        )
    if row is not None and row[0] != SPAWN:
        session.manager.state_changed(key[0], key[1], row[0], SPAWN)


def submit_spawns(session: Session, job: Mapping[str, Any], spawn_ids: list[int], executor: Executor) -> list[int]:
    """Submit the given spawns of ``job``; a scheduler error leaves the rest in init and is raised."""
    key = (job["BatchID"], job["JobIndex"])
    rows = spawn_rows(session, key)
    submitted = []
    for sid in spawn_ids:
        (run,) = session.index.query(
            "SELECT COUNT(*) FROM log_history WHERE BatchID=? AND JobIndex=? AND SpawnID=?", (*key, sid)
        )[0]
        spec = build_spec(session, job, executor, int(run), spawn=(sid, rows[sid]["count"]))
        sub = session.manager.submit(executor, spec)
        now = time.time()
        with session.index.write() as conn:
            conn.execute(
                "UPDATE spawns SET state=?, ClusterID=?, executor=?, exit_code=NULL, updated=? "
                "WHERE BatchID=? AND JobIndex=? AND SpawnID=?",
                (SUBMIT, sub.cluster_id, executor.name, now, *key, sid),
            )
            conn.execute(
                "INSERT INTO log_history (BatchID, JobIndex, SpawnID, run, executor, ClusterID, stdout, "
                "stderr, submit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, sid, int(run), executor.name, sub.cluster_id, sub.stdout or spec.stdout,
                 sub.stderr or spec.stderr, now),
            )
        submitted.append(sid)
    return submitted


def mark_spawn_running(session: Session, key: Key, spawn_id: int, cluster_id: str | None) -> None:
    """A spawn started: record its host (and id when the executor told it)."""
    with session.index.write() as conn:
        conn.execute(
            "UPDATE spawns SET state=?, hostname=?, ClusterID=COALESCE(?, ClusterID), updated=? "
            "WHERE BatchID=? AND JobIndex=? AND SpawnID=? AND state NOT IN (?, ?)",
            (RUN, socket.gethostname(), cluster_id, time.time(), *key, spawn_id, COMPLETE, FAILED),
        )


def finish_spawn(session: Session, key: Key, spawn_id: int, state: str, exit_code: int | None = None) -> bool:
    """Mark one spawn finished; True only for the call that completes the whole job.

    The spawn's compare-and-set, the count of unfinished spawns and the job's spawn -> complete
    transition happen in one write transaction, so exactly one finishing spawn sees itself last.
    """
    now = time.time()
    with session.index.write() as conn:
        cur = conn.execute(
            "UPDATE spawns SET state=?, exit_code=?, updated=? WHERE BatchID=? AND JobIndex=? "
            "AND SpawnID=? AND state NOT IN (?, ?)",
            (state, exit_code, now, *key, spawn_id, COMPLETE, FAILED),
        )
        if cur.rowcount == 0 or state != COMPLETE:
            return False
        (left,) = conn.execute(
            "SELECT COUNT(*) FROM spawns WHERE BatchID=? AND JobIndex=? AND state != ?", (*key, COMPLETE)
        ).fetchone()
        if left:
            return False
        done = conn.execute(
            "UPDATE jobs SET state=?, updated=?, version=version+1 WHERE BatchID=? AND JobIndex=? AND state=?",
            (COMPLETE, now, *key, SPAWN),
        )
        last = done.rowcount == 1
    if last:
        session.manager.state_changed(key[0], key[1], SPAWN, COMPLETE)
    return last
