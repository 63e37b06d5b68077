"""The spool: one SQLite file holding every local job (queued, running, done), shared by all processes."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "DONE", "QUEUED", "RUNNING", "SPOOL_FILE", "Head", "JobRow", "Metrics", "Spool", "journal_mode", "open_spool",
]

#: The database file inside a spool directory.
SPOOL_FILE = "spool.sqlite"
QUEUED = "queued"
RUNNING = "running"  # claimed by a worker; ``pid`` is set once the job process exists
DONE = "done"

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL,
    cpus INTEGER NOT NULL DEFAULT 1,
    mem INTEGER NOT NULL DEFAULT 0,
    submitted REAL NOT NULL,
    host TEXT,
    worker_pid INTEGER,
    worker_stamp REAL,
    pid INTEGER,
    stamp REAL,
    started REAL,
    ended REAL,
    exit_code INTEGER,
    reason TEXT,
    peak_rss_mb REAL,
    cpu_time_s REAL,
    cancel INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
"""
_COLUMNS = (
    "id, state, name, spec, cpus, mem, submitted, host, worker_pid, worker_stamp, pid, stamp, "
    "started, ended, exit_code, reason, peak_rss_mb, cpu_time_s, cancel"
)
T = TypeVar("T")
#: SQLite's smallest limit on bound parameters, for chunked ``IN (...)`` queries.
_CHUNK = 900


class JobRow(NamedTuple):
    """One job of the spool, as stored.

    A NamedTuple, not an attrs class: the detached worker imports this module, and attrs alone
    took 14 of the worker's 35 ms of imports (each worker pays them before its first job).
    """

    id: int
    state: str
    name: str
    spec: str
    cpus: int
    mem: int
    submitted: float
    host: str | None
    worker_pid: int | None
    worker_stamp: float | None
    pid: int | None
    stamp: float | None
    started: float | None
    ended: float | None
    exit_code: int | None
    reason: str | None
    peak_rss_mb: float | None
    cpu_time_s: float | None
    cancel: bool


class Metrics(NamedTuple):
    """How a job ended and what it used."""

    exit_code: int | None
    reason: str | None
    peak_rss_mb: float | None = None
    cpu_time_s: float | None = None
    ended: float | None = None
    started: float | None = None
    pid: int | None = None


class Head(NamedTuple):
    """The head of the queue and the slots in use (:meth:`Spool.queue_head`)."""

    jobs: list[tuple[int, int, int]]  # (id, cpus, mem), oldest first
    used_cpus: int
    used_mem: int
    queued: int  # jobs queued in all, counted up to the bound asked


def _row_to_job(row: tuple[Any, ...]) -> JobRow:
    return JobRow._make((*row[:-1], bool(row[-1])))


#: File systems where SQLite's WAL (shared memory) is unsafe: use a rollback journal there.
NETWORK_FS = frozenset({"nfs", "nfs4", "cifs", "smbfs", "smb3", "lustre", "gpfs", "beegfs", "fuse.sshfs", "9p"})


def journal_mode(path: str, mounts: str = "/proc/mounts") -> str:
    """``WAL`` on a local file system, ``DELETE`` on a network one (or when unsure how to tell)."""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as fh:
            table = [line.split()[1:3] for line in fh if len(line.split()) >= 3]
    except OSError:
        return "WAL"
    real = os.path.realpath(path)
    best, kind = "", ""
    for point, fstype in table:
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, fstype
    return "DELETE" if kind in NETWORK_FS else "WAL"


def make_private_dirs(path: str) -> None:
    """Create ``path`` and each missing parent with mode 0700 (``os.makedirs`` gives parents
    ``0777 & ~umask``). paraschut.files has the same; the worker does not import paraschut."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current) and os.path.dirname(current) != current:
        missing.append(current)
        current = os.path.dirname(current)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:  # another process made it meanwhile
            if not os.path.isdir(folder):
                raise


def _create_private(path: str) -> None:
    """Create the spool directory (0o700) and database file (0o600) when missing."""
    make_private_dirs(os.path.dirname(path))
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)


def _jitter() -> float:
    """A number in [0, 1) that differs between processes and calls (spreads retries apart)."""
    return (time.perf_counter_ns() ^ os.getpid() * 2654435761) % 1000 / 1000


class Spool:
    """A connection to one spool database; every change runs in :meth:`transaction`."""

    def __init__(self, path: str, busy_timeout_ms: int = 60_000) -> None:
        self.path = path
        self.busy_timeout_ms = int(busy_timeout_ms)
        _create_private(path)
        self.conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        mode = journal_mode(os.path.dirname(path))
        # WAL: only BEGIN IMMEDIATE ever waits, in _retry's short jittered steps. A rollback
        # journal (network file systems) can also make reads and COMMIT wait for other processes'
        # locks: SQLite's own busy handler covers those there.
        self.conn.execute(f"PRAGMA busy_timeout = {0 if mode == 'WAL' else self.busy_timeout_ms}")
        self._retry(lambda: self.conn.execute(f"PRAGMA journal_mode = {mode}"))
        self.conn.execute("PRAGMA synchronous = NORMAL")
        if self._rows("PRAGMA user_version")[0][0] < SCHEMA_VERSION:
            with self.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _retry(self, step: Callable[[], T]) -> T:
        """Run ``step``, retrying while the spool is locked, in short jittered sleeps.

        The connection's own busy timeout is 0: SQLite's busy handler sleeps 1, 2, 5, 10... ms
        between tries, and workers hold the lock for a fraction of a millisecond per job, so those
        sleeps would cost more than the work. Gives up after ``busy_timeout_ms``.
        """
        deadline = 0.0
        delay = 0.0001
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                now = time.monotonic()
                if not deadline:
                    deadline = now + self.busy_timeout_ms / 1000
                elif now > deadline:
                    raise
            time.sleep(delay * (0.5 + _jitter()))
            delay = min(delay * 2, 0.005)

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting for other writers in short steps."""
        self._retry(lambda: self.conn.execute("BEGIN IMMEDIATE"))

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read (retried while locked: a rollback journal on a network file system can be)."""
        return self._retry(lambda: self.conn.execute(sql, params).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction (BEGIN IMMEDIATE): other writers wait; committed on success."""
        self._begin()
        try:
            yield
            self._retry(lambda: self.conn.execute("COMMIT"))
        except BaseException:
            # a refused COMMIT (busy) leaves the transaction open, holding the lock against everyone
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    # -- reading ---------------------------------------------------------------------------
    def get(self, job_id: int) -> JobRow | None:
        """One job, or None."""
        rows = self._rows(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _row_to_job(rows[0]) if rows else None

    def many(self, ids: Sequence[int], with_spec: bool = True) -> list[JobRow]:
        """The jobs with these ids that exist (one query per 900 ids); ``spec`` is "" unless asked."""
        columns = _COLUMNS if with_spec else _COLUMNS.replace(" spec,", " '',")
        out: list[JobRow] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._rows(f"SELECT {columns} FROM jobs WHERE id IN ({marks})", chunk)
            out.extend(_row_to_job(row) for row in rows)
        return out

    def find_by_stdout(self, stdouts: Sequence[str]) -> dict[str, int]:
        """{stdout path: id} of the jobs (any state) submitted with these stdout paths; the newest
        when a path was used twice. A scan of the spool: for the rare reconciliation after a
        submitter died, not for polling."""
        wanted = set(stdouts)
        found: dict[str, int] = {}
        rows = self.conn.execute("SELECT id, json_extract(spec, '$.stdout') FROM jobs ORDER BY id")
        for job_id, stdout in rows:
            if stdout in wanted:
                found[stdout] = int(job_id)
        return found

    def in_state(self, state: str, limit: int = -1) -> list[JobRow]:
        """Jobs in one state, oldest first."""
        rows = self._rows(f"SELECT {_COLUMNS} FROM jobs WHERE state = ? ORDER BY id LIMIT ?", (state, limit))
        return [_row_to_job(row) for row in rows]

    def queue_head(self, limit: int, count_up_to: int = 0) -> Head:
        """The first ``limit`` queued jobs, the CPUs and memory the workers take, and how many
        jobs are queued (counted up to ``count_up_to``: a bounded cost), in one query (a worker
        asks after every batch it ran).

        A worker runs one job at a time: the jobs it holds (the one running and the ones it
        claimed to run next) take the slot of the biggest of them, once.
        """
        rows = self._rows(
            "WITH held AS (SELECT MAX(cpus) AS c, MAX(mem) AS m FROM jobs WHERE state = ?1"
            " GROUP BY host, worker_pid)"
            " SELECT id, cpus, mem, (SELECT COALESCE(SUM(c), 0) FROM held), (SELECT COALESCE(SUM(m), 0) FROM held),"
            " (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE state = ?2 LIMIT ?4))"
            " FROM jobs WHERE state = ?2 ORDER BY id LIMIT ?3",
            (RUNNING, QUEUED, limit, max(count_up_to, limit)),
        )
        if not rows:
            return Head([], 0, 0, 0)
        jobs = [(int(r[0]), int(r[1]), int(r[2])) for r in rows]
        return Head(jobs, int(rows[0][3]), int(rows[0][4]), int(rows[0][5]))

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the spool (cheap: no read
        of the database itself)."""
        return int(self._rows("PRAGMA data_version")[0][0])

    def first_active(self, ids: Collection[int]) -> int | None:
        """One of ``ids`` still queued or running, or None.

        Reads the state index between the lowest and the highest id and stops at the first id
        asked about: one step when the jobs are one submission's, however many they are.
        """
        if not ids:
            return None
        low, high = min(ids), max(ids)

        def scan() -> int | None:
            cursor = self.conn.execute(
                "SELECT id FROM jobs WHERE state IN (?, ?) AND id BETWEEN ? AND ?", (QUEUED, RUNNING, low, high)
            )
            try:
                return next((job_id for (job_id,) in cursor if job_id in ids), None)
            finally:
                cursor.close()

        return self._retry(scan)

    def position(self, job_id: int) -> int:
        """How many queued jobs are ahead of this one."""
        ((count,),) = self._rows("SELECT COUNT(*) FROM jobs WHERE state = ? AND id < ?", (QUEUED, job_id))
        return int(count)

    # -- changing (call inside a transaction) ------------------------------------------------
    def add(self, name: str, spec: str, cpus: int, mem: int, failed: str | None = None) -> int:
        """Queue a job (or record it as failed at once with reason ``failed``); returns its id."""
        now = time.time()
        if failed is None:
            cur = self.conn.execute(
                "INSERT INTO jobs (state, name, spec, cpus, mem, submitted) VALUES (?, ?, ?, ?, ?, ?)",
                (QUEUED, name, spec, cpus, mem, now),
            )
        else:
            cur = self.conn.execute(
                "INSERT INTO jobs (state, name, spec, cpus, mem, submitted, ended, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (DONE, name, spec, cpus, mem, now, now, failed),
            )
        return int(cur.lastrowid or 0)

    def claim(self, job_id: int, host: str, worker_pid: int, worker_stamp: float) -> JobRow | None:
        """Hand a queued job to a worker (compare-and-set); returns the claimed row, or None when
        the job is no longer queued."""
        rows = self.claim_many([job_id], host, worker_pid, worker_stamp)
        return rows[0] if rows else None

    def claim_many(self, ids: Sequence[int], host: str, worker_pid: int, worker_stamp: float) -> list[JobRow]:
        """Hand queued jobs to one worker, to run one after the other; returns the rows claimed,
        in id order (a job no longer queued is left out)."""
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"UPDATE jobs SET state = ?, host = ?, worker_pid = ?, worker_stamp = ? WHERE id IN ({marks})"
            f" AND state = ? RETURNING {_COLUMNS}",
            (RUNNING, host, worker_pid, worker_stamp, *ids, QUEUED),
        ).fetchall()
        return sorted((_row_to_job(row) for row in rows), key=lambda row: row.id)

    def hand_back(self, ids: Sequence[int], worker_pid: int) -> None:
        """Return jobs a worker claimed but did not start to the queue (or, when their cancel was
        asked meanwhile, record them as cancelled), in their place: they keep their ids. For a
        worker that will not start them, or one that died before it could."""
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        mine = f"id IN ({marks}) AND state = ? AND pid IS NULL AND worker_pid = ?"
        self.conn.execute(
            f"UPDATE jobs SET state = ?, reason = 'cancelled', ended = ? WHERE {mine} AND cancel",
            (DONE, time.time(), *ids, RUNNING, worker_pid),
        )
        self.conn.execute(
            f"UPDATE jobs SET state = ?, host = NULL, worker_pid = NULL, worker_stamp = NULL WHERE {mine}",
            (QUEUED, *ids, RUNNING, worker_pid),
        )

    def started(self, job_id: int, worker_pid: int, pid: int, stamp: float, when: float) -> bool:
        """Record the job process; returns True when a cancel was asked meanwhile."""
        self.conn.execute(
            "UPDATE jobs SET pid = ?, stamp = ?, started = ? WHERE id = ? AND worker_pid = ?",
            (pid, stamp, when, job_id, worker_pid),
        )
        row = self.conn.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def finish(self, job_id: int, metrics: Metrics, worker_pid: int | None = None) -> bool:
        """Record how a job ended (once: only a queued or running job changes); True if it did.

        A job whose cancel was asked keeps its exit code but its reason becomes ``cancelled``.
        """
        cur = self.conn.execute(_FINISH, _finish_values(job_id, metrics, worker_pid))
        return cur.rowcount == 1

    def finish_many(self, ended: Sequence[tuple[int, Metrics]], worker_pid: int) -> None:
        """:meth:`finish` for the jobs one worker ran, in one statement."""
        self.conn.executemany(_FINISH, [_finish_values(job_id, metrics, worker_pid) for job_id, metrics in ended])

    def prune(self, older_than: float) -> int:
        """Forget finished jobs that ended before ``older_than`` (epoch); returns how many."""
        cur = self.conn.execute("DELETE FROM jobs WHERE state = ? AND ended < ?", (DONE, older_than))
        return cur.rowcount

    def ask_cancel(self, job_id: int) -> None:
        """Flag a running job as cancelled (its worker records the end)."""
        self.conn.execute("UPDATE jobs SET cancel = 1 WHERE id = ? AND state != ?", (job_id, DONE))


_FINISH = (
    "UPDATE jobs SET state = ?, exit_code = ?,"
    " reason = CASE WHEN cancel THEN 'cancelled' ELSE ? END,"
    " peak_rss_mb = ?, cpu_time_s = ?, ended = ?, started = COALESCE(started, ?),"
    " pid = COALESCE(pid, ?) WHERE id = ? AND state != ? AND (? IS NULL OR worker_pid = ?)"
)


def _finish_values(job_id: int, metrics: Metrics, worker_pid: int | None) -> tuple[Any, ...]:
    ended = metrics.ended if metrics.ended is not None else time.time()
    return (DONE, metrics.exit_code, metrics.reason, metrics.peak_rss_mb, metrics.cpu_time_s, ended,
            metrics.started, metrics.pid, job_id, DONE, worker_pid, worker_pid)


_local = threading.local()


def open_spool(directory: str) -> Spool:
    """The spool in ``directory`` (``spool.sqlite``), one cached connection per process and thread."""
    path = os.path.join(os.path.abspath(os.path.expanduser(directory)), SPOOL_FILE)
    cache: dict[tuple[str, int], Spool] = getattr(_local, "spools", None) or {}
    _local.spools = cache
    key = (path, os.getpid())
    if key not in cache:
        cache[key] = Spool(path)
    return cache[key]
