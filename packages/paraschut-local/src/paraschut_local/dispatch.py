"""Slot accounting: reaping jobs whose worker died, and starting workers for queued jobs that fit."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, NamedTuple

from .procs import alive, stamp
from .spool import RUNNING, JobRow, Metrics, Spool

if TYPE_CHECKING:  # imported when a worker is started: a worker that never starts one spares it
    import subprocess

__all__ = ["LOST", "Capacity", "dispatch", "fill", "reap", "start_worker"]

LOST = "lost: worker killed, exit code unknown"
HOST = os.uname().nodename  # what socket.gethostname() returns, without importing socket
#: Seconds between two reaps by one process (a status call always reaps).
REAP_EVERY = 0.5

_children: list[subprocess.Popen[bytes]] = []
_last_reap: dict[str, float] = {}


class Capacity(NamedTuple):
    """What the machine lends to local jobs: CPU slots and bytes of memory."""

    cpus: int
    mem: int

    def fits(self, cpus: int, mem: int) -> bool:
        """True when a job of this size could ever run."""
        return cpus <= self.cpus and mem <= self.mem

    def never_fits_reason(self, cpus: int, mem: int) -> str:
        """Why a job of this size can never run here."""
        if cpus > self.cpus:
            return f"asks for {cpus} CPUs but the local executor has max_workers={self.cpus}"
        return f"asks for {mem / 2**20:.0f} MB but the local executor has {self.mem / 2**20:.0f} MB (max_memory)"


def _reap_children() -> None:
    """Collect workers this process started that have exited (no zombies are left behind)."""
    _children[:] = [proc for proc in _children if proc.poll() is None]


def start_worker(spool_dir: str, job_id: int, cap: Capacity) -> tuple[int, float]:
    """Start a detached worker for ``job_id``; returns its (pid, stamp)."""
    import subprocess

    _reap_children()
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    argv = [
        sys.executable, "-m", "paraschut_local.worker", "--spool", spool_dir, "--job", str(job_id),
        "--cpus", str(cap.cpus), "--mem", str(cap.mem),
    ]
    proc = subprocess.Popen(
        argv, cwd=spool_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
    )
    _children.append(proc)
    return proc.pid, stamp(proc.pid) or 0.0


def reap(spool: Spool) -> None:
    """Settle running rows of this host whose worker is gone (call inside a transaction).

    A job not started yet goes back to the queue, as a live worker hands back the jobs it will not
    start (cancelled ones are recorded so); a job whose process is gone too is failed as lost (its
    exit code died with the worker); a job still running without its worker is left alone.
    """
    for row in spool.in_state(RUNNING):
        if row.host != HOST or alive(row.worker_pid, row.worker_stamp):
            continue
        if row.pid is None:
            spool.hand_back([row.id], row.worker_pid or 0)
        elif not alive(row.pid, row.stamp):
            spool.finish(row.id, Metrics(None, "cancelled" if row.cancel else LOST))


def fill(
    spool: Spool, cap: Capacity, spool_dir: str, me: tuple[int, float] | None = None, take: int = 1
) -> list[JobRow]:
    """Hand queued jobs that fit (in submission order) to workers (call inside a transaction).

    The first job waiting behind one that does not fit yet waits too (no overtaking), so a big job
    is never starved. A job that can never fit is failed.

    :param me: a worker's own (pid, stamp): it takes the first job itself instead of a new worker,
        and with it up to ``take`` - 1 following jobs of the same size, to run one after the other
        in the same slot (never more than its share of the queue, queued jobs // max_workers, so
        the last jobs are spread over the slots instead of queued behind one worker).
    :returns: the jobs given to ``me`` (as claimed), in order.
    """
    while True:
        # at most cap.cpus jobs can start (each takes a CPU at least); usage comes with the head
        head = spool.queue_head(cap.cpus + take - 1, count_up_to=cap.cpus * take)
        never = [(job_id, cpus, mem) for job_id, cpus, mem in head.jobs if not cap.fits(cpus, mem)]
        if not never:
            break
        for job_id, cpus, mem in never:
            spool.finish(job_id, Metrics(None, cap.never_fits_reason(cpus, mem)))
    take = max(1, min(take, head.queued // cap.cpus))
    used_cpus, used_mem = head.used_cpus, head.used_mem
    mine: list[JobRow] = []
    position = 0
    while position < len(head.jobs):
        job_id, cpus, mem = head.jobs[position]
        if used_cpus + cpus > cap.cpus or used_mem + mem > cap.mem:
            break
        if me is not None and not mine:
            batch = [job_id]
            for next_id, next_cpus, next_mem in head.jobs[position + 1 : position + take]:
                if (next_cpus, next_mem) != (cpus, mem):
                    break
                batch.append(next_id)
            mine = spool.claim_many(batch, HOST, *me)
            position += len(batch)
        else:
            try:
                pid, started = start_worker(spool_dir, job_id, cap)
            except OSError:  # no process could be made now (EAGAIN, ENOMEM): the job stays queued
                break
            spool.claim(job_id, HOST, pid, started)
            position += 1
        used_cpus, used_mem = used_cpus + cpus, used_mem + mem
    return mine


def dispatch(spool: Spool, cap: Capacity, spool_dir: str, *, force_reap: bool = False) -> None:
    """Reap (at most every half second unless forced), then start workers for jobs that fit.

    Call inside a transaction.
    """
    _reap_children()
    now = time.monotonic()
    if force_reap or now - _last_reap.get(spool.path, 0.0) >= REAP_EVERY:
        _last_reap[spool.path] = now
        reap(spool)
    fill(spool, cap, spool_dir)
