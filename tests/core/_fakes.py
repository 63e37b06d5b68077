"""Controllable fake executors for the core tests, and helpers to build and inspect an index."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from paraschut import ExecutorInfo, JobStatus, SchedulerCommandError, Submission, hookimpl

#: Executor plugins the concurrency workers must never load (other packages, edited in parallel).
OTHER_PLUGINS = "local,pbs,sge,slurm"


class FakeExecutor:
    """An executor plugin whose queue the test controls.

    ``statuses`` maps cluster id -> JobStatus; a cluster id with no entry (or None) is omitted from
    the status answer, which is how a job goes "missing". ``broken`` makes status() raise.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.statuses: dict[str, JobStatus | None] = {}
        self.submitted: list[tuple[str, Any]] = []
        self.cancelled: list[str] = []
        self.status_calls: list[list[str]] = []
        self.broken = False
        #: an arbitrary exception status() raises (a plugin bug rather than a scheduler error)
        self.plain_error: Exception | None = None

    @hookimpl
    def paraschut_register_executors(self) -> Sequence[ExecutorInfo]:
        return [ExecutorInfo(self.name, "fake executor for tests")]

    @hookimpl
    def paraschut_submit(self, executor: Any, job: Any) -> Submission | None:
        if executor.name != self.name:
            return None
        cid = f"{self.name}-{len(self.submitted)}"
        self.submitted.append((cid, job))
        self.statuses[cid] = JobStatus(cid, "submit", raw_state="Q")
        return Submission(cid)

    @hookimpl
    def paraschut_status(self, executor: Any, cluster_ids: Sequence[str]) -> Mapping[str, JobStatus] | None:
        if executor.name != self.name:
            return None
        self.status_calls.append(list(cluster_ids))
        if self.plain_error is not None:
            raise self.plain_error
        if self.broken:
            raise SchedulerCommandError([f"{self.name}stat", "-x"], 2, f"{self.name}: cannot connect to server")
        return {c: s for c in cluster_ids if (s := self.statuses.get(c)) is not None}

    @hookimpl
    def paraschut_cancel(self, executor: Any, cluster_ids: Sequence[str]) -> Sequence[str] | None:
        if executor.name != self.name:
            return None
        self.cancelled += list(cluster_ids)
        return list(cluster_ids)

    @hookimpl
    def paraschut_job_summary(self, executor: Any, cluster_id: str) -> Mapping[str, Any] | None:
        if executor.name != self.name:
            return None
        return {"id": cluster_id, "fake": True}

    @hookimpl
    def paraschut_current_job_id(self, executor: Any, environ: Mapping[str, str]) -> str | None:
        if executor.name != self.name:
            return None
        return environ.get("FAKE_JOB_ID")

    def finish(self, cid: str, exit_code: int = 0, reason: str | None = None) -> None:
        state = "complete" if exit_code == 0 else "failed"
        self.statuses[cid] = JobStatus(cid, state, exit_code=exit_code, reason=reason)

    def run(self, cid: str) -> None:
        self.statuses[cid] = JobStatus(cid, "run", raw_state="R")

    def lose(self, cid: str) -> None:
        self.statuses[cid] = None


def index_files(db: Path | str) -> list[Path]:
    """The index file and its WAL (what a write would change)."""
    db = Path(db)
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-journal")) if p.exists()]


def index_hash(db: Path | str) -> str:
    """sha256 over the index file and its WAL/journal, byte for byte."""
    digest = hashlib.sha256()
    for path in index_files(db):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def dump(db: Path | str) -> list[str]:
    """A logical dump of the index, through a separate connection."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def job(index: int | None = None, **fields: Any) -> dict[str, Any]:
    """A minimal job dict (priority 1, init) with a script name; extra fields as given."""
    out: dict[str, Any] = {"JobIndex": index, "priority": 1, "name": "job", "script": "run.sh", "state": "init"}
    out.update(fields)
    return out


def script_lines(path: Path | str) -> list[str]:
    """The job keys ('psu<batch>_<job>[_s<spawn>]') written by the file executor, in order."""
    path = Path(path)
    if not path.exists():
        return []
    return [line[2:] for line in path.read_text().splitlines() if line.startswith("# psu")]


def states(db_jobs: Iterable[Mapping[str, Any]]) -> dict[tuple[int, int], str]:
    return {(j["BatchID"], j["JobIndex"]): j["state"] for j in db_jobs}


def clean_env() -> dict[str, str]:
    """The environment for a worker subprocess: the test's index, no other plugins."""
    env = dict(os.environ)
    env["PARASCHUT_DISABLE_PLUGINS"] = OTHER_PLUGINS
    return env
