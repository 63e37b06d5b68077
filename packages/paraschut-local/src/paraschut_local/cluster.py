"""The local cluster's operations (submit, status, cancel, summary) over the spool, and its options."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from typing import Any

import psutil

from paraschut.errors import ConfigError
from paraschut.models import Executor, JobSpec, JobStatus, Submission

from . import dispatch as slots
from .launch import base_env, dumps, job_record, problem_of
from .procs import alive, kill_trees
from .resources import ResourceError, parse_mem, request_of
from .spool import DONE, QUEUED, SPOOL_FILE, Metrics, Spool, open_spool
from .states import status_of, summary_of

__all__ = [
    "DEFAULT_SPOOL", "cancel", "capacity_of", "find_submitted", "spool_dir_of", "status", "submit", "summary",
    "wait",
]

DEFAULT_SPOOL = "~/.paraschut/local"
CANCELLED = "cancelled"
#: Seconds between two prunings of old finished jobs by one process.
PRUNE_EVERY = 3600.0
_last_prune: dict[str, float] = {}
#: Seconds between two looks at the spool while waiting: the shortest while jobs keep ending
#: (each look costs microseconds), growing to the longest while nothing changes.
WAIT_STEPS = (0.005, 0.05)


def spool_dir_of(executor: Executor) -> str:
    """Option ``spool_dir``; else ``<db>.local`` beside the job index (option ``db``); else ~/.paraschut/local."""
    chosen = executor.option("spool_dir")
    if not chosen:
        db = executor.option("db")
        chosen = f"{db}.local" if db else DEFAULT_SPOOL
    return os.path.abspath(os.path.expanduser(str(chosen)))


@functools.cache
def _total_memory() -> int:
    return int(psutil.virtual_memory().total)


def capacity_of(executor: Executor) -> slots.Capacity:
    """Options ``max_workers`` (default: CPU count) and ``max_memory`` (default: all memory)."""
    try:
        cpus = int(executor.option("max_workers") or os.cpu_count() or 1)
        mem_option = executor.option("max_memory")
        mem = parse_mem(mem_option, "max_memory") if mem_option else _total_memory()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"local executor: {exc}") from exc
    if cpus < 1:
        raise ConfigError(f"local executor: max_workers must be at least 1, not {cpus}")
    return slots.Capacity(cpus, mem)


def describe(executor: Executor) -> str:
    """What the local executor lends (for doctor): raises ConfigError on bad options."""
    capacity = capacity_of(executor)
    return f"{capacity.cpus} CPU slots, {capacity.mem / 2**30:.1f} GiB, spool {spool_dir_of(executor)}"


def _inherit(executor: Executor) -> list[str]:
    extra = executor.option("env_inherit") or ()
    return [n.strip() for n in extra.split(",")] if isinstance(extra, str) else [str(n) for n in extra]


def _exists(executor: Executor) -> bool:
    """True when the executor's spool exists (queries never create one)."""
    return os.path.exists(os.path.join(spool_dir_of(executor), SPOOL_FILE))


def _open(executor: Executor) -> tuple[Spool, slots.Capacity, str]:
    spool_dir = spool_dir_of(executor)
    return open_spool(spool_dir), capacity_of(executor), spool_dir


def _queue_entry(
    job: JobSpec, cap: slots.Capacity, base: dict[str, str], memo: dict[Any, str | None]
) -> tuple[str, int, int, str | None]:
    """(spec JSON, cpus, mem, reason it can never run or None) for one job."""
    record = job_record(job, base)
    problem = problem_of(record, memo)
    cpus, mem = 1, 0
    if problem is None:
        try:
            request = request_of(job.resources)
        except ResourceError as exc:
            problem = str(exc)
        else:
            cpus, mem = request.cpus, request.mem
            if not cap.fits(cpus, mem):
                problem = cap.never_fits_reason(cpus, mem)
    return dumps(record), cpus, mem, problem


def submit(executor: Executor, job: JobSpec) -> Submission:
    """Queue a job and start it when a slot is free; a job that cannot run is recorded as failed."""
    return submit_many(executor, [job])[0]


def submit_many(executor: Executor, jobs: Sequence[JobSpec]) -> list[Submission]:
    """Queue jobs in one spool transaction, then start as many as the free slots take."""
    spool, cap, spool_dir = _open(executor)
    base = base_env(os.environ, _inherit(executor))
    memo: dict[Any, str | None] = {}
    entries = [_queue_entry(job, cap, base, memo) for job in jobs]
    with spool.transaction():
        ids = [spool.add(job.name, spec, cpus, mem, failed=problem)
               for job, (spec, cpus, mem, problem) in zip(jobs, entries, strict=True)]
        slots.dispatch(spool, cap, spool_dir)
    return [Submission(str(i), job.stdout, job.stderr) for i, job in zip(ids, jobs, strict=True)]


def _ids(cluster_ids: Sequence[str]) -> dict[int, str]:
    return {int(cid): cid for cid in cluster_ids if str(cid).strip().isdigit()}


def status(executor: Executor, cluster_ids: Sequence[str]) -> dict[str, JobStatus]:
    """One query for all ids (after settling the spool); unknown ids are left out."""
    if not _exists(executor):
        return {}
    spool, cap, spool_dir = _open(executor)
    with spool.transaction():
        slots.dispatch(spool, cap, spool_dir, force_reap=True)
        _maybe_prune(executor, spool)
    wanted = _ids(cluster_ids)
    return {wanted[row.id]: status_of(row) for row in spool.many(list(wanted), with_spec=False)}


def wait(executor: Executor, cluster_ids: Sequence[str], timeout: float) -> bool:
    """Block until none of the jobs is queued or running in the spool (True), or ``timeout`` (False).

    Looks again only when another process committed to the spool since (SQLite's data_version),
    so a wait on long jobs costs next to nothing; a job whose worker died stays running here until
    the next status call settles it.
    """
    if not _exists(executor):
        return True
    spool = open_spool(spool_dir_of(executor))
    wanted = set(_ids(cluster_ids))
    deadline = time.monotonic() + timeout
    seen = None
    step = WAIT_STEPS[0]
    while True:
        version = spool.data_version()
        if version != seen:
            seen, step = version, WAIT_STEPS[0]
            if spool.first_active(wanted) is None:
                return True
        else:
            step = min(step * 2, WAIT_STEPS[1])
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(step, remaining))


def find_submitted(executor: Executor, jobs: Sequence[JobSpec]) -> dict[str, str]:
    """{key: id} of the given submissions the spool holds (matched by stdout path), any state."""
    if not _exists(executor):
        return {}
    spool, _, _ = _open(executor)
    found = spool.find_by_stdout([job.stdout for job in jobs])
    return {job.key: str(found[job.stdout]) for job in jobs if job.stdout in found}


def _maybe_prune(executor: Executor, spool: Spool) -> None:
    """Forget jobs that finished more than ``keep_days`` (option, default 30) ago, hourly at most."""
    now = time.time()
    if now - _last_prune.get(spool.path, 0.0) < PRUNE_EVERY:
        return
    _last_prune[spool.path] = now
    spool.prune(now - float(executor.option("keep_days", 30)) * 86400)


def cancel(executor: Executor, cluster_ids: Sequence[str]) -> list[str]:
    """Drop queued jobs; end running ones (their whole process tree); returns the ids cancelled."""
    if not _exists(executor):
        return []
    spool, cap, spool_dir = _open(executor)
    wanted = _ids(cluster_ids)
    accepted: list[str] = []
    leaders: list[tuple[int, float]] = []
    orphans: list[int] = []
    with spool.transaction():
        for row in spool.many(list(wanted)):
            if row.state == DONE:
                continue
            accepted.append(wanted[row.id])
            spool.ask_cancel(row.id)
            if row.state == QUEUED:
                spool.finish(row.id, Metrics(None, CANCELLED))
                continue
            if row.pid is not None and row.stamp is not None and row.host == slots.HOST:
                leaders.append((row.pid, row.stamp))
            if row.host == slots.HOST and not alive(row.worker_pid, row.worker_stamp):
                orphans.append(row.id)
    kill_trees(leaders, grace=float(executor.option("kill_grace", 5.0)))
    with spool.transaction():
        for job_id in orphans:  # nobody else will record their end
            spool.finish(job_id, Metrics(None, CANCELLED))
        slots.dispatch(spool, cap, spool_dir)
    return accepted


def summary(executor: Executor, cluster_id: str) -> dict[str, Any]:
    """What the spool knows about one job; {} when the id is unknown."""
    if not _exists(executor):
        return {}
    spool = open_spool(spool_dir_of(executor))
    wanted = _ids([cluster_id])
    row = spool.get(next(iter(wanted))) if wanted else None
    if row is None:
        return {}
    position = spool.position(row.id) if row.state == QUEUED else None
    return summary_of(row, position)
