"""The detached worker: runs jobs one after another, records how each ended, exits when nothing fits."""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence

from .dispatch import REAP_EVERY, Capacity, fill, reap
from .launch import outcome, start
from .procs import kill_trees, stamp
from .spool import RUNNING, JobRow, Metrics, Spool, open_spool

__all__ = ["MAX_TAKE", "QUICK", "main", "run_job", "serve"]

#: Seconds a job may take before its pid is written to the spool (spares quick jobs a transaction).
QUICK = 0.005
#: At most this many quick jobs claimed at once by a worker (and recorded together). A worker
#: killed while holding some runs them again, as it runs again the one quick job it held before.
MAX_TAKE = 16


def _metrics(wait_status: int, usage: object, stderr: str, started: float, pid: int) -> Metrics:
    code, reason = outcome(wait_status, stderr)
    return Metrics(
        exit_code=code,
        reason=reason,
        peak_rss_mb=round(getattr(usage, "ru_maxrss", 0) / 1024, 3),  # Linux reports KB
        cpu_time_s=round(getattr(usage, "ru_utime", 0.0) + getattr(usage, "ru_stime", 0.0), 4),
        ended=max(time.time(), started),
        started=started,
        pid=pid,
    )


def _ends_within(pid: int, seconds: float) -> bool:
    """True when the child ``pid`` has ended (not reaped yet) within ``seconds``."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return False
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


def run_job(
    spool: Spool, spool_dir: str, row: JobRow, me: tuple[int, float],
    settle: Callable[[], None] = lambda: None,
) -> tuple[Metrics | None, bool]:
    """Start one claimed job, wait for it and return how it ended (None: the job is not ours), and
    whether it was quick (ended within :data:`QUICK`, and so was recorded at its end only).

    A job that is not quick gets its start recorded, with ``settle()`` in the same transaction.
    """
    if row.state != RUNNING or row.worker_pid != me[0] or row.pid is not None:
        return None, True
    job_id = row.id
    record = json.loads(row.spec)
    began = time.time()
    try:
        pid = start(record, job_id, spool_dir, row.cpus)
    except (OSError, ValueError) as exc:
        return Metrics(None, f"cannot start {record['script']!r}: {exc}", ended=time.time()), True
    quick = _ends_within(pid, QUICK)
    if not quick:  # a job that ends at once is recorded only at its end
        leader = (pid, stamp(pid) or 0.0)
        with spool.transaction():
            cancelled = spool.started(job_id, me[0], leader[0], leader[1], began)
            settle()
        if cancelled:
            kill_trees([leader])
    _, status, usage = os.wait4(pid, 0)
    return _metrics(status, usage, record["stderr"], began, pid), quick


def serve(spool_dir: str, first: int, cap: Capacity) -> None:
    """Run ``first``, then each next queued job that fits, until none does.

    While jobs end within :data:`QUICK`, the worker claims several at a time (doubling up to
    :data:`MAX_TAKE`) and records them together: one spool transaction per batch instead of one
    per job. A job that turns out not to be quick hands the rest of its batch back to the queue,
    with the ends not recorded yet, as its start is recorded (:func:`run_job`), so no job waits
    behind a long one while another slot is free.
    """
    spool = open_spool(spool_dir)
    me = (os.getpid(), stamp(os.getpid()) or 0.0)
    with spool.transaction():  # waits for the dispatcher that claimed the job to commit
        row = spool.get(first)
    mine = deque([row] if row is not None else [])
    ended: list[tuple[int, Metrics]] = []
    take, all_quick = 1, True
    last_reap = time.monotonic()

    def settle() -> None:  # inside the transaction that records a long job's start
        spool.finish_many(ended, worker_pid=me[0])
        ended.clear()
        spool.hand_back([held.id for held in mine], worker_pid=me[0])
        mine.clear()
        fill(spool, cap, spool_dir)  # other workers for the jobs handed back, if slots are free

    while mine:
        row = mine.popleft()
        metrics, quick = run_job(spool, spool_dir, row, me, settle)
        if metrics is not None:
            ended.append((row.id, metrics))
        all_quick = all_quick and quick
        if mine:
            continue
        with spool.transaction():
            spool.finish_many(ended, worker_pid=me[0])
            ended.clear()
            if time.monotonic() - last_reap >= REAP_EVERY:
                last_reap = time.monotonic()
                reap(spool)
            take = min(take * 2, MAX_TAKE) if all_quick else 1
            mine.extend(fill(spool, cap, spool_dir, me, take))
        all_quick = True


def _log_crash(spool_dir: str) -> None:
    import traceback  # only when it crashed: every worker's start-up counts

    path = os.path.join(spool_dir, "worker-errors.log")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as out:
        out.write(f"--- worker {os.getpid()} at {time.ctime()}\n{traceback.format_exc()}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m paraschut_local.worker --spool DIR --job ID --cpus N --mem BYTES``."""
    parser = argparse.ArgumentParser(prog="paraschut_local.worker", description=__doc__)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--job", type=int, required=True)
    parser.add_argument("--cpus", type=int, required=True)
    parser.add_argument("--mem", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        # absolute: the worker enters each job's working directory before starting it
        serve(os.path.abspath(args.spool), args.job, Capacity(args.cpus, args.mem))
    except Exception:  # noqa: BLE001 - a detached process has nowhere else to report
        _log_crash(args.spool)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
