"""Another process holding the job index's lock past busy_timeout: a clear IndexBusyError, an unchanged
index, and normal work once the holder lets go.

The holder is a separate Python process with a plain sqlite3 connection, as any other tool (a
``sqlite3`` shell left open in a transaction, a backup) would be.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import paraschut as psu
from paraschut.errors import IndexBusyError
from paraschut.session import get_session

HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute(sys.argv[2])
conn.execute("SELECT COUNT(*) FROM jobs").fetchone()
print("holding", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
print("released", flush=True)
"""

BUSY_TIMEOUT = 0.5


@contextmanager
def held(db: Path, begin: str = "BEGIN IMMEDIATE") -> Iterator[subprocess.Popen[str]]:
    """Another process holding a transaction (``begin``) on the index until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), begin], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding", proc.stderr
        yield proc
        out, err = proc.communicate("go\n", timeout=30)
        assert proc.returncode == 0 and out.strip() == "released", err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def dump(db: Path) -> list[str]:
    """A logical dump of the index through a separate read-only connection."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _job(index: int, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"JobIndex": index, "priority": 1, "name": "job", "script": "run.sh", "state": "init"}
    out.update(fields)
    return out


@pytest.fixture(params=["wal", "delete"])
def locked_index(index: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """An index (WAL, then the rollback journal used on network file systems) with a small
    busy_timeout and two batches; yields the index file."""
    monkeypatch.setenv("PARASCHUT_BUSY_TIMEOUT", str(BUSY_TIMEOUT))
    monkeypatch.setenv("PARASCHUT_JOURNAL_MODE", request.param)
    psu.add_batch_to_queue(1, [_job(i, n=0) for i in range(3)])
    psu.add_batch_to_queue(2, [_job(0, priority=2), _job(1)])
    assert get_session().index.journal_mode == request.param
    return index / "jobs.sqlite"


def _update(n: int) -> Callable[[], Any]:
    def call() -> Any:
        info = psu.get_job_info(1, 0)
        info["n"] = n
        return psu.update_job(info)

    return call


WRITES: dict[str, Callable[[], Any]] = {
    "update_job": _update(7),
    "modify_job": lambda: psu.modify_job(1, 1, lambda job: job.update(n=job["n"] + 1)),
    "add_batch_to_queue": lambda: psu.add_batch_to_queue(3, [_job(0)]),
    "add_job_to_queue": lambda: psu.add_job_to_queue({**_job(None), "BatchID": 1}),
    "set_job_field": lambda: psu.set_job_field(1, 2, Field="n", Value=5),
    "submit_jobs": lambda: psu.submit_jobs(Executor="file"),
}


def _expect_busy(db: Path, call: Callable[[], Any]) -> None:
    start = time.monotonic()
    with pytest.raises(IndexBusyError) as caught:
        call()
    waited = time.monotonic() - start
    print(f"\nIndexBusyError after {waited:.2f} s: {caught.value}")
    message = str(caught.value)
    assert str(db) in message  # names the index
    assert f"{BUSY_TIMEOUT:g} s" in message and "busy_timeout" in message  # and how long it waited
    assert "nothing was written" in message


@pytest.mark.parametrize("name", list(WRITES))
def test_a_write_while_another_process_holds_the_lock_fails_clearly_and_changes_nothing(
    locked_index: Path, name: str
) -> None:
    db = locked_index
    before = dump(db)
    with held(db):
        _expect_busy(db, WRITES[name])
        assert dump(db) == before
        assert psu.get_job_info(1, 0)["n"] == 0  # reading still works meanwhile
    assert dump(db) == before
    assert not (db.parent / "jobs" / "paraschut-jobs.sh").exists()  # submit_jobs handed nothing to the executor
    WRITES[name]()  # the holder let go: the same call now succeeds
    assert dump(db) != before
    assert integrity(db) == "ok"


def test_submit_jobs_after_a_busy_failure_submits_each_job_once(locked_index: Path) -> None:
    db = locked_index
    with held(db):
        _expect_busy(db, lambda: psu.submit_jobs(Executor="file"))
    assert psu.submit_jobs(Executor="file") == 4  # batch 1's three jobs and batch 2's first group
    assert psu.submit_jobs(Executor="file") == 0
    script = (db.parent / "jobs" / "paraschut-jobs.sh").read_text()
    assert sorted(line[2:] for line in script.splitlines() if line.startswith("# psu")) == [
        "psu1_0", "psu1_1", "psu1_2", "psu2_0"
    ]
    assert integrity(db) == "ok"


def test_a_reader_holding_the_rollback_journal_past_busy_timeout_fails_the_commit_cleanly(
    index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the rollback journal (network file systems), a long read blocks a writer's COMMIT: the
    write must fail as IndexBusyError, roll back, and leave the connection usable."""
    monkeypatch.setenv("PARASCHUT_BUSY_TIMEOUT", str(BUSY_TIMEOUT))
    monkeypatch.setenv("PARASCHUT_JOURNAL_MODE", "delete")
    db = index / "jobs.sqlite"
    psu.add_batch_to_queue(1, [_job(0, n=0)])
    before = dump(db)
    with held(db, begin="BEGIN"):  # a read transaction: SHARED lock until it ends
        _expect_busy(db, _update(3))
        assert dump(db) == before
    assert psu.get_job_info(1, 0)["n"] == 0
    _update(4)()
    assert psu.get_job_info(1, 0)["n"] == 4
    assert integrity(db) == "ok"
