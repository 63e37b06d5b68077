"""paraschut_wait on the local executor: real jobs, the spool read directly, wait_jobs end to end."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import paraschut as psu
from paraschut import waiting as waiting_module
from paraschut.manager import ExecutorManager
from paraschut.models import Executor
from paraschut.testing import make_spec
from paraschut_local.spool import open_spool

from .local_helpers import wait_done


def test_wait_returns_true_once_the_jobs_ended_and_false_while_one_runs(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    quick = [manager.submit(local_executor, make_spec(jobdir, "true", index=i)).cluster_id for i in range(4)]
    assert manager.wait(local_executor, quick, timeout=60) is True
    assert all(not s.on_queue for s in manager.status(local_executor, quick).values())
    long = manager.submit(local_executor, make_spec(jobdir, "sleep 30", index=9)).cluster_id
    assert manager.wait(local_executor, [long, *quick], timeout=0.3) is False
    manager.cancel(local_executor, [long])
    assert manager.wait(local_executor, [long], timeout=60) is True


def test_other_submissions_active_between_the_ids_do_not_hold_the_wait(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    first = manager.submit(local_executor, make_spec(jobdir, "true", index=0)).cluster_id
    other = manager.submit(local_executor, make_spec(jobdir, "sleep 30", index=1)).cluster_id
    last = manager.submit(local_executor, make_spec(jobdir, "true", index=2)).cluster_id
    assert int(first) < int(other) < int(last)
    assert manager.wait(local_executor, [first, last], timeout=60) is True
    assert manager.status(local_executor, [other])[other].on_queue


def test_first_active_reads_the_spool_between_the_lowest_and_highest_id(tmp_path: Path) -> None:
    spool = open_spool(str(tmp_path / "spool"))
    with spool.transaction():
        ids = [spool.add(f"j{i}", "{}", 1, 0) for i in range(5)]
        spool.finish(ids[0], _ok())
        spool.finish(ids[4], _ok())
    assert spool.first_active({ids[0], ids[4]}) is None
    assert spool.first_active({ids[0], ids[2], ids[4]}) == ids[2]
    assert spool.first_active(set()) is None
    assert spool.first_active({10_000}) is None  # unknown ids count as ended


def _ok():
    from paraschut_local.spool import Metrics

    return Metrics(0, None)


def test_an_unknown_spool_has_nothing_to_wait_for(manager: ExecutorManager, tmp_path: Path) -> None:
    executor = Executor("local", {"spool_dir": str(tmp_path / "never-made")})
    assert manager.wait(executor, ["1", "2"], timeout=5) is True
    assert not (tmp_path / "never-made").exists()


def test_wait_jobs_sees_the_end_of_local_jobs_at_once_whatever_the_status_interval(
    index_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a 60 s status_interval: only the executor's word can end the wait before the timeout
    monkeypatch.setenv("PARASCHUT_STATUS_INTERVAL", "60")
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "local")
    psu.session.reset_sessions()
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\nsleep 0.2\n[ \"$PARASCHUT_JOB_INDEX\" != 2 ]\n")
    os.chmod(script, 0o755)
    psu.add_batch_to_queue(1, [{"script": str(script), "priority": 1, "name": f"w{i}"} for i in range(4)])
    assert psu.submit_jobs() == 4
    batches = psu.wait_jobs(Timeout=30)
    assert [j["state"] for j in batches[1]] == ["complete", "complete", "failed", "complete"]
    assert batches[1][2]["exit_code"] == 1


def test_jobs_of_a_dead_worker_end_the_wait_at_the_next_poll(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    sub = manager.submit(local_executor, make_spec(jobdir, "sleep 30"))
    spool = open_spool(local_executor.option("spool_dir"))
    deadline = time.monotonic() + 30
    while (row := spool.get(int(sub.cluster_id))) is None or row.pid is None:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    os.kill(row.worker_pid, 9)
    os.kill(row.pid, 9)
    assert manager.wait(local_executor, [sub.cluster_id], timeout=0.3) is False  # the spool still says running
    status = wait_done(manager, local_executor, [sub.cluster_id])[sub.cluster_id]  # a status call settles it
    assert status.state == "failed" and "lost" in (status.reason or "")
    assert manager.wait(local_executor, [sub.cluster_id], timeout=5) is True


def test_periodic_submitter_submits_the_next_group_as_soon_as_the_last_one_ended(
    index_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # every pause between rounds must end because the executor said its jobs ended (the map
    # group, then the collect job), never by sleeping out the interval
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "local")
    psu.session.reset_sessions()
    pauses: list[str] = []
    real = waiting_module._block
    monkeypatch.setattr(waiting_module, "_block", lambda *a, **k: (answer := real(*a, **k), pauses.append(answer))[0])
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\necho ran $PARASCHUT_JOB_INDEX >> \"$(dirname \"$0\")/order.txt\"\n")
    os.chmod(script, 0o755)
    jobs = [{"script": str(script), "priority": 1, "name": f"map{i}"} for i in range(3)]
    jobs.append({"script": str(script), "priority": 0, "name": "collect"})
    psu.add_batch_to_queue(1, jobs)
    psu.periodic_submitter(Interval=60, MaxIterations=5)
    assert pauses and set(pauses) == {waiting_module.ENDED}
    assert [j["state"] for j in psu.get_queue(Verbose=False)[1]] == ["complete"] * 4
    assert (tmp_path / "order.txt").read_text().split()[-2:] == ["ran", "3"]  # collect came last
    out = capsys.readouterr().out
    assert "submitted 3 job(s)" in out and "submitted 1 job(s)" in out
