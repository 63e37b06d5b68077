"""Helpers for the local executor's tests: a plugin manager, teardown, and waiting for jobs."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from paraschut.manager import ExecutorManager
from paraschut.models import Executor, JobStatus
from paraschut.plugins import get_plugin_manager
from paraschut_local import plugin
from paraschut_local.procs import stamp
from paraschut_local.spool import DONE, open_spool

__all__ = ["cancel_everything", "dead_pid", "local_manager", "wait_done"]


def local_manager() -> ExecutorManager:
    """A manager with only the built-in plugins and this one (other plugins cannot break these tests)."""
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(plugin, name="local")
    return ExecutorManager(pm)


def cancel_everything(executor: Executor) -> None:
    """Cancel every job of the executor's spool that is not done (test teardown)."""
    spool_dir = executor.option("spool_dir")
    if not spool_dir or not Path(spool_dir, "spool.sqlite").exists():
        return
    spool = open_spool(spool_dir)
    rows = spool.conn.execute("SELECT id FROM jobs WHERE state != ?", (DONE,)).fetchall()
    if rows:
        local_manager().cancel(executor, [str(r[0]) for r in rows])


def wait_done(
    manager: ExecutorManager, executor: Executor, ids: list[str], timeout: float = 60.0
) -> dict[str, JobStatus]:
    """Poll until every job has left the queue; fail the test when that takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = manager.status(executor, ids)
        if len(statuses) == len(ids) and not any(s.on_queue for s in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still on the queue after {timeout} s: {statuses}")
        time.sleep(0.1)


def dead_pid() -> tuple[int, float]:
    """The (pid, stamp) of a process that has ended and been reaped."""
    proc = subprocess.Popen(["true"])
    started = stamp(proc.pid)
    proc.wait()
    assert started is not None
    return proc.pid, started
