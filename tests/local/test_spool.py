"""The spool and dispatch: pid reuse is never mistaken for a job, dead workers are reaped, files are private."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED, Executor, JobSpec
from paraschut.testing import make_spec
from paraschut_local.cluster import spool_dir_of
from paraschut_local.dispatch import HOST, LOST
from paraschut_local.launch import base_env, dumps, job_record
from paraschut_local.procs import alive, stamp
from paraschut_local.spool import QUEUED, RUNNING, open_spool

from .local_helpers import dead_pid, wait_done


def test_alive_needs_the_same_start_time() -> None:
    me = os.getpid()
    mine = stamp(me)
    assert mine is not None and alive(me, mine)
    assert not alive(me, mine - 1000.0)  # same pid, another process's start time: a reused pid
    assert not alive(*dead_pid())
    assert not alive(None, None)


def _insert_running(spool_dir: Path, spec: JobSpec, worker: tuple[int, float], job: tuple[int, float] | None) -> int:
    spool = open_spool(str(spool_dir))
    with spool.transaction():
        job_id = spool.add(spec.name, dumps(job_record(spec, base_env(os.environ))), 1, 0)
        spool.claim(job_id, HOST, *worker)
        if job is not None:
            spool.started(job_id, worker[0], job[0], job[1], time.time())
    return job_id


def test_a_reused_pid_is_not_a_running_job(
    manager: ExecutorManager, local_executor: Executor, spool_dir: Path, jobdir: Path
) -> None:
    me = os.getpid()
    stale = stamp(me) - 1000.0  # type: ignore[operator]
    job_id = _insert_running(spool_dir, make_spec(jobdir, "true"), (me, stale), (me, stale))
    status = manager.status(local_executor, [str(job_id)])[str(job_id)]
    assert status.state == FAILED and status.reason == LOST
    assert alive(me, stamp(me))  # and nothing was done to the process that has the pid now


def test_a_job_whose_worker_died_before_starting_it_is_run_again(
    manager: ExecutorManager, local_executor: Executor, spool_dir: Path, jobdir: Path
) -> None:
    marker = jobdir / "ran"
    job_id = _insert_running(spool_dir, make_spec(jobdir, f"touch {marker}"), dead_pid(), None)
    status = wait_done(manager, local_executor, [str(job_id)])[str(job_id)]
    assert status.state == COMPLETE and marker.exists()


def test_a_killed_worker_leaves_a_lost_job(
    manager: ExecutorManager, local_executor: Executor, spool_dir: Path, jobdir: Path
) -> None:
    sub = manager.submit(local_executor, make_spec(jobdir, "sleep 1"))
    spool = open_spool(str(spool_dir))
    deadline = time.monotonic() + 30
    row = spool.get(int(sub.cluster_id))
    while time.monotonic() < deadline and (row is None or row.pid is None):
        time.sleep(0.05)
        row = spool.get(int(sub.cluster_id))
    assert row is not None and row.state == RUNNING and row.pid is not None
    os.kill(row.worker_pid, 9)  # type: ignore[arg-type]
    status = wait_done(manager, local_executor, [sub.cluster_id])[sub.cluster_id]
    assert status.state == FAILED and status.reason == LOST


def test_spool_files_are_private(
    manager: ExecutorManager, local_executor: Executor, spool_dir: Path, jobdir: Path
) -> None:
    sub = manager.submit(local_executor, make_spec(jobdir, "true"))
    wait_done(manager, local_executor, [sub.cluster_id])
    assert stat.S_IMODE(spool_dir.stat().st_mode) == 0o700
    for path in spool_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_spool_dir_option_then_db_then_home(tmp_path: Path) -> None:
    assert spool_dir_of(Executor("local", {"spool_dir": str(tmp_path / "s")})) == str(tmp_path / "s")
    assert spool_dir_of(Executor("local", {"db": str(tmp_path / "jobs.sqlite")})) == str(tmp_path / "jobs.sqlite.local")
    assert spool_dir_of(Executor("local")) == os.path.expanduser("~/.paraschut/local")


def test_queued_rows_keep_the_spec(spool_dir: Path, jobdir: Path) -> None:
    spec = make_spec(jobdir, "true", env={"A": "b c"}, resources={"ncpus": "1"})
    spool = open_spool(str(spool_dir))
    with spool.transaction():
        job_id = spool.add(spec.name, dumps(job_record(spec, {"PATH": "/bin"})), 1, 0)
    row = spool.get(job_id)
    assert row is not None and row.state == QUEUED
    record = json.loads(row.spec)
    assert record["env"] == {"PATH": "/bin", "A": "b c"} and record["script"] == spec.script


def test_prune_forgets_only_old_finished_jobs(spool_dir: Path, jobdir: Path) -> None:
    from paraschut_local.spool import Metrics

    spool = open_spool(str(spool_dir))
    record = dumps(job_record(make_spec(jobdir, "true"), {}))
    with spool.transaction():
        old, recent, queued = (spool.add("j", record, 1, 0) for _ in range(3))
        spool.finish(old, Metrics(0, None, ended=time.time() - 40 * 86400))
        spool.finish(recent, Metrics(0, None))
        assert spool.prune(time.time() - 30 * 86400) == 1
    assert [row.id for row in spool.many([old, recent, queued])] == [recent, queued]


def test_journal_mode_follows_the_file_system(tmp_path: Path) -> None:
    from paraschut_local.spool import journal_mode

    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda / ext4 rw 0 0\nserver:/home /home nfs4 rw 0 0\ntmpfs /home/x/tmp tmpfs rw 0 0\n")
    assert journal_mode("/home/alice/.paraschut", str(mounts)) == "DELETE"
    assert journal_mode("/home/x/tmp/spool", str(mounts)) == "WAL"
    assert journal_mode("/var/spool", str(mounts)) == "WAL"
    assert journal_mode("/anything", str(tmp_path / "no-such-file")) == "WAL"


def test_queries_never_create_a_spool(manager: ExecutorManager, tmp_path: Path) -> None:
    executor = Executor("local", {"spool_dir": str(tmp_path / "none")})
    assert manager.status(executor, ["1"]) == {}
    assert manager.cancel(executor, ["1"]) == []
    assert manager.summary(executor, "1") == {}
    assert not (tmp_path / "none").exists()


def test_the_worker_imports_neither_paraschut_nor_attrs() -> None:
    """Every worker pays its imports before its first job: it keeps to the standard library."""
    probe = (
        "import sys, paraschut_local.worker; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('paraschut', 'attr', 'attrs', 'psutil', "
        "'subprocess', 'socket')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert HOST == socket.gethostname()
