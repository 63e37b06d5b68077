"""The job index: one SQLite file, the only place that talks SQL (through sqlite3 and sqlite-utils)."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psutil

from . import filters
from .errors import ConflictError, IndexBusyError, InvalidFilterError, InvalidJobError, JobNotFoundError
from .files import make_private_dirs
from .jobinfo import COLUMN_FIELDS, JobInfo, merge_row
from .migrations import migrate

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "FILTER_MAX_LENGTH", "FILTER_SECONDS", "JOB_COLUMNS", "NETWORK_FILESYSTEMS", "JobIndex", "filesystem_type",
    "filter_guard", "job_to_row", "read_only_authorizer", "row_to_job",
]

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "lustre", "gpfs", "cifs", "smbfs", "smb3", "fuse.sshfs", "beegfs",
        "fuse.beegfs", "ceph", "fuse.ceph", "glusterfs", "fuse.glusterfs", "afs", "panfs",
        "pvfs2", "ocfs2", "gfs2", "9p", "wekafs", "fuse.s3fs", "davfs", "fuse.gcsfuse",
    }
)
_ALLOWED_FUNCTIONS = filters.FUNCTIONS | {"like", "glob", "json"}


def filesystem_type(path: str) -> str:
    """The type of the file system holding ``path`` (longest matching mount point)."""
    path = os.path.realpath(path)
    best, fstype = "", "unknown"
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint.rstrip("/") or "/"
        if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
            best, fstype = mount, part.fstype
    return fstype




_COLUMN_SET = frozenset(COLUMN_FIELDS)
_UPDATED = COLUMN_FIELDS.index("updated")
#: one encoder for every row (json.dumps with options builds a new one per call)
_ENCODE = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
_PLAIN = (str, int, float)


def job_to_values(job: Mapping[str, Any], now: float) -> list[Any]:
    """A validated job's column values then its JSON metadata, in ``JOB_COLUMNS`` order.

    The metadata keeps every non-column field, and a column field's exact value when the column
    cannot hold it as it is (None, a bool, a list or a dict).
    """
    values = [
        value if value is None or type(value) in _PLAIN else json.dumps(value)
        for value in map(job.get, COLUMN_FIELDS)
    ]
    values[_UPDATED] = now
    meta = {k: v for k, v in job.items() if k not in _COLUMN_SET or type(v) not in _PLAIN}
    meta.pop("updated", None)
    values.append(_ENCODE(meta))
    return values


def job_to_row(job: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Map a validated job dict to its columns and JSON metadata (exact values kept in JSON)."""
    return dict(zip([*COLUMN_FIELDS, "metadata"], job_to_values(job, now), strict=True))


#: a 'run' event the scheduler saw, unless the submission's history already went past 'submit'
_RUN_EVENT = (
    "INSERT INTO job_events (BatchID, JobIndex, state, time, ClusterID, source) "
    "SELECT ?, ?, 'run', ?, ?, 'scheduler' WHERE COALESCE((SELECT state FROM job_events "
    "WHERE BatchID=? AND JobIndex=? ORDER BY id DESC LIMIT 1), 'submit') = 'submit'"
)
#: the columns row_to_job reads, in order
JOB_COLUMNS = ", ".join([*COLUMN_FIELDS, "metadata"])


def row_to_job(row: sqlite3.Row | Sequence[Any]) -> JobInfo:
    """Map an index row (JOB_COLUMNS first, in order) back to the job dict the user stored."""
    row = tuple(row)
    job = JobInfo(merge_row(row))
    job.mark_read(row)
    return job


class JobIndex:
    """A connection to one job index file, with transactions and the queries paraschut needs."""

    def __init__(self, path: str, journal_mode: str = "auto", busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._create_private(path)
        self.conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.journal_mode = self._journal(journal_mode)
        self._busy(lambda: migrate(self.conn))

    @functools.cached_property
    def db(self) -> sqlite_utils.Database:
        """The index as a sqlite-utils Database (imported on first use: it is a third of the time
        ``import paraschut`` takes, and every job script and command pays that)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    @staticmethod
    def _create_private(path: str) -> None:
        make_private_dirs(os.path.dirname(path) or ".")
        if not os.path.exists(path):
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                pass

    def _journal(self, mode: str) -> str:
        if mode == "auto":
            mode = "delete" if filesystem_type(self.path) in NETWORK_FILESYSTEMS else "wal"
        self._busy(lambda: self.conn.execute(f"PRAGMA journal_mode={mode}"))
        self.conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        self.conn.execute("PRAGMA synchronous=NORMAL" if mode == "wal" else "PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        return mode

    def _busy_error(self, exc: sqlite3.OperationalError) -> IndexBusyError | None:
        """The IndexBusyError for SQLite's "database is locked", else None."""
        if "locked" in str(exc) or "busy" in str(exc):
            return IndexBusyError(
                f"the job index {self.path} stayed locked by another process for more than "
                f"{self.busy_timeout:g} s (busy_timeout); nothing was written, try again"
            )
        return None

    def _busy(self, action: Any) -> Any:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            error = self._busy_error(exc)
            if error is not None:
                raise error from exc
            raise

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # -- transactions -----------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the index's write lock from the start (BEGIN IMMEDIATE)."""
        self._busy(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        try:
            yield self.conn
            # COMMIT can be refused too: with the rollback journal it waits for readers to finish
            self.conn.execute("COMMIT")
        except BaseException as exc:
            # a refused COMMIT leaves the transaction open, holding the lock against everyone
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            error = self._busy_error(exc) if isinstance(exc, sqlite3.OperationalError) else None
            if error is not None:
                raise error from exc
            raise

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = (), raw: bool = False) -> list[Any]:
        """Run a read query and return all rows (``raw``: plain tuples, faster for many rows)."""

        def run() -> list[Any]:
            cursor = self.conn.cursor()
            if raw:
                cursor.row_factory = None
            return cursor.execute(sql, params).fetchall()

        return self._busy(run)  # type: ignore[no-any-return]

    def filtered(self, where: str | None, sql: str, params: Sequence[Any] = (), raw: bool = False) -> list[Any]:
        """Run ``sql`` (which holds ``{where}``) with a compiled Filter, under :func:`filter_guard`."""
        clause = where or "1"
        with filter_guard(self.conn, where):
            return self.query(sql.format(where=clause), params, raw=raw)

    # -- jobs -------------------------------------------------------------------------------
    def get_job(self, batch_id: int, job_index: int) -> JobInfo:
        """One job, or JobNotFoundError."""
        rows = self.query(f"SELECT {JOB_COLUMNS} FROM jobs WHERE BatchID=? AND JobIndex=?", (batch_id, job_index))
        if not rows:
            raise JobNotFoundError(batch_id, job_index)
        return row_to_job(rows[0])

    def jobs(self, where: str | None = None, order: str = "BatchID, JobIndex") -> list[JobInfo]:
        """All jobs matching a compiled Filter (None: all), as job dicts."""
        rows = self.filtered(where, f"SELECT {JOB_COLUMNS} FROM jobs WHERE {{where}} ORDER BY {order}", raw=True)
        return [row_to_job(r) for r in rows]

    def jobs_by_keys(self, keys: Sequence[tuple[int, int]]) -> list[JobInfo]:
        """The jobs with the given (BatchID, JobIndex) keys (missing ones left out)."""
        out: list[JobInfo] = []
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            cond = " OR ".join("(BatchID=? AND JobIndex=?)" for _ in chunk)
            rows = self.query(f"SELECT {JOB_COLUMNS} FROM jobs WHERE {cond}", [v for k in chunk for v in k])
            out += [row_to_job(r) for r in rows]
        return out

    def batch(self, batch_id: int) -> sqlite3.Row | None:
        """The batch row, or None."""
        rows = self.query("SELECT * FROM batches WHERE BatchID=?", (batch_id,))
        return rows[0] if rows else None

    def batch_ids(self) -> list[int]:
        """Every batch id, ascending."""
        return [r[0] for r in self.query("SELECT BatchID FROM batches ORDER BY BatchID")]

    def add_jobs(
        self, batch: Mapping[str, Any], jobs: Sequence[dict[str, Any]], next_index: bool = False
    ) -> None:
        """Insert a batch (if new) and its jobs in one transaction; nothing is written on error.

        With ``next_index`` the single job gets the batch's next free JobIndex, chosen inside the
        transaction (so concurrent adders never collide); it is set in the job dict.
        """
        now = time.time()
        cols = [*COLUMN_FIELDS, "metadata"]
        sql = f"INSERT INTO jobs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        with self.write() as conn:
            if next_index:
                (jobs[0]["JobIndex"],) = conn.execute(
                    "SELECT COALESCE(MAX(JobIndex) + 1, 0) FROM jobs WHERE BatchID=?", (batch["BatchID"],)
                ).fetchone()
            rows = [job_to_values(job, now) for job in jobs]
            conn.execute(
                "INSERT OR IGNORE INTO batches (BatchID, name, job_dir, created) VALUES (?, ?, ?, ?)",
                (batch["BatchID"], batch.get("name"), batch.get("job_dir"), now),
            )
            try:
                conn.executemany(sql, rows)
            except sqlite3.IntegrityError:
                raise InvalidJobError(
                    f"batch {batch['BatchID']} already has a job with one of these JobIndex values",
                    "JobIndex",
                ) from None

    def _write_job(self, conn: sqlite3.Connection, job: Mapping[str, Any]) -> None:
        row = job_to_row(job, time.time())
        sets = ", ".join(f"{c}=?" for c in row if c not in ("BatchID", "JobIndex"))
        values = [v for c, v in row.items() if c not in ("BatchID", "JobIndex")]
        conn.execute(
            f"UPDATE jobs SET {sets}, version=version+1 WHERE BatchID=? AND JobIndex=?",
            (*values, job["BatchID"], job["JobIndex"]),
        )

    def _current(self, conn: sqlite3.Connection, batch_id: int, job_index: int) -> JobInfo:
        sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE BatchID=? AND JobIndex=?"
        rows = conn.execute(sql, (batch_id, job_index)).fetchall()
        if not rows:
            raise JobNotFoundError(batch_id, job_index)
        return row_to_job(rows[0])

    def merge_update(
        self, batch_id: int, job_index: int, changed: Mapping[str, Any], removed: set[str],
        origin: Mapping[str, Any] | None, force: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> JobInfo:
        """Write only ``changed``/``removed`` fields over the current row, refusing lost updates.

        A field counts as a conflict when another process changed it since ``origin`` was read
        (and to a different value than this one writes); ``force`` fields are never conflicts.
        """
        _missing = object()
        with self.write() as conn:
            current = self._current(conn, batch_id, job_index)
            if origin is not None:
                # another process changed the field since this one read it: even when it wrote
                # the same value, both writers started from the same read (two increments)
                conflicts = [
                    k for k in [*changed, *removed]
                    if k not in force and current.get(k, _missing) != origin.get(k, _missing)
                ]
                if conflicts:
                    raise ConflictError(batch_id, job_index, sorted(conflicts))
            merged = dict(current)
            merged.update(changed)
            for key in removed:
                merged.pop(key, None)
            self._write_job(conn, merged)
            result = self._current(conn, batch_id, job_index)
        return result

    @contextmanager
    def locked_job(self, batch_id: int, job_index: int) -> Iterator[JobInfo]:
        """Hold the index's write lock while the caller reads and changes one job."""
        from .jobinfo import validate_job

        with self.write() as conn:
            job = self._current(conn, batch_id, job_index)
            yield job
            if (job.get("BatchID"), job.get("JobIndex")) != (batch_id, job_index):
                raise InvalidJobError("BatchID and JobIndex cannot be changed", "BatchID")
            self._write_job(conn, validate_job(job))
            fresh = self._current(conn, batch_id, job_index)
        job.clear()
        job.update(fresh)
        job.mark_read()

    def reset_spawns(self, keys: Sequence[tuple[int, int]]) -> None:
        """Spawns of cancelled jobs go back to init (they no longer count as on a queue)."""
        if not keys:
            return
        with self.write() as conn:
            conn.executemany(
                "UPDATE spawns SET state='init', updated=? "
                "WHERE BatchID=? AND JobIndex=? AND state IN ('submit', 'run')",
                [(time.time(), b, j) for b, j in keys],
            )

    def resolve(
        self, rows: Sequence[tuple[tuple[int, int], str, str, int | None, str]],
        times: Mapping[tuple[int, int], tuple[float | None, float | None]] | None = None,
    ) -> dict[tuple[Any, str], str]:
        """Finished jobs in one transaction: for each (key, ClusterID, state, exit code, JSON patch),
        a compare-and-set from submit/run. Returns {(key, new state): old state} for those changed.

        ``times`` gives the (start, end) times the scheduler reported for some jobs: a start a job
        never recorded itself becomes its 'run' event, an end the time of its final event.
        """
        changed: dict[tuple[Any, str], str] = {}
        now = time.time()
        times = times or {}
        where = "BatchID=? AND JobIndex=? AND ClusterID=? AND state IN ('submit', 'run')"
        with self.write() as conn:
            # one read for the jobs' states, then each kind of write for all of them at once: the
            # run events first, so each job's history stays in order (run, then how it ended)
            old = self._states_under(conn, [(key, cluster_id) for key, cluster_id, *_ in rows])
            todo = [row for row in rows if (row[0], row[1]) in old]
            conn.executemany(
                _RUN_EVENT,
                [(*key, started, cid, *key) for key, cid, *_ in todo
                 if (started := times.get(key, (None, None))[0]) is not None and old[(key, cid)] == "submit"],
            )
            conn.executemany(
                "UPDATE jobs SET state=?, exit_code=?, updated=?, version=version+1, "
                f"metadata=json_patch(metadata, ?) WHERE {where}",
                [(state, exit_code, now, patch, *key, cid) for key, cid, state, exit_code, patch in todo],
            )
            conn.executemany(
                "UPDATE job_events SET time=?, source='scheduler' WHERE id=(SELECT MAX(id) FROM "
                "job_events WHERE BatchID=? AND JobIndex=?) AND state=?",
                [(ended, *key, state) for key, _, state, _, _ in todo
                 if (ended := times.get(key, (None, None))[1]) is not None and ended <= now],
            )
            for key, cid, state, _, _ in todo:
                changed[(key, state)] = old[(key, cid)]
        return changed

    @staticmethod
    def _states_under(
        conn: sqlite3.Connection, jobs: Sequence[tuple[tuple[int, int], str]]
    ) -> dict[tuple[tuple[int, int], str], str]:
        """{(key, ClusterID): state} of the jobs still in submit or run under that ClusterID."""
        out: dict[tuple[tuple[int, int], str], str] = {}
        for start in range(0, len(jobs), 300):
            chunk = jobs[start : start + 300]
            # a join from the keys (each one primary-key lookup): an OR of 300 terms would make
            # SQLite scan the state index and test every term on every row
            values = ", ".join("(?, ?, ?)" for _ in chunk)
            found = conn.execute(
                f"WITH asked(b, i, c) AS (VALUES {values}) SELECT j.BatchID, j.JobIndex, j.ClusterID, j.state "
                "FROM asked CROSS JOIN jobs j ON j.BatchID = asked.b AND j.JobIndex = asked.i "
                "WHERE j.ClusterID = asked.c AND j.state IN ('submit', 'run')",
                [v for (b, j), cid in chunk for v in (b, j, cid)],
            ).fetchall()
            given = dict(chunk)  # the query compared each ClusterID as given: key the answer the same way
            for b, j, _, state in found:
                out[((b, j), given[(b, j)])] = state
        return out

    @staticmethod
    def _add_run_event(conn: sqlite3.Connection, key: tuple[int, int], cluster_id: str, at: float) -> None:
        """A 'run' event seen by the scheduler, unless this submission already has one."""
        conn.execute(_RUN_EVENT, (*key, at, cluster_id, *key))

    def record_running(self, seen: Sequence[tuple[tuple[int, int], str, float]]) -> None:
        """Jobs a poll saw running, as ((BatchID, JobIndex), ClusterID, since when): a 'run' event
        for each one still in state 'submit' under that id whose submission has none yet."""
        todo = []
        for start in range(0, len(seen), 400):
            chunk = seen[start : start + 400]
            cond = " OR ".join("(BatchID=? AND JobIndex=?)" for _ in chunk)
            rows = self.query(
                f"SELECT BatchID, JobIndex, ClusterID FROM jobs WHERE state='submit' AND ({cond})",
                [v for key, _, _ in chunk for v in key], raw=True,
            )
            submitted = {((r[0], r[1]), str(r[2])) for r in rows}
            todo += [item for item in chunk if (item[0], item[1]) in submitted]
        if not todo:
            return
        with self.write() as conn:
            for key, cluster_id, at in todo:
                if conn.execute(
                    "SELECT 1 FROM jobs WHERE BatchID=? AND JobIndex=? AND ClusterID=? AND state='submit'",
                    (*key, cluster_id),
                ).fetchone():
                    self._add_run_event(conn, key, cluster_id, at)

    def failed_spawns(self) -> set[tuple[int, int]]:
        """Jobs still in spawn with a failed spawn: the last spawn never completes them."""
        rows = self.query(
            "SELECT DISTINCT s.BatchID, s.JobIndex FROM spawns s INDEXED BY spawns_state JOIN jobs j "
            "ON j.BatchID = s.BatchID AND j.JobIndex = s.JobIndex WHERE s.state = 'failed' AND j.state = 'spawn'",
            raw=True,
        )
        return {(int(r[0]), int(r[1])) for r in rows}

    def job_events(self, batch_id: int) -> list[sqlite3.Row]:
        """A batch's state history, oldest first (id order: the order the index recorded it)."""
        return self.query(
            "SELECT BatchID, JobIndex, state, time, ClusterID, hostname, source FROM job_events "
            "WHERE BatchID=? ORDER BY id",
            (batch_id,),
        )

    def set_field(self, where: str, params: Sequence[Any], field: str, value: Any) -> int:
        """Set one (validated) field of every matching job in one transaction; returns how many."""
        with self.write() as conn:
            rows = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE {where}", params).fetchall()
            for row in rows:
                job = row_to_job(row)
                job[field] = value
                self._write_job(conn, job)
        return len(rows)

    def set_state(
        self, where: str, params: Sequence[Any], to_state: str, from_states: Sequence[str] | None = None,
        **fields: Any,
    ) -> list[tuple[int, int, str]]:
        """Compare-and-set the state of matching jobs; returns (BatchID, JobIndex, old state)."""
        cond = where
        args = list(params)
        if from_states is not None:
            cond += f" AND state IN ({', '.join('?' * len(from_states))})"
            args += list(from_states)
        sets = ", ".join(["state=?", "updated=?", "version=version+1", *(f"{k}=?" for k in fields)])
        with self.write() as conn:
            old = conn.execute(f"SELECT BatchID, JobIndex, state FROM jobs WHERE {cond}", args).fetchall()
            if old:
                conn.execute(f"UPDATE jobs SET {sets} WHERE {cond}", [to_state, time.time(), *fields.values(), *args])
        return [(r[0], r[1], r[2]) for r in old]

    def delete_jobs(self, where: str, params: Sequence[Any]) -> list[tuple[int, int]]:
        """Remove matching jobs with their spawns, log and state history; returns what was removed."""
        with self.write() as conn:
            gone = conn.execute(f"SELECT BatchID, JobIndex FROM jobs WHERE {where}", params).fetchall()
            for b, j in gone:
                for table in ("spawns", "log_history", "job_events"):
                    conn.execute(f"DELETE FROM {table} WHERE BatchID=? AND JobIndex=?", (b, j))
            conn.execute(f"DELETE FROM jobs WHERE {where}", params)
            conn.execute("DELETE FROM batches WHERE BatchID NOT IN (SELECT DISTINCT BatchID FROM jobs)")
        return [(r[0], r[1]) for r in gone]

    def load_snapshot(self, executor: str) -> tuple[float, set[str], dict[str, str], dict[str, float]] | None:
        """The last status snapshot of an executor: (time, ids asked about, state by id, since when
        each absent id has been absent)."""
        rows = self.query("SELECT taken, payload FROM status_snapshots WHERE executor=?", (executor,))
        if not rows:
            return None
        payload = json.loads(rows[0]["payload"])
        if "asked" not in payload:  # only a lease row so far: no poll has finished yet
            return None
        return (
            float(rows[0]["taken"]), set(payload["asked"]), dict(payload["states"]),
            dict(payload.get("absent_since", {})),
        )

    def save_snapshot(
        self, executor: str, taken: float, asked: Sequence[str], states: Mapping[str, str],
        absent_since: Mapping[str, float],
    ) -> None:
        """Store an executor's status snapshot for other processes to reuse."""
        payload = json.dumps(
            {"asked": list(asked), "states": dict(states), "absent_since": dict(absent_since)},
            separators=(",", ":"),
        )
        with self.write() as conn:
            conn.execute(
                "INSERT INTO status_snapshots (executor, taken, payload) VALUES (?, ?, ?) "
                "ON CONFLICT(executor) DO UPDATE SET taken=excluded.taken, payload=excluded.payload, "
                "polling_until=NULL WHERE excluded.taken >= status_snapshots.taken",
                (executor, taken, payload),
            )

    def take_poll_lease(self, executor: str, now: float, seconds: float, seen: float = float("inf")) -> bool:
        """Become the one process polling ``executor`` for up to ``seconds``.

        False when another process is polling, or has saved a snapshot newer than ``seen`` (the
        one the caller found stale) since.
        """
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO status_snapshots (executor, taken, payload) VALUES (?, 0, '{}')", (executor,)
            )
            cur = conn.execute(
                "UPDATE status_snapshots SET polling_until=? WHERE executor=? "
                "AND (polling_until IS NULL OR polling_until < ?) AND taken <= ?",
                (now + seconds, executor, now, seen),
            )
        return cur.rowcount == 1

    def release_poll_lease(self, executor: str) -> None:
        """Give up polling ``executor`` (the poll failed)."""
        with self.write() as conn:
            conn.execute("UPDATE status_snapshots SET polling_until=NULL WHERE executor=?", (executor,))

    def active_cluster_ids(self, executor: str) -> list[str]:
        """Every cluster id of ``executor`` that should be on its queue (jobs and spawns)."""
        rows = self.query(
            "SELECT ClusterID FROM jobs WHERE executor=? AND state IN ('submit', 'run') AND ClusterID IS NOT NULL "
            "UNION SELECT ClusterID FROM spawns WHERE executor=? AND state IN ('submit', 'run') "
            "AND ClusterID IS NOT NULL",
            (executor, executor), raw=True,
        )
        return [str(r[0]) for r in rows]

    def snapshot_times(self) -> dict[str, float]:
        """When each executor was last polled."""
        return {r[0]: float(r[1]) for r in self.query("SELECT executor, taken FROM status_snapshots")}

    def integrity_check(self) -> str:
        """SQLite's integrity check result ('ok' when sound)."""
        return str(self.query("PRAGMA integrity_check")[0][0])

    def table_counts(self) -> dict[str, int]:
        """Rows per table (for doctor)."""
        return {name: self.db[name].count for name in self.db.table_names()}


#: A Filter that builds strings (``replace``, ``||``) may not build one longer than this (bytes):
#: nested replace() calls grow a string tenfold per level, and SQLite's own limit is 1 GB.
FILTER_MAX_LENGTH = 64 * 2**20
#: A query with a Filter is interrupted after this many seconds (pathological work per row).
FILTER_SECONDS = 60.0


@contextmanager
def filter_guard(conn: sqlite3.Connection, where: str | None) -> Iterator[None]:
    """Run a query holding a compiled Filter: read-only (:func:`read_only_authorizer`), interrupted
    after ``FILTER_SECONDS``, strings it builds capped at ``FILTER_MAX_LENGTH``; SQLite's complaints
    become InvalidFilterError (a busy index stays IndexBusyError's business).

    The length cap applies only to Filters that can build strings: SQLite checks it on stored values
    too, and a job's own metadata may be larger.
    """
    builds = where is not None and ("replace(" in where or "||" in where)
    length = conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH)
    deadline = time.monotonic() + FILTER_SECONDS
    conn.set_authorizer(read_only_authorizer)
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)  # every 1000 VM steps
    if builds:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, FILTER_MAX_LENGTH)
    try:
        yield
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            raise
        if "interrupted" in text:
            raise InvalidFilterError(f"the Filter took longer than {FILTER_SECONDS:g} s and was stopped") from None
        if "too big" in text:
            raise InvalidFilterError(
                f"the Filter builds a string longer than {FILTER_MAX_LENGTH // 2**20} MiB (nested replace or ||)"
            ) from None
        raise InvalidFilterError(f"invalid Filter: {exc}") from None
    finally:
        conn.set_authorizer(None)
        conn.set_progress_handler(None, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, length)


def read_only_authorizer(
    action: int, arg1: str | None, arg2: str | None, dbname: str | None, source: str | None
) -> int:
    """SQLite authorizer for Filter queries: reads of the jobs table and whitelisted functions only."""
    if action == sqlite3.SQLITE_SELECT:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_READ and arg1 == "jobs":
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _ALLOWED_FUNCTIONS | {"count", "max", "min"}:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY
